"""Every named variant of every backbone family: builds, endpoints, config and checkpoint round trips, and
checkpoint variable names against committed golden data.

The matrix covers every entry of `swidernet.VARIANTS` (Wide-ResNet-41 and the SWideRNets), of
`resnet_rs.VARIANTS` (ResNet-RS 50 ... 420) and of `wide_resnet38.VARIANTS` (Model A and A1); a variant
added to a table is picked up here and fails the golden check until the golden file is regenerated.

Reduced width: each variant keeps its own depth and layout (blocks per stage, strides, SE, SAC, shortcut
projections, dropout) but every channel count is 16 times smaller:
  - SWideRNet: stem_width_multiplier = width_multiplier = 1/16 (whatever the variant's w1, w2);
  - Wide-ResNet-38: width_multiplier = 1/16;
  - ResNet-RS has no width argument, so `_NarrowResNetRS` (a test-only subclass) divides the widths of
    `ResNetRS.block_plan` by 16; the stem keeps its 64 channels.
No full-size model (up to 505M parameters) is built here: full-size parameter counts are checked in
test_model_sizes.py, test_resnet_rs.py and test_wide_resnet38.py. Building is what costs: each variant is
built twice (the model and its from_config clone), ~110 s for the file on two idle cores, a third of it
for ResNet-RS-350 and -420 (2,244 and 2,681 variables even when narrow).
Checkpoint keys are independent of width; their shapes are not, so the golden data hashes the names alone
and the (name, shape) pairs at this reduced width.

Output strides: SWideRNet at 16 (its default and every shipped Panoptic-DeepLab file), ResNet-RS at 32
(the classifier), Wide-ResNet-38 at 8 (the segmentation setting: dilated B5-B7).

Golden data, `golden/variable_names.json`: per variant, the number of checkpoint variables, the sha256 of
their sorted names and the sha256 of their sorted (name, shape) pairs. Names are the keys of
`tf.train.Checkpoint(backbone=model)` relative to the backbone (in a training checkpoint they sit under
`model/backbone/`), e.g. 'stages/4/1/branch/1/conv/switch/kernel'. When a change of names is intended
(it breaks every saved checkpoint), regenerate the file and commit it with the change:

    python tests/models/test_every_variant.py
"""

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
from typing import Callable, Dict, List, Tuple

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from widescale.models.backbones import resnet_rs
from widescale.models.backbones import swidernet
from widescale.models.backbones import wide_resnet38

GOLDEN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'golden', 'variable_names.json')
REGENERATE_COMMAND = 'python tests/models/test_every_variant.py'
NARROW = 16  # every channel count divided by this
IMAGE_SIZE = 32
_CHECKPOINT_SUFFIX = '/.ATTRIBUTES/VARIABLE_VALUE'


