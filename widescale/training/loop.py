"""How and when a task runs: the training loop, checkpoints, summaries and evaluation.

The loop is strategy-agnostic: the same code runs under the default strategy on a CPU, MirroredStrategy
on GPUs (or logical CPUs) and TPUStrategy. Several training steps run inside one `tf.function` call
(`steps_per_loop`), which is what keeps TPUs busy; checkpoints, progress lines and summaries happen
between calls, on the host.

Resuming: the step counter is the optimizer's `iterations`, saved in every checkpoint with the model and
the optimizer slots. Restarting the same command restores the latest checkpoint and trains on to
`train_steps`; a run already there trains no further.
"""

import json
import math
import os
from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf

from widescale.evaluation import visualize
from widescale.training import progress


def write_text_atomically(path: str, text: str) -> None:
  """Writes through a temporary file and a rename, so a reader never sees half a file."""
  tmp_path = path + '.tmp'
  with tf.io.gfile.GFile(tmp_path, 'w') as f:
    f.write(text)
  tf.io.gfile.rename(tmp_path, path, overwrite=True)


class Trainer:
  """Runs a task's train and eval steps under a strategy, with checkpoints and summaries.

  Args:
    train_steps: the step training ends at (counted over restarts).
    steps_per_loop: training steps per `tf.function` call.
    log_every_steps: steps between progress lines and TensorBoard scalars (a multiple of
      steps_per_loop is best; defaults to steps_per_loop).
    checkpoint_every_steps: steps between checkpoints (one is always written at the end).
    max_checkpoints: checkpoints kept by the CheckpointManager.
    eval_every_steps: in train_and_eval mode, evaluate every this many steps (None: only at the end).
    num_pictures: validation images drawn in the prediction picture.
  """

  def __init__(self, train_steps: int, steps_per_loop: int = 10, log_every_steps: Optional[int] = None,
               checkpoint_every_steps: int = 500, max_checkpoints: int = 3,
               eval_every_steps: Optional[int] = None, num_pictures: int = 6):
    for name, value in (('train_steps', train_steps), ('steps_per_loop', steps_per_loop),
                        ('checkpoint_every_steps', checkpoint_every_steps),
                        ('max_checkpoints', max_checkpoints)):
      if value < 1:
        raise ValueError(f'Trainer.{name} must be >= 1, got {value}.')
    self.train_steps = train_steps
    self.steps_per_loop = steps_per_loop
    self.log_every_steps = log_every_steps or steps_per_loop
    self.checkpoint_every_steps = checkpoint_every_steps
    self.max_checkpoints = max_checkpoints
    self.eval_every_steps = eval_every_steps
    self.num_pictures = num_pictures

  # ----------------------------------------------------------------------------------------------
  # Building and restoring.

  def build(self, task, model_fn: Callable, optimizer_fn: Callable, strategy: tf.distribute.Strategy,
            model_dir: str):
    """Creates model, optimizer and checkpoint manager under the strategy and restores the latest."""
    with strategy.scope():
      model = model_fn(num_classes=task.num_classes)
      # Create the variables by tracing (not running) one call at the training size.
      spec = tf.TensorSpec([None, *task.input_size, 3], tf.float32)
      tf.function(lambda images: model(images, training=False)).get_concrete_function(spec)
      optimizer = optimizer_fn()
      optimizer.build(model.trainable_variables)
      checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
      manager = tf.train.CheckpointManager(checkpoint, directory=model_dir,
                                           max_to_keep=self.max_checkpoints)
      restored = manager.restore_or_initialize()
    if restored:
      print(f'Restored {restored} (step {int(optimizer.iterations.numpy())}).', flush=True)
    return model, optimizer, manager

  # ----------------------------------------------------------------------------------------------
  # Training.

  def train(self, task, model, optimizer, manager: tf.train.CheckpointManager,
            strategy: tf.distribute.Strategy, model_dir: str,
            after_loop: Optional[Callable[[int], None]] = None) -> int:
    """Trains from the optimizer's current step to `train_steps`; returns the final step.

    Args:
      after_loop: called with the step after each loop call (train_and_eval uses it to evaluate).
    """
    step = int(optimizer.iterations.numpy())
    if step >= self.train_steps:
      print(f'Already at step {step} (Trainer.train_steps = {self.train_steps}): nothing to train.',
            flush=True)
      return step
    global_batch = task.train_batch_size
    dataset = strategy.distribute_datasets_from_function(
        lambda context: task.build_inputs('train', is_training=True, input_context=context))
    iterator = iter(dataset)
    with strategy.scope():
      loss_means = {name: _Mean(name) for name in task.loss_names}

    def replica_step(batch):
      return task.train_step(model, optimizer, batch, global_batch)

    @tf.function
    def train_loop(iterator, num_steps):
      for _ in tf.range(num_steps):
        losses = strategy.run(replica_step, args=(next(iterator),))
        for name, mean in loss_means.items():
          mean.update(strategy.reduce(tf.distribute.ReduceOp.SUM, losses[name], axis=None))

    writer = tf.summary.create_file_writer(os.path.join(model_dir, 'train'))
    meter = progress.ProgressMeter(self.train_steps, step)
    print(f'Training from step {step} to {self.train_steps}, global batch {global_batch}, '
          f'{strategy.num_replicas_in_sync} replica(s).', flush=True)
    while step < self.train_steps:
      num_steps = min(self.steps_per_loop, self.train_steps - step)
      train_loop(iterator, tf.constant(num_steps, tf.int32))
      step = int(optimizer.iterations.numpy())
      # Checked after every loop call, before any checkpoint, so the last checkpoint on disk is always
      # one with finite losses (a NaN anywhere since the last report makes the running mean NaN).
      running_loss = loss_means['total_loss'].result()
      if not math.isfinite(running_loss):
        raise FloatingPointError(
            f'Training loss is {running_loss} within steps {step - num_steps + 1}-{step}; stopping. '
            f'The last good checkpoint is {manager.latest_checkpoint} in {model_dir}.')
      if step % self.log_every_steps == 0 or step >= self.train_steps:
        scalars = {name: mean.result() for name, mean in loss_means.items()}
        for mean in loss_means.values():
          mean.reset()
        learning_rate = float(_current_learning_rate(optimizer))
        print(meter.report(step, scalars, learning_rate), flush=True)
        with writer.as_default(step=step):
          for name, value in scalars.items():
            tf.summary.scalar(f'losses/{name}', value)
          tf.summary.scalar('learning_rate', learning_rate)
      if step % self.checkpoint_every_steps == 0 or step >= self.train_steps:
        # CheckpointManager writes the checkpoint files first and the 'checkpoint' index last, so a kill
        # during the write leaves the index pointing at the previous, complete checkpoint.
        manager.save(checkpoint_number=step)
      if after_loop is not None:
        after_loop(step)
    writer.flush()
    return step

  # ----------------------------------------------------------------------------------------------
  # Evaluation.

  def evaluate(self, task, model, strategy: tf.distribute.Strategy, model_dir: str,
               step: int) -> Dict:
    """Evaluates on the validation split; writes metrics JSON, TensorBoard scalars and pictures."""
    dataset = strategy.distribute_datasets_from_function(
        lambda context: task.build_inputs('validation', is_training=False, input_context=context))

    @tf.function
    def eval_fn(batch):
      return strategy.run(lambda b: task.eval_step(model, b), args=(batch,))

    metrics = task.build_metrics()
    pictures = []
    num_images = 0
    for batch in dataset:
      outputs = {name: np.concatenate([t.numpy() for t in strategy.experimental_local_results(value)])
                 for name, value in eval_fn(batch).items()}
      outputs = task.real_examples(outputs)
      task.update_metrics(metrics, outputs)
      num_images += len(outputs['image'])
      if sum(len(p['image']) for p in pictures) < self.num_pictures:
        pictures.append(outputs)
    results = task.metric_results(metrics)
    results['step'] = step
    results['num_images'] = num_images

    eval_dir = os.path.join(model_dir, 'eval')
    tf.io.gfile.makedirs(eval_dir)
    text = json.dumps(_json_safe(results), indent=2, sort_keys=True)
    write_text_atomically(os.path.join(eval_dir, f'metrics_step_{step}.json'), text)
    write_text_atomically(os.path.join(eval_dir, 'metrics.json'), text)

    grid = None
    if pictures:
      merged = {k: np.concatenate([p[k] for p in pictures])[:self.num_pictures] for k in pictures[0]}
      grid = task.prediction_picture(merged)
      visualize.save_png(grid, os.path.join(eval_dir, f'predictions_step_{step}.png'))
    writer = tf.summary.create_file_writer(eval_dir)
    with writer.as_default(step=step):
      for name, value in _flat_scalars(results).items():
        tf.summary.scalar(name, value)
      if grid is not None:
        tf.summary.image('predictions', grid[np.newaxis])
    writer.flush()
    return results


