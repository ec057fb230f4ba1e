"""The model zoo page, docs/model_zoo.md, generated from the shipped gin files.

Every number on the page except the published results comes from the code: each model is built exactly as
`widescale --mode=summary` builds it (`widescale.main.parse_gin` on its model and data gin files, the
gin-configured Experiment, `experiment.model_fn(num_classes=experiment.task.num_classes)`) and measured by
the same `widescale.models.summary.summarize`; further resolutions of the same model are traced with
`summary.count_flops` on the model already built. Published results cannot come from code: they are the
one typed-in table here (PUBLISHED), each with its source.

  python -m widescale.tools.model_zoo            # (re)writes docs/model_zoo.md
  python -m widescale.tools.model_zoo --check    # exit 1, naming the first differing line, if the page
                                                 # on disk is not what the code gives

Cost: about 2 minutes on 2 CPU cores, peak 3.3 GB of RAM: the models are built one at a time and released,
with zero backbone kernels (`_ZERO_BACKBONE_KERNELS`: the one binding beyond the summary path, which
changes no count); tracing the largest (SWideRNet-(1, 1, 4) and (1, 1, 4.5), ResNet-RS-350 and 420) is
most of it.
"""

import dataclasses
import difflib
import gc
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from absl import flags

from widescale import main as cli  # absl only at import time; TensorFlow is imported when needed

REPO_ROOT = os.path.dirname(cli.GIN_CONFIGS_DIR)
DEFAULT_OUTPUT = os.path.join(REPO_ROOT, 'docs', 'model_zoo.md')
COMMAND = 'python -m widescale.tools.model_zoo'

# Flags of their own, not absl's global FLAGS (which hold the `widescale` command's flags), as in
# scaling_grid.py: `main(argv)` depends on argv alone.
FLAGS = flags.FlagValues()
flags.DEFINE_string('output', DEFAULT_OUTPUT, 'Path of the page to write (or, with --check, to compare).',
                    flag_values=FLAGS)
flags.DEFINE_bool('check', False, 'Write nothing; exit 1 with a diff if the page at --output differs from '
                  'what the code generates.', flag_values=FLAGS)
flags.DEFINE_bool('help', False, 'Show this help.', short_name='h', flag_values=FLAGS)

Size = Tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Entry:
  """One shipped model file, measured at every resolution its published numbers use."""
  name: str
  model_file: str
  sizes: Tuple[Size, ...]


@dataclasses.dataclass(frozen=True)
class Family:
  """One table of the page: models sharing a data file (hence a class count) and a layout."""
  title: str
  data_file: str
  notes: str
  entries: Tuple[Entry, ...]
  show_total_params: bool = False
  show_backbone_params: bool = True


@dataclasses.dataclass(frozen=True)
class Result:
  """A published result of one model at one input resolution, and where it is published."""
  text: str
  source: str  # a key of SOURCES


_CITYSCAPES = ((513, 513), (1025, 2049))

