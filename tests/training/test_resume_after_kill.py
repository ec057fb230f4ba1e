"""SIGKILL a training run mid-way; the same command resumes from the last checkpoint and finishes."""

import os
import re
import signal
import subprocess
import time

import tensorflow as tf

from tests import cli_runner

TRAIN_STEPS = 40


def _args(model_dir):
  return ['--mode=train', '--gin_file=smoke/panoptic_tiny.gin',
          f'--gin_bindings=TRAIN_STEPS = {TRAIN_STEPS}', '--gin_bindings=Trainer.steps_per_loop = 2',
          '--gin_bindings=Trainer.checkpoint_every_steps = 4', f'--model_dir={model_dir}']


def _checkpoint_step(model_dir):
  latest = tf.train.latest_checkpoint(model_dir)
  return int(latest.rsplit('-', 1)[1]) if latest else None


def test_sigkill_then_resume_finishes_at_configured_steps(tmp_path, shapes_data_dir):
  model_dir = str(tmp_path / 'run')
  process = subprocess.Popen(cli_runner.command(_args(model_dir)), cwd=cli_runner.REPO_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ))
  try:
    # Kill once a few checkpoints exist but well before the end.
    deadline = time.monotonic() + 300
    for line in process.stdout:
      match = re.match(r'step\s+(\d+)/', line)
      if match and int(match.group(1)) >= 12:
        break
      assert time.monotonic() < deadline, 'training did not reach step 12 in time'
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
  finally:
    if process.poll() is None:
      process.kill()
  assert process.returncode == -signal.SIGKILL
  killed_at = _checkpoint_step(model_dir)
  assert killed_at is not None and 4 <= killed_at < TRAIN_STEPS

  resumed = cli_runner.run_subprocess(_args(model_dir), timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f'Restored' in resumed.stdout + resumed.stderr
  steps = [int(s) for s in re.findall(r'^step\s+(\d+)/', resumed.stdout, flags=re.M)]
  # It went on from the checkpoint, not from 0, and stopped exactly at the configured step.
  assert steps and steps[0] > killed_at and steps[-1] == TRAIN_STEPS
  assert _checkpoint_step(model_dir) == TRAIN_STEPS

  # A third run has nothing left to train and leaves the final checkpoint as it is.
  again = cli_runner.run_subprocess(_args(model_dir), timeout=300)
  assert again.returncode == 0
  assert not re.findall(r'^step\s+\d+/', again.stdout, flags=re.M)
  assert _checkpoint_step(model_dir) == TRAIN_STEPS
