"""The SWideRNet scaling grid on your hardware: size, FLOPs and latency of every (w1, w2, l) you list.

Chen, Wang, Qiao (arXiv 2011.11675) chose SWideRNet-(w1, w2, l) by a grid search over the stem width w1,
the width w2 of res2-res5 and the depth l, in a fast regime (small models, all with w1 = 0.25) and a
strong regime. This command enumerates the grid you give, builds each candidate's full Panoptic-DeepLab
exactly as `widescale --mode=summary` does (same gin files, plus per-candidate `SWideRNet.*` bindings),
and reports trainable parameters, FLOPs per image and the measured inference latency on this device:

  python -m widescale.tools.scaling_grid --w1=0.25 --w2=0.25,0.5,0.75,1 --l=0.5,0.75,1 \
      --sac=true --input_size=257,257 --output_dir=/tmp/grid

writes grid.csv, grid.json (rows + how they were measured) and grid.png (FLOPs, or latency with
--plot_y=latency, against parameters, Pareto front in red) to --output_dir, rewritten after every
candidate so an interrupted run keeps what it measured. Cost: the 12 candidates above take about
3 minutes on 2 CPU cores (docs/scaling_grid.md has the table).

Errors a user can fix end the run with one `widescale: error: ...` line and exit code 2, before anything
is written: every candidate is constructed (without weights) before the first one is measured.
"""

import csv
import dataclasses
import datetime
import io
import itertools
import json
import os
import re
import shlex
import statistics
import sys
import time
from typing import Dict, List, Sequence

from absl import flags

from widescale import main as cli  # absl only at import time; TensorFlow is imported when needed

# Flags of their own, not absl's global FLAGS: this tool imports widescale.main, whose flags
# (--gin_bindings, --mode, ...) live in the global FLAGS; apart, neither command accepts the other's flags,
# and `main(argv)` depends on argv alone.
FLAGS = flags.FlagValues()
flags.DEFINE_list('w1', ['0.25'], 'Stem width multipliers (SWideRNet.stem_width_multiplier).',
                  flag_values=FLAGS)
flags.DEFINE_list('w2', ['0.25', '0.5', '0.75', '1'], 'Width multipliers of res2-res5 '
                  '(SWideRNet.width_multiplier).', flag_values=FLAGS)
flags.DEFINE_list('l', ['0.5', '0.75', '1'], 'Depth multipliers (SWideRNet.depth_multiplier); res2-res5 '
                  'get int(n * l) blocks for n in 3, 6, 3, 3.', flag_values=FLAGS)
flags.DEFINE_list('se', ['false'], 'Squeeze-and-excite on/off (SWideRNet.use_squeeze_excite): true, false '
                  'or true,false for both.', flag_values=FLAGS)
flags.DEFINE_list('sac', ['true'], 'Switchable atrous convolution on/off '
                  '(SWideRNet.use_switchable_atrous_conv): true, false or true,false.', flag_values=FLAGS)
flags.DEFINE_string('model_gin_file', 'models/wide_resnet41.gin', 'Gin file of the model the grid scales '
                    '(its backbone must be @SWideRNet()); looked up in the working directory, then '
                    'gin_configs/.', flag_values=FLAGS)
flags.DEFINE_string('data_gin_file', 'data/cityscapes_panoptic.gin', 'Gin file of the task, for the '
                    'number of classes.', flag_values=FLAGS)
flags.DEFINE_multi_string('gin_bindings', [], 'Extra gin bindings for every candidate (repeatable), e.g. '
                          "--gin_bindings='SWideRNet.output_stride = 32'.", flag_values=FLAGS)
flags.DEFINE_list('input_size', ['513', '513'], 'Input height,width in pixels (one number: square).',
                  flag_values=FLAGS)
flags.DEFINE_integer('batch_size', 1, 'Images per timed inference call (FLOPs are counted per image).',
                     flag_values=FLAGS)
flags.DEFINE_integer('warmup_runs', 3, 'Untimed inference calls after tracing, before timing.',
                     flag_values=FLAGS)
flags.DEFINE_integer('latency_runs', 20, 'Timed inference calls per candidate; 0 skips latency.',
                     flag_values=FLAGS)
flags.DEFINE_enum('plot_y', 'flops', ['flops', 'latency'], 'Cost plotted against parameters, and the one '
                  'the `pareto` column is computed with.', flag_values=FLAGS)