FAMILIES = (
    Family(
        title='Panoptic-DeepLab (Cityscapes): Wide-ResNet-41, SWideRNet and ResNet-RS-50 backbones',
        data_file='data/cityscapes_panoptic.gin',
        notes=(
            'The full Panoptic-DeepLab (backbone, semantic and instance decoders, three heads) at output '
            "stride 16 with deeplab2's decoders, 19 Cityscapes classes. *SWideRNet-SAC* is deeplab2's "
            'build: switchable atrous convolution in res5, no squeeze-and-excite; *(paper: SE + SAC)* is '
            'the layout of the SWideRNet paper (Chen et al., arXiv 2011.11675, Sec. 3): squeeze-and-excite '
            'in res2-res5 and SAC in res5. The ResNet-RS-50 backbone (output stride 16) is our pairing. '
            'Published results are on Cityscapes val with single-scale '
            '1025x2049 inference, trained on train-fine from ImageNet-1K checkpoints: PQ and mIoU by the '
            "official Cityscapes script, AP<sup>mask</sup> by deeplab2's own pipeline."),
        entries=(
            Entry('Wide-ResNet-41', 'models/wide_resnet41.gin', _CITYSCAPES),
            Entry('SWideRNet-SAC-(1, 1, 1)', 'models/swidernet_sac_1_1_1.gin', _CITYSCAPES),
            Entry('SWideRNet-SAC-(1, 1, 3)', 'models/swidernet_sac_1_1_3.gin', _CITYSCAPES),
            Entry('SWideRNet-SAC-(1, 1, 4)', 'models/swidernet_sac_1_1_4.gin', _CITYSCAPES),
            Entry('SWideRNet-SAC-(1, 1, 4.5)', 'models/swidernet_sac_1_1_4.5.gin', _CITYSCAPES),
            Entry('SWideRNet-SAC-(0.25, 0.25, 0.75)', 'models/swidernet_sac_0.25_0.25_0.75.gin', _CITYSCAPES),
            Entry('SWideRNet-(1, 1, 4) (paper: SE + SAC)', 'models/swidernet_1_1_4.gin', _CITYSCAPES),
            Entry('SWideRNet-(0.25, 0.25, 0.75) (paper: SE + SAC)', 'models/swidernet_0.25_0.25_0.75.gin',
                  _CITYSCAPES),
            Entry('ResNet-RS-50 (our pairing)', 'models/resnet_rs_50_panoptic.gin', _CITYSCAPES),
        )),
    Family(
        title='Semantic segmentation (Cityscapes classes)',
        data_file='data/cityscapes_panoptic.gin',
        notes=(
            'Semantic-only models at the 19 Cityscapes classes, measured at 513x513 (a crop size, not '
            'their training or evaluation size: GFLOPs grow with the pixel count). Wide-ResNet-38 with '
            'the "1 conv" and "2 conv" classifiers of Wu et al. (arXiv 1611.10080, Sec. 5): Model A1 '
            'backbone at output stride 8. DeepLabv3 on SWideRNet-SAC-(1, 1, 1) is our pairing. The '
            'published result is that of the 21-class PASCAL VOC 2012 model (single scale, VOC test).'),
        entries=(
            Entry('Wide-ResNet-38, "1 conv" classifier', 'models/wide_resnet38_a_seg_1conv.gin',
                  ((513, 513),)),
            Entry('Wide-ResNet-38, "2 conv" classifier', 'models/wide_resnet38_a_seg_2conv.gin',
                  ((513, 513),)),
            Entry('DeepLabv3, SWideRNet-SAC-(1, 1, 1) (our pairing)',
                  'models/swidernet_sac_1_1_1_deeplabv3.gin', ((513, 513),)),
        )),
    Family(
        title='The demo model (embedded shapes dataset)',
        data_file='data/shapes.gin',
        notes=(
            'SWideRNet-(0.25, 0.25, 0.5) Panoptic-DeepLab with narrow decoders, no SE or SAC, at the 6 '
            'classes and 128x128 images of the embedded `shapes` dataset: the model `make demo` trains. '
            'Its result is our own measurement, not a published one.'),
        entries=(
            Entry('SWideRNet-(0.25, 0.25, 0.5), narrow decoders', 'models/swidernet_0.25_0.25_0.5_narrow.gin',
                  ((128, 128),)),
        )),
    Family(
        title='ResNet-RS (ImageNet)',
        data_file='data/imagenet.gin',
        notes=(
            'ImageNet classifiers (1000 classes) of Bello et al., "Revisiting ResNets: Improved Training and '
            'Scaling Strategies" (arXiv 2103.07579), at each resolution the authors released. **The '
            'ResNet-RS paper counts every variable, BN moving means and variances included: compare its '
            'parameter counts with the *total params* column.** Top-1 is ImageNet validation accuracy '
            'of the released checkpoints.'),
        entries=(
            Entry('ResNet-RS-50', 'models/resnet_rs_50.gin', ((160, 160),)),
            Entry('ResNet-RS-101', 'models/resnet_rs_101.gin', ((160, 160), (192, 192))),
            Entry('ResNet-RS-152', 'models/resnet_rs_152.gin', ((192, 192), (224, 224), (256, 256))),
            Entry('ResNet-RS-200', 'models/resnet_rs_200.gin', ((256, 256),)),
            Entry('ResNet-RS-270', 'models/resnet_rs_270.gin', ((256, 256),)),
            Entry('ResNet-RS-350', 'models/resnet_rs_350.gin', ((256, 256), (320, 320))),
            Entry('ResNet-RS-420', 'models/resnet_rs_420.gin', ((320, 320),)),
        ),
        show_total_params=True,
        show_backbone_params=False),
    Family(
        title='Wide-ResNet-38 (ImageNet)',
        data_file='data/imagenet.gin',
        notes=(
            'Model A and Model A1 ImageNet classifiers (1000 classes) of Wu, Shen and van den Hengel, '
            '"Wider or Deeper: Revisiting the ResNet Model for Visual Recognition" (Pattern Recognition '
            '2019, arXiv 1611.10080), at 224x224 (no B1 units, as the paper trains at 224). Published '
            'results are top-1 / top-5 error on the ILSVRC 2012 validation set; the release evaluates '
            'them with `--test-scales 320`, so they may be at 320 px rather than at the 224 of the GFLOPs.'),
        entries=(
            Entry('Wide-ResNet-38 Model A', 'models/wide_resnet38_a.gin', ((224, 224),)),
            Entry('Wide-ResNet-38 Model A1', 'models/wide_resnet38_a1.gin', ((224, 224),)),
        )),
)

