"""The widescale command: `widescale --mode=... --gin_file=... --gin_bindings=... --model_dir=...`.

Gin files and bindings are parsed once, here; the operative config (every value actually used) is written
to the model dir with each run. Errors a user can fix (a missing gin file, an unknown binding, a bad model
dir, a bad value) end the run with one line naming the culprit, before anything on disk is touched.
"""

import os
import sys
from typing import List, Sequence

from absl import app
from absl import flags
from absl import logging

FLAGS = flags.FLAGS
flags.DEFINE_enum('mode', 'train_and_eval', ['train', 'eval', 'train_and_eval', 'summary'],
                  'What to run.')
flags.DEFINE_multi_string('gin_file', [], 'Gin config files, applied in order (repeatable). Relative '
                          'paths are looked up in the working directory, then in gin_configs/.')
flags.DEFINE_multi_string('gin_bindings', [], 'Gin bindings applied after the files (repeatable), '
                          "e.g. --gin_bindings='Trainer.train_steps = 100'.")
flags.DEFINE_string('model_dir', None, 'Directory for checkpoints, summaries and results '
                    '(local or gs://). Required except for --mode=summary.')
flags.DEFINE_string('tpu', None, "TPU to use with distribution 'tpu': 'local' on a TPU VM, else a name "
                    'or grpc:// address. Setting it selects the TPU strategy.')
flags.DEFINE_enum('distribution', None, ['default', 'mirrored', 'multi_worker_mirrored', 'tpu'],
                  'Overrides Experiment.distribution.')

# gin_configs/ beside the package (a source checkout or an editable install).
GIN_CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               'gin_configs')


class UsageError(Exception):
  """A problem with the command line or the config that the user can fix; printed as one line."""


def _one_line(error: BaseException) -> str:
  return ' '.join(str(error).split())


def _resolve_gin_file(path: str) -> str:
  import tensorflow as tf  # Deferred: keeps `--help` fast.
  for candidate in (path, os.path.join(GIN_CONFIGS_DIR, path)):
    if tf.io.gfile.exists(candidate) and not tf.io.gfile.isdir(candidate):
      return candidate
  raise UsageError(f'--gin_file={path}: no such file (looked in {os.getcwd()} and {GIN_CONFIGS_DIR}).')


def _drop_gin_package_resource_reader() -> None:
  """Makes gin read config files from the file system only.

  gin also registers a reader that treats the head of a relative path as a Python package: with a
  `runs/` directory in the working directory (the demo writes runs/demo), `include 'runs/train.gin'`
  finds the namespace package `runs` and gin crashes on its missing origin. We never ship gin files
  inside Python packages, so that reader is removed (gin 0.5 keeps readers in `_FILE_READERS`).
  """
  import gin
  from gin import resource_reader
  gin.config._FILE_READERS[:] = [  # pylint: disable=protected-access
      entry for entry in gin.config._FILE_READERS  # pylint: disable=protected-access
      if entry[0] is not resource_reader.system_path_reader]


def parse_gin(gin_files: Sequence[str], gin_bindings: Sequence[str]) -> None:
  """Parses the files and bindings; raises UsageError naming the file or binding at fault."""
  import gin
  _drop_gin_package_resource_reader()
  from widescale import gin_registry
  gin_registry.register_all()
  gin.clear_config()
  if os.path.isdir(GIN_CONFIGS_DIR):
    gin.add_config_file_search_path(GIN_CONFIGS_DIR)
  files = [_resolve_gin_file(f) for f in gin_files]
  if not files:
    raise UsageError('no --gin_file given; e.g. --gin_file=experiments/demo_shapes.gin')
  for path in files:
    try:
      gin.parse_config_file(path)
    except (ValueError, KeyError, IOError, SyntaxError) as error:
      raise UsageError(f'--gin_file={path}: {_one_line(error)}') from error
    problems = gin_registry.unknown_bindings()
    if problems:
      raise UsageError(f'--gin_file={path}: {problems[0]}')
  for binding in gin_bindings:
    try:
      gin.parse_config(binding)
    except (ValueError, KeyError, SyntaxError) as error:
      raise UsageError(f'--gin_bindings={binding!r}: {_one_line(error)}') from error
    problems = gin_registry.unknown_bindings()
    if problems:
      raise UsageError(f'--gin_bindings={binding!r}: {problems[0]}')
  gin.finalize()