flags.DEFINE_string('output_dir', None, 'Directory for grid.csv, grid.json and grid.png (local or gs://).',
                    flag_values=FLAGS)
flags.DEFINE_bool('help', False, 'Show this help.', short_name='h', flag_values=FLAGS)

# What the grid binds; a --gin_bindings line setting one of these would fight the grid.
_GRID_PARAMETERS = ('stem_width_multiplier', 'width_multiplier', 'depth_multiplier', 'use_squeeze_excite',
                    'use_switchable_atrous_conv')
_TRUE, _FALSE = ('true', '1', 'yes', 'on'), ('false', '0', 'no', 'off')
COLUMNS = ('w1', 'w2', 'l', 'se', 'sac', 'trainable_params', 'total_params', 'flops', 'gflops',
           'latency_ms_median', 'latency_ms_min', 'pareto')


def _one_line(error: BaseException) -> str:
  return ' '.join(str(error).split())


@dataclasses.dataclass(frozen=True)
class Candidate:
  """One point of the grid: SWideRNet-(w1, w2, l) with SE and SAC switched on or off."""
  w1: float
  w2: float
  l: float
  se: bool
  sac: bool

  def bindings(self) -> List[str]:
    """The gin bindings that make the base model this candidate."""
    return [f'SWideRNet.stem_width_multiplier = {self.w1!r}', f'SWideRNet.width_multiplier = {self.w2!r}',
            f'SWideRNet.depth_multiplier = {self.l!r}', f'SWideRNet.use_squeeze_excite = {self.se}',
            f'SWideRNet.use_switchable_atrous_conv = {self.sac}']

  def as_flags(self) -> str:
    """The candidate in this command's flags, e.g. `--w1=0.25 --w2=0.5 --l=1 --se=false --sac=true`."""
    return (f'--w1={self.w1:g} --w2={self.w2:g} --l={self.l:g} --se={str(self.se).lower()} '
            f'--sac={str(self.sac).lower()}')

  def label(self, with_switches: bool) -> str:
    """`(w1, w2, l)`, followed by the switches that are on when the grid varies them."""
    text = f'({self.w1:g}, {self.w2:g}, {self.l:g})'
    if with_switches:
      text += ''.join(f' +{name}' for name, on in (('SE', self.se), ('SAC', self.sac)) if on)
    return text


def _candidate_of(row: Dict) -> Candidate:
  return Candidate(row['w1'], row['w2'], row['l'], row['se'], row['sac'])


def _numbers(name: str, values: Sequence[str]) -> List[float]:
  try:
    numbers = [float(value) for value in values]
  except ValueError as error:
    raise cli.UsageError(f'--{name}={",".join(values)}: expected comma-separated numbers.') from error
  if not numbers:
    raise cli.UsageError(f'--{name} is empty; give one or more values.')
  return numbers


def _switches(name: str, values: Sequence[str]) -> List[bool]:
  bad = [value for value in values if value.lower() not in _TRUE + _FALSE]
  if bad or not values:
    raise cli.UsageError(f'--{name}={",".join(values)}: expected true, false or true,false.')
  return [value.lower() in _TRUE for value in values]


def _unique(values):
  return list(dict.fromkeys(values))


def candidates_from_flags() -> List[Candidate]:
  """Every combination of the listed w1, w2, l, SE and SAC values, in the order given."""
  axes = [_unique(_numbers(name, FLAGS[name].value)) for name in ('w1', 'w2', 'l')]
  axes += [_unique(_switches(name, FLAGS[name].value)) for name in ('se', 'sac')]
  return [Candidate(*values) for values in itertools.product(*axes)]