SOURCES = {
    'deeplab2': ('deeplab2 model zoo',
                 'https://github.com/google-research/deeplab2/blob/main/g3doc/projects/panoptic_deeplab.md'),
    'resnet_rs': ('ResNet-RS release',
                  'https://github.com/tensorflow/tpu/tree/master/models/official/resnet/resnet_rs'),
    'ademxapp': ('authors\' release (ademxapp)', 'https://github.com/itijyou/ademxapp'),
    'demo': ('README.md (`make demo`)', '../README.md'),
}

# (model file, (height, width)) -> what is published for the model at that input resolution.
# deeplab2: g3doc/projects/panoptic_deeplab.md at google-research/deeplab2@64bc1c1 (Cityscapes table,
#   columns PQ [*], mIoU [*] and AP^Mask [**]). ResNet-RS: models/official/resnet/resnet_rs/README.md of
#   tensorflow/tpu (the same top-1 as SPEC.md). Wide-ResNet-38: itijyou/ademxapp README.md (the paper
#   rounds Model A to 19.2% / 4.7%; VOC: "Model A1, 2 conv." 82.5).
PUBLISHED = {
    ('models/wide_resnet41.gin', (1025, 2049)): Result('PQ 64.4, mIoU 81.5, AP 36.07', 'deeplab2'),
    ('models/swidernet_sac_1_1_1.gin', (1025, 2049)): Result('PQ 64.3, mIoU 81.8, AP 36.80', 'deeplab2'),
    ('models/swidernet_sac_1_1_3.gin', (1025, 2049)): Result('PQ 66.6, mIoU 82.1, AP 38.59', 'deeplab2'),
    ('models/swidernet_sac_1_1_4.5.gin', (1025, 2049)): Result('PQ 66.8, mIoU 82.2, AP 39.51', 'deeplab2'),
    ('models/wide_resnet38_a_seg_2conv.gin', (513, 513)): Result('VOC 2012 test mIoU 82.5', 'ademxapp'),
    ('models/swidernet_0.25_0.25_0.5_narrow.gin', (128, 128)): Result(
        'shapes val PQ 78.89, mIoU 82.36', 'demo'),
    ('models/resnet_rs_50.gin', (160, 160)): Result('top-1 78.8%', 'resnet_rs'),
    ('models/resnet_rs_101.gin', (160, 160)): Result('top-1 80.3%', 'resnet_rs'),
    ('models/resnet_rs_101.gin', (192, 192)): Result('top-1 81.2%', 'resnet_rs'),
    ('models/resnet_rs_152.gin', (192, 192)): Result('top-1 82.0%', 'resnet_rs'),
    ('models/resnet_rs_152.gin', (224, 224)): Result('top-1 82.2%', 'resnet_rs'),
    ('models/resnet_rs_152.gin', (256, 256)): Result('top-1 83.0%', 'resnet_rs'),
    ('models/resnet_rs_200.gin', (256, 256)): Result('top-1 83.4%', 'resnet_rs'),
    ('models/resnet_rs_270.gin', (256, 256)): Result('top-1 83.8%', 'resnet_rs'),
    ('models/resnet_rs_350.gin', (256, 256)): Result('top-1 84.0%', 'resnet_rs'),
    ('models/resnet_rs_350.gin', (320, 320)): Result('top-1 84.2%', 'resnet_rs'),
    ('models/resnet_rs_420.gin', (320, 320)): Result('top-1 84.4%', 'resnet_rs'),
    ('models/wide_resnet38_a.gin', (224, 224)): Result('top-1 / top-5 error 19.20% / 4.73%', 'ademxapp'),
    ('models/wide_resnet38_a1.gin', (224, 224)): Result('top-1 / top-5 error 19.54% / 4.75%', 'ademxapp'),
}