class _NarrowResNetRS(resnet_rs.ResNetRS):
  """ResNet-RS with the bottleneck widths f = 64 ... 512 divided by NARROW (test only: no width argument)."""

  def block_plan(self):
    return tuple(tuple(dict(block, filters=block['filters'] // NARROW) for block in stage)
                 for stage in super().block_plan())


@dataclasses.dataclass(frozen=True)
class Case:
  """One variant at reduced width: how to build it and what its endpoints must look like."""
  family: str
  variant: str
  model_name: str  # sets the Keras weight names ('<model_name>/res2_block1/...')
  output_stride: int
  build: Callable[[], tf_keras.Model]
  endpoint_strides: Dict[str, int]  # in the network without dilation
  endpoint_channels: Dict[str, int]  # at reduced width
  units_per_stage: Tuple[int, ...]

  @property
  def id(self) -> str:
    return f'{self.family}/{self.variant}'


def _swidernet_case(name: str) -> Case:
  variant = swidernet.VARIANTS[name]
  depth = variant.depth_multiplier
  # SPEC: [3] + [int(x * l) for x in (3, 6, 3, 3)]; widths round(base / 16) * expansion.
  return Case(
      'swidernet', name, name.replace('.', '_'), 16,
      lambda: swidernet.SWideRNet.from_variant(name, stem_width_multiplier=1 / NARROW,
                                               width_multiplier=1 / NARROW, output_stride=16),
      {'stem': 2, 'res1': 2, 'res2': 4, 'res3': 8, 'res4': 16, 'res5': 32},
      {'stem': 4, 'res1': 8, 'res2': 16, 'res3': 32, 'res4': 64, 'res5': 128},
      (3,) + tuple(int(n * depth) for n in (3, 6, 3, 3)))


def _resnet_rs_case(name: str) -> Case:
  variant = resnet_rs.VARIANTS[name]
  return Case(
      'resnet_rs', name, name, 32,
      lambda: _NarrowResNetRS.from_variant(name, output_stride=32),  # published stochastic depth, name
      {'stem': 4, 'res2': 4, 'res3': 8, 'res4': 16, 'res5': 32},
      {'stem': 64, 'res2': 16, 'res3': 32, 'res4': 64, 'res5': 128},  # 4 * f / 16
      variant.block_counts)


_WR38_STRIDES = {'b1': 1, 'b2': 2, 'b3': 4, 'b4': 8, 'b5': 16, 'b6': 32, 'b7': 32, 'final': 32,
                 'res2': 4, 'res3': 8, 'res4': 16, 'res5': 32}
_WR38_CHANNELS = {'b1': 64, 'b2': 128, 'b3': 256, 'b4': 512, 'b5': 1024, 'b6': 2048, 'b7': 4096, 'final': 4096,
                  'res2': 256, 'res3': 512, 'res4': 1024, 'res5': 4096}


def _wide_resnet38_case(name: str) -> Case:
  return Case(
      'wide_resnet38', name, f'wide_resnet38_{name}', 8,
      lambda: wide_resnet38.WideResNet38.from_variant(name, output_stride=8, width_multiplier=1 / NARROW,
                                                      name=f'wide_resnet38_{name}'),
      _WR38_STRIDES, {key: channels // NARROW for key, channels in _WR38_CHANNELS.items()},
      (0, 3, 3, 6, 3, 1, 1))


CASES = ([_swidernet_case(name) for name in sorted(swidernet.VARIANTS)] +
         [_resnet_rs_case(name) for name in sorted(resnet_rs.VARIANTS, key=lambda n: int(n.split('_')[-1]))] +
         [_wide_resnet38_case(name) for name in sorted(wide_resnet38.VARIANTS)])
CASES_BY_ID = {case.id: case for case in CASES}


def _units_per_stage(model) -> Tuple[int, ...]:
  if isinstance(model, wide_resnet38.WideResNet38):
    return tuple(len(getattr(model, f'b{index}')) for index in range(1, 8))
  return tuple(len(stage) for stage in model.stages)


def checkpoint_variables(path: str) -> Dict[str, List[int]]:
  """{key relative to the backbone: shape} of every variable in a `tf.train.Checkpoint(backbone=...)`."""
  return {name[len('backbone/'):-len(_CHECKPOINT_SUFFIX)]: shape
          for name, shape in tf.train.list_variables(path) if name.endswith(_CHECKPOINT_SUFFIX)}


def golden_record(variables: Dict[str, List[int]]) -> Dict:
  """What the golden file stores for one variant."""
  names = sorted(variables)
  pairs = [[name, list(variables[name])] for name in names]
  return {
      'num_variables': len(names),
      'names_sha256': hashlib.sha256(json.dumps(names).encode()).hexdigest(),
      'names_and_shapes_sha256': hashlib.sha256(json.dumps(pairs).encode()).hexdigest(),
  }


def _load_golden() -> Dict:
  with open(GOLDEN_PATH) as f:
    return json.load(f)


def _images():
  return tf.random.stateless_uniform([2, IMAGE_SIZE, IMAGE_SIZE, 3], seed=[1, 2], minval=-1.0, maxval=1.0)


@dataclasses.dataclass
class Built:
  """One variant built at reduced width, saved, and restored into a fresh model made by from_config.

  Building dominates the run time, so each variant is built only twice, as `model` and as `clone`, and
  the tests below read what the fixture recorded.
  """
  case: Case
  model: tf_keras.Model
  endpoints: Dict[str, tf.Tensor]  # model(images): the expected outputs
  clone: tf_keras.Model  # type(model).from_config(model.get_config())
  clone_initial_endpoints: Dict[str, tf.Tensor]  # clone(images) with its own random initial values
  checkpoint_path: str  # tf.train.Checkpoint(backbone=model).write(...)
  restore_status: object  # tf.train.Checkpoint(backbone=clone).read(checkpoint_path)
  restored_endpoints: Dict[str, tf.Tensor]  # clone(images) after the restore


@pytest.fixture(scope='module', params=CASES, ids=[case.id for case in CASES])
def built(request, tmp_path_factory):
  """Builds, saves and restores each variant once for all the tests below (pytest groups them by
  variant)."""
  case = request.param
  images = _images()
  model = case.build()
  endpoints = model(images, training=False)
  path = tf.train.Checkpoint(backbone=model).write(
      str(tmp_path_factory.mktemp(case.id.replace('/', '_')) / 'ckpt'))
  clone = type(model).from_config(model.get_config())
  clone_initial_endpoints = clone(images, training=False)
  # Overwrite every variable of the fresh model (zero gammas, SAC switches and BN statistics start equal
  # in both models) so that any variable the restore misses keeps a value the saved model does not have.
  rng = np.random.default_rng(0)
  clone.set_weights([rng.uniform(-1.0, 1.0, weight.shape).astype(weight.dtype)
                     for weight in clone.get_weights()])
  status = tf.train.Checkpoint(backbone=clone).read(path)
  restored_endpoints = clone(images, training=False)
  yield Built(case, model, endpoints, clone, clone_initial_endpoints, path, status, restored_endpoints)
  tf_keras.backend.clear_session()


def test_builds_with_the_variant_layout(built):
  assert _units_per_stage(built.model) == tuple(built.case.units_per_stage)
  assert built.model.output_stride == built.case.output_stride
  assert built.model.name == built.case.model_name
  # Unique Keras weight names: duplicates would break h5 weights and name-based variable selection.
  names = [v.name for v in built.model.weights]
  assert len(set(names)) == len(names)


def test_endpoint_names_and_shapes(built):
  case = built.case
  assert list(built.endpoints) == list(case.endpoint_strides)
  for name, tensor in built.endpoints.items():
    size = IMAGE_SIZE // min(case.endpoint_strides[name], case.output_stride)
    assert tensor.shape == (2, size, size, case.endpoint_channels[name]), name
    assert np.isfinite(tensor.numpy()).all(), name


def test_config_round_trip(built):
  config = built.model.get_config()
  assert built.clone.get_config() == config
  assert json.loads(json.dumps(config)) == config  # plain JSON values only
  assert [(v.name, tuple(v.shape)) for v in built.clone.weights] == [
      (v.name, tuple(v.shape)) for v in built.model.weights]
  assert len(built.clone.trainable_weights) == len(built.model.trainable_weights)


def test_checkpoint_restores_identical_outputs(built):
  last = list(built.endpoints)[-1]
  # The fresh model computed something else before the restore (else the comparison below proves nothing).
  assert not np.allclose(built.clone_initial_endpoints[last].numpy(), built.endpoints[last].numpy())
  built.restore_status.assert_consumed()
  for original, restored in zip(built.model.weights, built.clone.weights):
    np.testing.assert_array_equal(restored.numpy(), original.numpy(), err_msg=original.name)
  assert list(built.restored_endpoints) == list(built.endpoints)
  for name, tensor in built.endpoints.items():
    np.testing.assert_array_equal(built.restored_endpoints[name].numpy(), tensor.numpy(), err_msg=name)


def test_checkpoint_variable_names_match_golden(built):
  variables = checkpoint_variables(built.checkpoint_path)
  golden = _load_golden()
  assert built.case.id in golden, f'{built.case.id} has no golden record; run {REGENERATE_COMMAND}'
  record = golden_record(variables)
  expected = golden[built.case.id]
  hint = (f'checkpoint variables of {built.case.id} changed (this breaks saved checkpoints); if intended, '
          f'run {REGENERATE_COMMAND}. First names: {sorted(variables)[:3]}')
  assert record['num_variables'] == expected['num_variables'], hint
  assert record['names_sha256'] == expected['names_sha256'], hint
  assert record['names_and_shapes_sha256'] == expected['names_and_shapes_sha256'], hint
  # One checkpoint key per Keras weight.
  assert len(variables) == len(built.model.weights)
  for name, shape in _LITERAL_NAMES.get(built.case.id, {}).items():
    assert variables.get(name) == shape, (name, variables.get(name))
  if built.case.family == 'swidernet':
    # SAC keeps the plain convolution's keys, so Wide-ResNet-41 weights can be restored into SWideRNet-SAC.
    assert not any('sac' in name.split('/') for name in variables)


# A few keys spelled out (relative to the backbone, at reduced width), so a reader sees what the hashed
# names look like; checked in test_checkpoint_variable_names_match_golden.
_LITERAL_NAMES = {
    'swidernet/wide_resnet41': {
        'stem/conv/kernel': [3, 3, 3, 4],
        'stages/0/0/branch/0/conv/kernel': [3, 3, 4, 8],
        'stages/1/0/shortcut/conv/kernel': [1, 1, 8, 16],
        'stages/2/5/branch/1/bn/gamma': [32],
        'stages/4/2/branch/2/bn/moving_variance': [128],
    },
    'swidernet/swidernet_1_1_4.5': {  # SE in res2-res5, SAC in res5: blocks 3, 13, 27, 13, 13
        'stages/1/0/squeeze_excite/conv/kernel': [1, 1, 16, 16],
        'stages/2/26/branch/1/conv/kernel': [3, 3, 32, 32],
        'stages/4/12/branch/1/conv/kernel': [3, 3, 32, 64],  # SAC's shared kernel
        'stages/4/12/branch/1/conv/switch/kernel': [1, 1, 32, 1],
        'stages/4/12/branch/1/conv/pre_context/conv/bias': [32],
        'stages/4/12/squeeze_excite/conv/bias': [128],
    },
    'resnet_rs/resnet_rs_50': {
        'stem/0/conv/kernel': [3, 3, 3, 32],
        'stem/3/bn/moving_mean': [64],
        'res2/0/squeeze_excite/reduce/kernel': [1, 1, 16, 4],
        'res3/0/shortcut/conv/kernel': [1, 1, 16, 32],
        'res5/2/conv3/bn/gamma': [128],
    },
    'wide_resnet38/a1': {
        'conv1a/kernel': [3, 3, 3, 4],
        'b2/0/shortcut/kernel': [1, 1, 4, 8],
        'b4/5/conv2/kernel': [3, 3, 32, 32],
        'b7/0/bn3/moving_variance': [128],
        'final_bn/gamma': [256],
    },
}


def test_golden_file_covers_exactly_the_variants():
  assert sorted(_load_golden()) == sorted(CASES_BY_ID), f'variants changed; run {REGENERATE_COMMAND}'
  assert {case.variant for case in CASES if case.family == 'resnet_rs'} == {
      f'resnet_rs_{depth}' for depth in (50, 101, 152, 200, 270, 350, 420)}
  assert {case.variant for case in CASES if case.family == 'wide_resnet38'} == {'a', 'a1'}
  assert 'wide_resnet41' in swidernet.VARIANTS


def regenerate_golden() -> None:
  """Rebuilds every variant at reduced width and rewrites golden/variable_names.json."""
  golden = {}
  with tempfile.TemporaryDirectory() as directory:
    for case in CASES:
      model = case.build()
      model(_images(), training=False)
      path = tf.train.Checkpoint(backbone=model).write(os.path.join(directory, case.id.replace('/', '_')))
      variables = checkpoint_variables(path)
      golden[case.id] = golden_record(variables)
      print(f'{case.id}: {golden[case.id]["num_variables"]} variables', flush=True)
      tf_keras.backend.clear_session()
  os.makedirs(os.path.dirname(GOLDEN_PATH), exist_ok=True)
  with open(GOLDEN_PATH, 'w') as f:
    json.dump(golden, f, indent=2, sort_keys=True)
    f.write('\n')
  print(f'wrote {GOLDEN_PATH}')


if __name__ == '__main__':
  if len(sys.argv) > 1:
    sys.exit(f'usage: {REGENERATE_COMMAND}  (rewrites {GOLDEN_PATH})')
  regenerate_golden()
