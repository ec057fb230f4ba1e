"""A NaN loss stops training with the step range and leaves only finite checkpoints behind."""

import numpy as np
import tensorflow as tf

from tests import cli_runner


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, shapes_data_dir, capsys):
  model_dir = str(tmp_path / 'run')
  # An absurd learning rate blows the weights up within a few steps.
  code = cli_runner.run_in_process([
      '--mode=train', '--gin_file=smoke/panoptic_tiny.gin', '--gin_bindings=LEARNING_RATE = 1e30',
      '--gin_bindings=WARMUP_STEPS = 0', '--gin_bindings=TRAIN_STEPS = 20',
      '--gin_bindings=Trainer.checkpoint_every_steps = 2', f'--model_dir={model_dir}'])
  assert code == 3
  errors = [l for l in capsys.readouterr().err.splitlines() if l.startswith('widescale: error:')]
  assert len(errors) == 1 and 'Training loss is nan' in errors[0] and 'within steps' in errors[0]
  latest = tf.train.latest_checkpoint(model_dir)
  if latest is not None:  # whatever was saved before the blow-up is finite
    reader = tf.train.load_checkpoint(latest)
    for name in reader.get_variable_to_shape_map():
      value = reader.get_tensor(name)
      if np.issubdtype(np.asarray(value).dtype, np.floating):
        assert np.all(np.isfinite(value)), name