def entries() -> List[Tuple[Family, Entry]]:
  """Every (family, entry) of the page, in page order."""
  return [(family, entry) for family in FAMILIES for entry in family.entries]


def summary_command(model_file: str, data_file: str, size: Size) -> str:
  """The `widescale --mode=summary` command line that prints the sizes of one row."""
  return (f'widescale --mode=summary --gin_file={model_file} --gin_file={data_file} '
          f"--gin_bindings='Experiment.summary_input_size = ({size[0]}, {size[1]})'")


def measure(model_file: str, data_file: str, sizes: Sequence[Size]) -> Dict:
  """Builds one model as `widescale --mode=summary` does and measures it at every size.

  Args:
    model_file: model gin file, e.g. 'models/wide_resnet41.gin'.
    data_file: data gin file giving the task, hence the class count, e.g. 'data/cityscapes_panoptic.gin'.
    sizes: input (height, width) pairs; the first is summarised, the others only have their FLOPs counted.

  Returns:
    {'summary': summary.summarize(...) at sizes[0] plus 'num_classes' -- the JSON object
     `widescale --mode=summary` prints for that size --, 'flops': {size: FLOPs} for every size,
     'backbone_trainable_params': trainable parameters of the model's `backbone` (None if it has none)}.
  """
  import gin
  import tf_keras
  from widescale import gin_registry
  from widescale.models import summary
  tf_keras.backend.clear_session()
  cli.parse_gin([model_file, data_file], list(_ZERO_BACKBONE_KERNELS))
  try:
    experiment = gin_registry.configured('Experiment')()
    tf_keras.utils.set_random_seed(experiment.seed)  # as `widescale --mode=summary` does
    model = experiment.model_fn(num_classes=experiment.task.num_classes)
  except (ValueError, TypeError) as error:
    message = cli._one_line(error)  # pylint: disable=protected-access
    raise cli.UsageError(f'{model_file} with {data_file} does not build: {message}') from error
  (height, width), *others = sizes
  result = summary.summarize(model, (1, height, width, 3))
  result['num_classes'] = experiment.task.num_classes
  flops = {tuple(sizes[0]): result['flops']}
  for size in others:
    flops[tuple(size)] = summary.count_flops(model, (1, *size, 3))
  backbone = getattr(model, 'backbone', None)
  measurement = {
      'summary': result,
      'flops': flops,
      'backbone_trainable_params': None if backbone is None else summary.count_trainable_params(backbone),
  }
  # Free the model before the next one is built: the largest hold several GB.
  del model, backbone, experiment
  gin.clear_config()
  tf_keras.backend.clear_session()
  gc.collect()
  return measurement


# Counts and FLOPs do not depend on weight values, and drawing the random backbone kernels (up to 500M
# numbers) is most of the cost of building the largest models: the zoo builds them with zero kernels
# (181 s -> 117 s for the page, byte-identical). Bindings of backbones a model does not use are inert.
_ZERO_BACKBONE_KERNELS = (
    "SWideRNet.conv_kernel_initializer = 'zeros'",
    "ResNetRS.conv_kernel_initializer = 'zeros'",
    "WideResNet38.conv_kernel_initializer = 'zeros'",
)


