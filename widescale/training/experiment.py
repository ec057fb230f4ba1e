"""An experiment = a task, a model, an optimizer and a trainer; `run` executes one mode of it."""

import dataclasses
import json
from typing import Callable, Optional, Sequence

from absl import logging
import tensorflow as tf
import tf_keras

from widescale.models import summary
from widescale.training import loop
from widescale.training import strategy as strategy_lib

MODES = ('train', 'eval', 'train_and_eval', 'summary')


class ConfigurationError(ValueError):
  """A bad configured value found while building the model (e.g. a negative width multiplier)."""


@dataclasses.dataclass
class Experiment:
  """Everything a run needs, as gin binds it (`Experiment.task = @PanopticTask()`, ...).

  Attributes:
    task: the task (inputs, losses, metrics), e.g. a PanopticTask.
    model_fn: called as `model_fn(num_classes=...)` under the strategy's scope, e.g. `@PanopticDeepLab`.
    optimizer_fn: called with no arguments under the strategy's scope, e.g. `@adam`.
    trainer: the loop's cadence (steps, checkpoints, logging), a Trainer.
    distribution: 'default', 'mirrored', 'multi_worker_mirrored' or 'tpu' (see training/strategy.py).
    tpu: TPU address for distribution='tpu' ('local' on a TPU VM).
    summary_input_size: (height, width) used by --mode=summary; defaults to the task's crop size.
    seed: seeds Python, NumPy and TF (weight initialisation, drop path) so runs repeat.
  """
  task: object
  model_fn: Callable
  optimizer_fn: Optional[Callable] = None
  trainer: Optional[loop.Trainer] = None
  distribution: str = 'default'
  tpu: Optional[str] = None
  summary_input_size: Optional[Sequence[int]] = None
  seed: int = 0

  def __post_init__(self):
    if self.distribution not in strategy_lib.DISTRIBUTIONS:
      raise ValueError(f'Experiment.distribution must be one of {strategy_lib.DISTRIBUTIONS}, '
                       f'got {self.distribution!r}.')

  def check_mode(self, mode: str) -> None:
    """Raises ValueError if the experiment lacks what `mode` needs (before anything is written)."""
    if mode not in MODES:
      raise ValueError(f'Unknown --mode={mode!r}; expected one of {MODES}.')
    if mode == 'summary':
      return
    for name in ('trainer', 'optimizer_fn'):
      if getattr(self, name) is None:
        raise ValueError(f'--mode={mode} needs Experiment.{name}; include a run file such as '
                         f"'runs/train.gin' (it binds Experiment.trainer and Experiment.optimizer_fn).")


def run(experiment: Experiment, mode: str, model_dir: Optional[str],
        after_build: Optional[Callable[[], None]] = None) -> Optional[dict]:
  """Runs `mode` of the experiment; returns the evaluation or summary results.

  Args:
    experiment: what to run.
    mode: one of MODES.
    model_dir: where checkpoints, summaries and results go (not needed for 'summary').
    after_build: called once the model and optimizer exist (main.py saves the operative gin config).
  """
  tf_keras.utils.set_random_seed(experiment.seed)
  if mode == 'summary':
    return _summarize(experiment)
  if mode == 'eval' and tf.train.latest_checkpoint(model_dir) is None:
    raise ConfigurationError(f'--mode=eval found no checkpoint in --model_dir={model_dir}.')
  strategy = strategy_lib.create_strategy(experiment.distribution, experiment.tpu)
  trainer = experiment.trainer
  try:
    model, optimizer, manager = trainer.build(experiment.task, experiment.model_fn,
                                              experiment.optimizer_fn, strategy, model_dir)
  except (ValueError, TypeError) as error:
    # Raised by constructors validating their arguments (they name the argument and the value).
    raise ConfigurationError(str(error)) from error
  if after_build is not None:
    after_build()
  if mode == 'train':
    trainer.train(experiment.task, model, optimizer, manager, strategy, model_dir)
    return None
  if mode == 'train_and_eval':
    def maybe_evaluate(step):
      if (trainer.eval_every_steps and step % trainer.eval_every_steps == 0
          and step < trainer.train_steps):
        trainer.evaluate(experiment.task, model, strategy, model_dir, step)
    trainer.train(experiment.task, model, optimizer, manager, strategy, model_dir,
                  after_loop=maybe_evaluate)
  elif mode != 'eval':
    raise ValueError(f'Unknown --mode={mode!r}; expected one of {MODES}.')
  step = int(optimizer.iterations.numpy())
  return trainer.evaluate(experiment.task, model, strategy, model_dir, step)


def _summarize(experiment: Experiment) -> dict:
  """Builds the model without data and prints its size; the last line printed is one JSON object."""
  height, width = experiment.summary_input_size or experiment.task.input_size
  try:
    model = experiment.model_fn(num_classes=experiment.task.num_classes)
  except (ValueError, TypeError) as error:
    raise ConfigurationError(str(error)) from error
  result = summary.summarize(model, (1, height, width, 3))
  result['num_classes'] = experiment.task.num_classes
  logging.info('Model summary: %s', result)
  print(json.dumps(result, sort_keys=True), flush=True)
  return result
