"""Tests of widescale.tools.model_zoo: docs/model_zoo.md is what the code gives, and the shipped model files
have the published sizes of SPEC.md sections 1 and 2.

The module fixture `zoo` builds every model of the page once, through the path of `widescale --mode=summary`
(about 3.5 minutes on 2 CPU cores, peak ~3.3 GB): it is the suite's only build of the full-size model files,
and every test below reads its measurements.
"""

import gc
import glob
import json
import os

import pytest
import tf_keras

from tests import cli_runner
from widescale.models import summary
from widescale.models.backbones import swidernet
from widescale.tools import model_zoo

PAGE = os.path.join(cli_runner.REPO_ROOT, 'docs', 'model_zoo.md')
GIN_DIR = os.path.join(cli_runner.REPO_ROOT, 'gin_configs')
CITYSCAPES = ((513, 513), (1025, 2049))

# SPEC.md section 1, full Panoptic-DeepLab at 19 classes, output stride 16: (backbone trainable params,
# model trainable params, GFLOPs at CITYSCAPES). Ints are exact counts, floats millions to the published
# precision.
PANOPTIC_DEEPLAB = {
    'models/wide_resnet41.gin': (109_014_080, 140.48, (703.7, 5475)),
    'models/swidernet_sac_1_1_1.gin': (112.95, 144.42, (738.5, 5721)),
    'models/swidernet_sac_1_1_3.gin': (345.06, 376.53, (1879, 14538)),
    'models/swidernet_sac_1_1_4.5.gin': (504.52, 535.99, (2680, 20729)),
    'models/swidernet_sac_0.25_0.25_0.75.gin': (4.65, 13.26, (57.1, 438.6)),
}
SAC_PARAMS_AT_1_1_1 = 3_938_307  # SPEC: SAC adds exactly this to Wide-ResNet-41's backbone.
# SPEC.md section 1, ResNet-RS at 1000 classes: (all parameters incl. BN moving statistics, in millions;
# {(height, width): GFLOPs}).
RESNET_RS = {
    'models/resnet_rs_50.gin': (35.75, {(160, 160): 4.57}),
    'models/resnet_rs_101.gin': (63.72, {(160, 160): 8.38, (192, 192): 12.05}),
    'models/resnet_rs_152.gin': (86.77, {(192, 192): 17.52, (224, 224): 23.83, (256, 256): 31.11}),
    'models/resnet_rs_200.gin': (93.39, {(256, 256): 40.27}),
    'models/resnet_rs_270.gin': (130.10, {(256, 256): 54.00}),
    'models/resnet_rs_350.gin': (164.27, {(256, 256): 68.88, (320, 320): 107.57}),
    'models/resnet_rs_420.gin': (192.26, {(320, 320): 128.13}),
}
# SPEC.md section 1, Wide-ResNet-38: backbone 105.07M, 109.17M with the 1000-way FC (trainable).
WIDE_RESNET38 = ('models/wide_resnet38_a.gin', 'models/wide_resnet38_a1.gin')

_PANOPTIC_FLOPS = [(f, size, gflops) for f, (_, _, published) in sorted(PANOPTIC_DEEPLAB.items())
                   for size, gflops in zip(CITYSCAPES, published)]
_RESNET_RS_FLOPS = [(f, size, gflops) for f, (_, published) in sorted(RESNET_RS.items())
                    for size, gflops in published.items()]


@pytest.fixture(scope='module')
def zoo():
  """model_zoo.measure_all(): {model file: {'summary', 'flops', 'backbone_trainable_params'}}."""
  return model_zoo.measure_all()


def _millions(count):
  return round(count / 1e6, 2)


def _matches(count, published):
  """An int is an exact count; a float is millions to two decimals."""
  return count == published if isinstance(published, int) else _millions(count) == published


def _assert_gflops_within_1_percent(flops, gflops):
  assert abs(flops / 1e9 - gflops) <= 0.01 * gflops, f'{flops / 1e9:.2f} GFLOPs, published {gflops}'


# ---- The page ----

def test_page_on_disk_is_what_the_code_generates(zoo):
  with open(PAGE, encoding='utf-8') as f:
    on_disk = f.read()
  message = model_zoo.difference(on_disk, model_zoo.render(zoo), 'docs/model_zoo.md')
  assert message is None, message


def test_every_shipped_model_file_is_on_the_page():
  shipped = {os.path.relpath(p, GIN_DIR) for p in glob.glob(os.path.join(GIN_DIR, 'models', '*.gin'))}
  listed = [entry.model_file for _, entry in model_zoo.entries()]
  assert len(listed) == len(set(listed))
  assert set(listed) == shipped, ('add the missing model files to model_zoo.FAMILIES and regenerate the '
                                  'page with `python -m widescale.tools.model_zoo`')


def test_every_published_result_names_a_row_and_a_source():
  rows = {(entry.model_file, size) for _, entry in model_zoo.entries() for size in entry.sizes}
  for key, result in model_zoo.PUBLISHED.items():
    assert key in rows, key
    assert result.source in model_zoo.SOURCES and result.text