def _check_flags() -> tuple:
  """Validates the flags that are not candidates; returns (height, width)."""
  try:
    size = [int(value) for value in FLAGS.input_size]
  except ValueError:
    size = []
  if len(size) == 1:
    size *= 2
  if len(size) != 2 or min(size) < 1:
    raise cli.UsageError(f'--input_size={",".join(FLAGS.input_size)}: expected height,width (or one size) '
                       f'in positive pixels.')
  for name, low in (('batch_size', 1), ('warmup_runs', 0), ('latency_runs', 0)):
    if FLAGS[name].value < low:
      raise cli.UsageError(f'--{name}={FLAGS[name].value}: must be >= {low}.')
  if FLAGS.plot_y == 'latency' and FLAGS.latency_runs == 0:
    raise cli.UsageError('--plot_y=latency needs --latency_runs >= 1 (got --latency_runs=0).')
  if not FLAGS.output_dir:
    raise cli.UsageError('--output_dir is required.')
  import tensorflow as tf
  if tf.io.gfile.exists(FLAGS.output_dir) and not tf.io.gfile.isdir(FLAGS.output_dir):
    raise cli.UsageError(f'--output_dir={FLAGS.output_dir} is a file; expected a directory.')
  for name in ('model_gin_file', 'data_gin_file'):
    path = FLAGS[name].value
    if not any(tf.io.gfile.exists(p) and not tf.io.gfile.isdir(p)
               for p in (path, os.path.join(cli.GIN_CONFIGS_DIR, path))):
      raise cli.UsageError(f'--{name}={path}: no such file (looked in {os.getcwd()} and '
                           f'{cli.GIN_CONFIGS_DIR}).')
  pattern = re.compile(r'^\s*SWideRNet\.(' + '|'.join(_GRID_PARAMETERS) + r')\s*=')
  for binding in FLAGS.gin_bindings:
    match = pattern.match(binding)
    if match:
      raise cli.UsageError(f'--gin_bindings={binding!r}: the grid sets SWideRNet.{match.group(1)}; use '
                         f'--w1, --w2, --l, --se and --sac instead.')
  return tuple(size)


def build_model(candidate: Candidate):
  """The candidate's full model, unbuilt, through the gin path of `widescale --mode=summary`.

  Returns:
    (model, num_classes). Raises UsageError naming the candidate if it cannot be constructed.
  """
  import tf_keras
  from widescale import gin_registry
  from widescale.models.backbones import swidernet
  # A fresh graph and fresh layer-name counters per candidate, so the grid's memory stays that of one
  # model and each candidate is built as in a process of its own. parse_gin clears gin.
  tf_keras.backend.clear_session()
  cli.parse_gin([FLAGS.model_gin_file, FLAGS.data_gin_file], [*FLAGS.gin_bindings, *candidate.bindings()])
  try:
    experiment = gin_registry.configured('Experiment')()
    tf_keras.utils.set_random_seed(experiment.seed)  # as `widescale --mode=summary` does
    model = experiment.model_fn(num_classes=experiment.task.num_classes)
  except (ValueError, TypeError) as error:
    raise cli.UsageError(f'candidate {candidate.as_flags()} does not build: {_one_line(error)}') from error
  backbone = getattr(model, 'backbone', None)
  if not isinstance(backbone, swidernet.SWideRNet):
    raise cli.UsageError(f'--model_gin_file={FLAGS.model_gin_file}: its model has backbone '
                       f'{type(backbone).__name__}; the grid scales SWideRNet backbones only.')
  built = (backbone.stem_width_multiplier, backbone.width_multiplier, backbone.depth_multiplier,
           backbone.use_squeeze_excite, backbone.use_switchable_atrous_conv)
  if built != (candidate.w1, candidate.w2, candidate.l, candidate.se, candidate.sac):
    # E.g. a scoped SWideRNet in the model file, which the grid's unscoped bindings do not reach.
    raise cli.UsageError(f'--model_gin_file={FLAGS.model_gin_file}: candidate {candidate.as_flags()} built '
                       f'SWideRNet (w1, w2, l, se, sac) = {built}; its SWideRNet ignores the grid bindings.')
  return model, experiment.task.num_classes