class _Mean:
  """A running mean of host-visible scalars updated inside tf.function (a pair of variables)."""

  def __init__(self, name: str):
    self.total = tf.Variable(0.0, trainable=False, name=f'{name}_total',
                             aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.count = tf.Variable(0.0, trainable=False, name=f'{name}_count',
                             aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  def update(self, value):
    self.total.assign_add(tf.cast(value, tf.float32))
    self.count.assign_add(1.0)

  def result(self) -> float:
    return float(self.total.numpy() / max(self.count.numpy(), 1.0))

  def reset(self):
    self.total.assign(0.0)
    self.count.assign(0.0)


def _current_learning_rate(optimizer) -> float:
  lr = optimizer.learning_rate
  if callable(lr):
    return float(lr(optimizer.iterations))
  return float(tf.convert_to_tensor(lr))


def _json_safe(value):
  """Numbers as plain floats/ints and NaN as null, so the file is strict JSON."""
  if isinstance(value, dict):
    return {str(k): _json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_json_safe(v) for v in value]
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  if isinstance(value, (int, np.integer)):
    return int(value)
  if isinstance(value, (float, np.floating)):
    return None if math.isnan(value) else float(value)
  return value


def _flat_scalars(results: Dict, prefix: str = '') -> Dict[str, float]:
  """Flattens nested metric dicts into 'a/b' -> float, keeping only numbers."""
  flat = {}
  for key, value in results.items():
    name = f'{prefix}{key}'
    if isinstance(value, dict):
      flat.update(_flat_scalars(value, name + '/'))
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
      if not math.isnan(value):
        flat[name] = float(value)
  return flat