def prepare_model_dir(model_dir: str) -> None:
  """Creates the model dir and checks it is a writable directory, touching nothing inside it."""
  import tensorflow as tf
  if tf.io.gfile.exists(model_dir) and not tf.io.gfile.isdir(model_dir):
    raise UsageError(f'--model_dir={model_dir} is a file; expected a directory.')
  try:
    tf.io.gfile.makedirs(model_dir)
    probe = os.path.join(model_dir, f'.widescale_write_probe_{os.getpid()}')
    with tf.io.gfile.GFile(probe, 'w') as f:
      f.write('ok')
    tf.io.gfile.remove(probe)
  except (tf.errors.OpError, OSError) as error:
    raise UsageError(f'--model_dir={model_dir} is not writable: {_one_line(error)}') from error


def main(argv: List[str]) -> int:
  if len(argv) > 1:
    raise UsageError(f'unexpected arguments {argv[1:]}; every option is a --flag.')
  import gin
  from widescale.training import experiment as experiment_lib
  from widescale.training import loop

  if not FLAGS['verbosity'].present:
    # What a user needs (progress, restores, results) is printed; library INFO logs are opt-in with
    # --verbosity=0.
    logging.set_verbosity(logging.WARNING)
  mode = FLAGS.mode
  if mode != 'summary' and not FLAGS.model_dir:
    raise UsageError(f'--model_dir is required for --mode={mode}.')
  parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)
  from widescale import gin_registry
  try:
    # Builds the task, trainer and every object bound with @Name() -- and validates their arguments.
    experiment = gin_registry.configured('Experiment')()
    experiment.check_mode(mode)
  except (ValueError, TypeError) as error:
    raise UsageError(_one_line(error)) from error
  if mode != 'summary':
    prepare_model_dir(FLAGS.model_dir)
  if FLAGS.tpu is not None:
    experiment.distribution, experiment.tpu = 'tpu', FLAGS.tpu
  if FLAGS.distribution is not None:
    experiment.distribution = FLAGS.distribution

  def save_configs():
    # Written only once the model exists, so a run that fails on a bad value leaves the model dir as
    # it was. config.gin: everything parsed; operative_config.gin: every value actually used.
    loop.write_text_atomically(os.path.join(FLAGS.model_dir, 'config.gin'), gin.config_str())
    loop.write_text_atomically(os.path.join(FLAGS.model_dir, 'operative_config.gin'),
                               gin.operative_config_str())

  try:
    results = experiment_lib.run(experiment, mode, FLAGS.model_dir, after_build=save_configs)
  except experiment_lib.ConfigurationError as error:
    raise UsageError(_one_line(error)) from error
  if results is not None and mode != 'summary':
    print_results(results)
  return 0


def print_results(results: dict) -> None:
  """Prints the headline validation metrics, in percent, one per line (`PQ: 71.23`)."""
  lines = []
  for key, label in (('pq', 'PQ'), ('sq', 'SQ'), ('rq', 'RQ'), ('pq_things', 'PQ_things'),
                     ('pq_stuff', 'PQ_stuff'), ('miou', 'mIoU'), ('top1_accuracy', 'Top-1'),
                     ('top5_accuracy', 'Top-5')):
    if key in results:
      lines.append(f'{label}: {100.0 * results[key]:.2f}')
  print('Validation metrics (step {}, {} images):'.format(results.get('step'), results.get('num_images')))
  print('\n'.join(lines), flush=True)


def _main_with_errors(argv):
  try:
    return main(argv)
  except UsageError as error:
    print(f'widescale: error: {error}', file=sys.stderr, flush=True)
    return 2
  except FloatingPointError as error:
    print(f'widescale: error: {_one_line(error)}', file=sys.stderr, flush=True)
    return 3


def run():
  """Console-script entry point."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  app.run(_main_with_errors)


if __name__ == '__main__':
  run()