def measure_latency(model, input_shape: Sequence[int], warmup_runs: int, timed_runs: int) -> Dict:
  """Median and minimum wall time, in ms, of compiled inference calls on a random batch.

  The call is traced once before warm-up, so warm-up and timed runs execute the same graph. Each timed
  run waits for every device to finish (GPU kernels run asynchronously), so it measures the work, not
  the launch. The median resists other processes sharing the machine; the minimum shows the best case.

  Returns:
    {'latency_ms_median', 'latency_ms_min', 'device'} (the device holding the outputs).
  """
  import tensorflow as tf
  images = tf.random.uniform(input_shape, 0, 255, seed=0)
  infer = tf.function(lambda batch: model(batch, training=False), autograph=False).get_concrete_function(
      tf.TensorSpec(images.shape, tf.float32))
  outputs = None
  for _ in range(warmup_runs):
    outputs = infer(images)
  tf.test.experimental.sync_devices()
  milliseconds = []
  for _ in range(timed_runs):
    start = time.perf_counter()
    outputs = infer(images)
    tf.test.experimental.sync_devices()
    milliseconds.append(1000.0 * (time.perf_counter() - start))
  return {'latency_ms_median': round(statistics.median(milliseconds), 3),
          'latency_ms_min': round(min(milliseconds), 3),
          'device': next(iter(tf.nest.flatten(outputs))).device}


def measure(candidate: Candidate, input_size: Sequence[int]) -> Dict:
  """One table row: the candidate, its sizes from `summary.summarize` and, if asked, its latency."""
  from widescale.models import summary
  model, _ = build_model(candidate)
  # Batch 1: FLOPs per image, exactly as `widescale --mode=summary` counts them.
  sizes = summary.summarize(model, (1, *input_size, 3))
  row = dict(w1=candidate.w1, w2=candidate.w2, l=candidate.l, se=candidate.se, sac=candidate.sac,
             trainable_params=sizes['trainable_params'], total_params=sizes['total_params'],
             flops=sizes['flops'], gflops=sizes['gflops'], latency_ms_median=None, latency_ms_min=None,
             pareto=None)
  if FLAGS.latency_runs:
    row.update(measure_latency(model, (FLAGS.batch_size, *input_size, 3), FLAGS.warmup_runs,
                               FLAGS.latency_runs))
  return row


def _device_name() -> str:
  """The accelerator TensorFlow places ops on by default, or this machine's CPU."""
  import tensorflow as tf
  gpus = tf.config.list_physical_devices('GPU')
  if gpus:
    details = tf.config.experimental.get_device_details(gpus[0])
    return f'GPU {details.get("device_name", gpus[0].name)}'
  cpu = ''
  if os.path.exists('/proc/cpuinfo'):
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      cpu = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), '')
  return f'CPU {cpu or "(unknown model)"}, {os.cpu_count()} cores'


def _write_bytes_atomically(path: str, data: bytes) -> None:
  import tensorflow as tf
  with tf.io.gfile.GFile(path + '.tmp', 'wb') as f:
    f.write(data)
  tf.io.gfile.rename(path + '.tmp', path, overwrite=True)


def csv_text(rows: Sequence[Dict]) -> str:
  """The rows as CSV with a header of COLUMNS; booleans as true/false, missing values empty."""
  def cell(value):
    if isinstance(value, bool):
      return str(value).lower()
    return '' if value is None else value
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator='\n')
  writer.writerow(COLUMNS)
  for row in rows:
    writer.writerow([cell(row[column]) for column in COLUMNS])
  return buffer.getvalue()


def write_outputs(rows: List[Dict], metadata: Dict, with_switches: bool) -> None:
  """Marks the Pareto front in `rows` and (re)writes grid.csv, grid.json and grid.png atomically."""
  from widescale.tools import pareto_plot
  from widescale.training import loop
  xs = [row['trainable_params'] / 1e6 for row in rows]
  # Exact FLOPs, not the rounded gflops column, so rounding makes no ties on the front.
  ys = [row['flops'] / 1e9 if FLAGS.plot_y == 'flops' else row['latency_ms_median'] for row in rows]
  for row, on_front in zip(rows, pareto_plot.pareto_front(xs, ys)):
    row['pareto'] = on_front
  table = [{column: row[column] for column in COLUMNS} for row in rows]
  directory = FLAGS.output_dir
  loop.write_text_atomically(os.path.join(directory, 'grid.csv'), csv_text(table))
  loop.write_text_atomically(os.path.join(directory, 'grid.json'),
                             json.dumps({**metadata, 'rows': table}, indent=2) + '\n')
  height, width = metadata['input_size']
  y_label = ('GFLOPs per image' if FLAGS.plot_y == 'flops'
             else f'latency (ms, median, batch {FLAGS.batch_size})')
  status = '' if metadata['complete'] else f', {len(rows)} of {metadata["num_candidates"]} measured'
  image = pareto_plot.render(
      xs, ys, [_candidate_of(row).label(with_switches) for row in rows],
      [row['pareto'] for row in rows], x_label='trainable parameters (M)', y_label=y_label,
      title=f'SWideRNet-(w1, w2, l) Panoptic-DeepLab at {height}x{width}, {metadata["device_name"]}{status}')
  png = io.BytesIO()
  image.save(png, format='PNG')
  _write_bytes_atomically(os.path.join(directory, 'grid.png'), png.getvalue())