def measure_all(log: Optional[Callable[[str], None]] = print) -> Dict[str, Dict]:
  """`measure` of every entry of the page, keyed by model file (each file appears once)."""
  from absl import logging
  logging.set_verbosity(logging.WARNING)  # as `widescale`: library INFO logs are noise here
  rows = entries()
  model_files = [entry.model_file for _, entry in rows]
  duplicates = sorted({f for f in model_files if model_files.count(f) > 1})
  if duplicates:
    raise ValueError(f'model_zoo.FAMILIES lists {duplicates} more than once.')
  measurements = {}
  start = time.perf_counter()
  for index, (family, entry) in enumerate(rows, start=1):
    begin = time.perf_counter()
    measurements[entry.model_file] = measure(entry.model_file, family.data_file, entry.sizes)
    if log:
      log(f'[{index}/{len(rows)}] {entry.model_file}: '
          f'{measurements[entry.model_file]["summary"]["trainable_params"]:,} params, '
          f'{len(entry.sizes)} resolution(s), {time.perf_counter() - begin:.0f} s')
  if log:
    log(f'Measured {len(rows)} models in {time.perf_counter() - start:.0f} s.')
  return measurements


def _gin_link(model_file: str) -> str:
  return f'[`{model_file}`](../gin_configs/{model_file})'


def _table(family: Family, measurements: Dict[str, Dict]) -> List[str]:
  header = ['model', 'gin file', 'data file', 'input', 'params']
  if family.show_total_params:
    header.append('total params (+ BN statistics)')
  if family.show_backbone_params:
    header.append('backbone params')
  header += ['GFLOPs', 'published', 'source']
  lines = ['| ' + ' | '.join(header) + ' |', '| ' + ' | '.join(['---'] * len(header)) + ' |']
  for entry in family.entries:
    measured = measurements[entry.model_file]
    for size in entry.sizes:
      result = PUBLISHED.get((entry.model_file, tuple(size)))
      cells = [entry.name, _gin_link(entry.model_file), f'`{family.data_file}`', f'{size[0]}x{size[1]}',
               f'{measured["summary"]["trainable_params"]:,}']
      if family.show_total_params:
        cells.append(f'{measured["summary"]["total_params"]:,}')
      if family.show_backbone_params:
        backbone = measured['backbone_trainable_params']
        cells.append('-' if backbone is None else f'{backbone:,}')
      cells.append(f'{measured["flops"][tuple(size)] / 1e9:,.2f}')
      if result is None:
        cells += ['-', '-']
      else:
        label, url = SOURCES[result.source]
        cells += [result.text, f'[{label}]({url})']
      lines.append('| ' + ' | '.join(cells) + ' |')
  return lines


def render(measurements: Dict[str, Dict]) -> str:
  """The page for the measurements of `measure_all`."""
  first_family, first_entry = entries()[0]
  lines = [
      '# Model zoo',
      '',
      f'<!-- Generated by `{COMMAND}` (widescale/tools/model_zoo.py). Do not edit by hand. -->',
      '',
      f'**Generated from the code; do not edit by hand.** Regenerate it with `{COMMAND}`; '
      f'`{COMMAND} --check` exits 1, naming the first differing line, when this page and the code '
      'disagree (tests/tools/test_model_zoo.py runs the same comparison).',
      '',
      '## How the numbers are counted',
      '',
      '- Each row is one model gin file with one data gin file (which sets the task, hence the class '
      'count), built exactly as `widescale --mode=summary` builds it, e.g.',
      '',
      '  ```bash',
      f'  {summary_command(first_entry.model_file, first_family.data_file, first_entry.sizes[0])}',
      '  ```',
      '',
      '  whose JSON line gives `trainable_params`, `total_params` and `flops` of the row.',
      '- **params**: trainable parameters of the whole model (BN moving statistics are not trainable).',
      '- **total params**: every variable, BN moving means and variances included.',
      "- **backbone params**: trainable parameters of the model's `backbone`.",
      '- **GFLOPs**: 10^9 floating-point operations of one inference call (`training=False`) at batch 1 '
      "on a float32 image of the row's input size, counted by TensorFlow's profiler on the traced graph "
      '(nothing is executed): 2 FLOPs per multiply-add of convolutions and matrix products, 1 per '
      'element of element-wise operations and reductions.',
      '- **published**: results reported for exactly this architecture, with their source. They are the '
      'only numbers typed in (`PUBLISHED` in widescale/tools/model_zoo.py); `-` means none is published '
      'for this model or resolution (or none could be verified).',
      '- Where a parameter count or FLOPs figure is published (deeplab2 and the SWideRNet paper for '
      'Panoptic-DeepLab, the ResNet-RS paper, the official Wide-ResNet-38 definition), the row equals it '
      'to the published precision (FLOPs within 1%); tests/tools/test_model_zoo.py checks every one.',
  ]
  for family in FAMILIES:
    lines += ['', f'## {family.title}', '', family.notes, ''] + _table(family, measurements)
  return '\n'.join(lines) + '\n'