def test_check_mode_names_the_differing_line(zoo, tmp_path, capsys):
  page = tmp_path / 'model_zoo.md'
  assert model_zoo.main(['model_zoo', f'--output={page}'], measurements=zoo) == 0
  assert page.read_text(encoding='utf-8') == model_zoo.render(zoo)
  assert model_zoo.main(['model_zoo', '--check', f'--output={page}'], measurements=zoo) == 0
  assert 'up to date' in capsys.readouterr().out

  lines = page.read_text(encoding='utf-8').splitlines(keepends=True)
  index = next(i for i, line in enumerate(lines) if line.startswith('| Wide-ResNet-41 |'))
  edited = lines[index].replace('140,479,750', '140,479,751')
  page.write_text(''.join(lines[:index] + [edited] + lines[index + 1:]), encoding='utf-8')
  assert model_zoo.main(['model_zoo', '--check', f'--output={page}'], measurements=zoo) == 1
  error = capsys.readouterr().err
  assert f'first at line {index + 1}:' in error
  assert repr(edited.rstrip('\n')) in error and repr(lines[index].rstrip('\n')) in error
  assert 'python -m widescale.tools.model_zoo' in error
  assert page.read_text(encoding='utf-8').splitlines(keepends=True)[index] == edited  # --check writes nothing


def test_check_mode_without_a_page_is_a_usage_error(tmp_path, capsys):
  code = model_zoo.main(['model_zoo', '--check', f'--output={tmp_path}/missing.md'], measurements={})
  assert code == 2
  assert 'missing.md does not exist' in capsys.readouterr().err


def test_summary_command_prints_the_zoo_row(zoo, capsys):
  # The page's numbers are those of `widescale --mode=summary` (the whole JSON object), shown on the
  # smallest model.
  model_file, data_file, size = 'models/swidernet_0.25_0.25_0.5_narrow.gin', 'data/shapes.gin', (128, 128)
  assert any(e.model_file == model_file and f.data_file == data_file and e.sizes[0] == size
             for f, e in model_zoo.entries())
  capsys.readouterr()
  code = cli_runner.run_in_process(['--mode=summary', f'--gin_file={model_file}', f'--gin_file={data_file}',
                                    f'--gin_bindings=Experiment.summary_input_size = {size}'])
  assert code == 0
  printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert printed == zoo[model_file]['summary']
  tf_keras.backend.clear_session()


# ---- The shipped model files have the published sizes ----

@pytest.mark.parametrize('model_file', sorted(PANOPTIC_DEEPLAB))
def test_panoptic_deeplab_params_match_spec(zoo, model_file):
  backbone_params, model_params, _ = PANOPTIC_DEEPLAB[model_file]
  measured = zoo[model_file]
  assert _matches(measured['backbone_trainable_params'], backbone_params)
  assert _matches(measured['summary']['trainable_params'], model_params)
  assert measured['summary']['num_classes'] == 19
  assert measured['summary']['output_shapes'] == {'center_heatmap': [1, 513, 513],
                                                  'center_offsets': [1, 513, 513, 2],
                                                  'semantic_logits': [1, 513, 513, 19]}
  assert measured['summary']['total_params'] > measured['summary']['trainable_params']  # + BN statistics


@pytest.mark.parametrize('model_file, size, gflops', _PANOPTIC_FLOPS)
def test_panoptic_deeplab_gflops_match_spec(zoo, model_file, size, gflops):
  _assert_gflops_within_1_percent(zoo[model_file]['flops'][size], gflops)


def test_sac_adds_exactly_its_published_parameters_at_1_1_1(zoo):
  plain = zoo['models/wide_resnet41.gin']['backbone_trainable_params']
  sac = zoo['models/swidernet_sac_1_1_1.gin']['backbone_trainable_params']
  assert sac - plain == SAC_PARAMS_AT_1_1_1


@pytest.mark.parametrize('depth_multiplier, params', [(3, 333_245_504), (4.5, 487_453_760)])
def test_deeper_wide_resnet_backbones_without_se_or_sac(depth_multiplier, params):
  # Not shipped as model files (every deeper shipped model has SAC), so built here: the backbone only,
  # traced on a tiny input with zero kernels (~9 s for both; values do not change the count).
  backbone = swidernet.SWideRNet(depth_multiplier=depth_multiplier, conv_kernel_initializer='zeros')
  summary.count_flops(backbone, [1, 33, 33, 3])
  assert summary.count_trainable_params(backbone) == params
  del backbone
  tf_keras.backend.clear_session()
  gc.collect()


@pytest.mark.parametrize('model_file', sorted(RESNET_RS))
def test_resnet_rs_params_with_bn_statistics_match_spec(zoo, model_file):
  measured = zoo[model_file]['summary']
  assert _millions(measured['total_params']) == RESNET_RS[model_file][0]
  assert measured['total_params'] > measured['trainable_params']
  assert measured['output_shapes'] == {'logits': [1, 1000]}


@pytest.mark.parametrize('model_file, size, gflops', _RESNET_RS_FLOPS)
def test_resnet_rs_gflops_match_spec(zoo, model_file, size, gflops):
  _assert_gflops_within_1_percent(zoo[model_file]['flops'][size], gflops)


@pytest.mark.parametrize('model_file', WIDE_RESNET38)
def test_wide_resnet38_params_match_spec(zoo, model_file):
  measured = zoo[model_file]
  assert _millions(measured['backbone_trainable_params']) == 105.07
  assert _millions(measured['summary']['trainable_params']) == 109.17
  assert measured['summary']['output_shapes'] == {'logits': [1, 1000]}