def main(argv: Sequence[str]) -> int:
  """Runs the tool on a full command line (argv[0] is the program); returns the exit code."""
  try:
    return _run(argv)
  except (flags.Error, cli.UsageError) as error:
    # flags.Error: an unknown flag or a value of the wrong type; absl's message names the flag.
    print(f'widescale: error: {_one_line(error)}', file=sys.stderr, flush=True)
    return 2


def _run(argv: Sequence[str]) -> int:
  FLAGS.unparse_flags()  # so that repeated in-process calls start from the defaults
  extra = FLAGS(list(argv))[1:]
  if FLAGS.help:
    print(__doc__ + '\n' + FLAGS.get_help(include_special_flags=False))
    return 0
  if extra:
    raise cli.UsageError(f'unexpected arguments {extra}; every option is a --flag.')
  candidates = candidates_from_flags()
  input_size = _check_flags()
  from absl import logging
  # What a user needs is printed; library INFO logs are noise here, as in `widescale`.
  logging.set_verbosity(logging.WARNING)
  import tensorflow as tf
  # Constructing (not building) every candidate first finds a bad value before anything is measured
  # or written; it costs well under a second a model.
  num_classes = {build_model(candidate)[1] for candidate in candidates}
  tf.io.gfile.makedirs(FLAGS.output_dir)

  metadata = {
      'input_size': list(input_size), 'num_classes': num_classes.pop(), 'batch_size': FLAGS.batch_size,
      'flops_per': 'image',
      'latency_runs': FLAGS.latency_runs, 'warmup_runs': FLAGS.warmup_runs,
      'device_name': _device_name(), 'device': None, 'tensorflow_version': tf.__version__,
      'load_average_at_start': round(os.getloadavg()[0], 2) if hasattr(os, 'getloadavg') else None,
      'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'command': 'python -m widescale.tools.scaling_grid ' + ' '.join(shlex.quote(a) for a in argv[1:]),
      'gin_files': [FLAGS.model_gin_file, FLAGS.data_gin_file], 'gin_bindings': list(FLAGS.gin_bindings),
      'pareto_against': FLAGS.plot_y, 'num_candidates': len(candidates), 'complete': False,
  }
  with_switches = len({c.se for c in candidates}) > 1 or len({c.sac for c in candidates}) > 1
  print(f'Scaling grid: {len(candidates)} candidates at {input_size[0]}x{input_size[1]}, batch '
        f'{FLAGS.batch_size}, {metadata["device_name"]}, TensorFlow {tf.__version__}', flush=True)
  rows = []
  for index, candidate in enumerate(candidates, start=1):
    start = time.perf_counter()
    row = measure(candidate, input_size)
    metadata['device'] = row.pop('device', metadata['device'])
    rows.append(row)
    metadata['complete'] = index == len(candidates)
    write_outputs(rows, metadata, with_switches)
    latency = ('' if row['latency_ms_median'] is None else
               f', {row["latency_ms_median"]:.1f} ms (min {row["latency_ms_min"]:.1f})')
    print(f'[{index}/{len(candidates)}] {candidate.label(with_switches)}: '
          f'{row["trainable_params"] / 1e6:.2f}M params, {row["gflops"]:.2f} GFLOPs{latency} '
          f'({time.perf_counter() - start:.0f} s)', flush=True)
  front = [_candidate_of(row).label(with_switches) for row in rows if row['pareto']]
  print(f'Pareto front (params vs {FLAGS.plot_y}): {", ".join(front)}', flush=True)
  paths = [os.path.join(FLAGS.output_dir, name) for name in ('grid.csv', 'grid.json', 'grid.png')]
  print(f'Wrote {", ".join(paths)}', flush=True)
  return 0


def run() -> None:
  """Console-script entry point."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  sys.exit(main(sys.argv))


if __name__ == '__main__':
  run()