def difference(on_disk: str, generated: str, path: str) -> Optional[str]:
  """None if the texts are equal, else a message naming the first differing line, with a diff."""
  if on_disk == generated:
    return None
  old, new = on_disk.splitlines(), generated.splitlines()
  if old == new:
    return f'{path} differs from the generated page in line endings only; regenerate it with `{COMMAND}`.'
  line = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))

  def line_of(lines):
    return repr(lines[line]) if line < len(lines) else '(end of page)'

  diff = list(difflib.unified_diff(old, new, f'{path} (on disk)', f'{path} (generated)', n=1, lineterm=''))
  if len(diff) > 40:
    diff = diff[:40] + [f'... ({len(diff) - 40} more diff lines)']
  return '\n'.join([f'{path} differs from the page the code generates, first at line {line + 1}:',
                    f'  on disk:   {line_of(old)}', f'  generated: {line_of(new)}',
                    f'Regenerate it with `{COMMAND}`.', *diff])


def main(argv: Sequence[str], measurements: Optional[Dict[str, Dict]] = None) -> int:
  """Runs the tool on a full command line (argv[0] is the program); returns the exit code.

  Args:
    argv: the command line.
    measurements: `measure_all()` results to render instead of building every model again (tests pass
      the ones their fixture measured).
  """
  try:
    return _run(argv, measurements)
  except (flags.Error, cli.UsageError) as error:
    # flags.Error: an unknown flag or a value of the wrong type; absl's message names the flag.
    message = cli._one_line(error)  # pylint: disable=protected-access
    print(f'widescale: error: {message}', file=sys.stderr, flush=True)
    return 2


def _run(argv: Sequence[str], measurements: Optional[Dict[str, Dict]]) -> int:
  FLAGS.unparse_flags()  # so that repeated in-process calls start from the defaults
  extra = FLAGS(list(argv))[1:]
  if FLAGS.help:
    print(__doc__ + '\n' + FLAGS.get_help(include_special_flags=False))
    return 0
  if extra:
    raise cli.UsageError(f'unexpected arguments {extra}; every option is a --flag.')
  path = FLAGS.output
  import tensorflow as tf
  if tf.io.gfile.isdir(path):
    raise cli.UsageError(f'--output={path} is a directory; expected the path of the page.')
  if FLAGS.check and not tf.io.gfile.exists(path):
    raise cli.UsageError(f'--check: {path} does not exist; write it with `{COMMAND} --output={path}`.')
  if measurements is None:
    measurements = measure_all()
  page = render(measurements)
  if FLAGS.check:
    with tf.io.gfile.GFile(path, 'r') as f:
      message = difference(f.read(), page, path)
    if message:
      print(f'widescale: error: {message}', file=sys.stderr, flush=True)
      return 1
    print(f'{path} is up to date.', flush=True)
    return 0
  from widescale.training import loop
  if os.path.dirname(path):
    tf.io.gfile.makedirs(os.path.dirname(path))
  loop.write_text_atomically(path, page)
  print(f'Wrote {path}.', flush=True)
  return 0


def run() -> None:
  """Console-script entry point."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  sys.exit(main(sys.argv))


if __name__ == '__main__':
  run()
