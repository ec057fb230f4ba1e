"""Semantic segmentation and image classification train end to end through the same CLI and loop.

Semantic: smoke/semantic_tiny.gin (a tiny DeepLabV3 on SWideRNet, shapes/tiny, 40 steps). Measured on
2026-11-22 on the 2-core machine: loss 1.64 (steps 1-10) -> 1.21 (steps 31-40), mIoU 37.9 on the 16
validation images. A model that learned nothing predicts one or two stuff classes: mIoU under ~15.

Classification: smoke/classification_tiny.gin on the full `shapes_classification` (3,000 / 300 images)
for 400 steps. Measured: loss 1.05 (steps 1-100) -> 0.84 (steps 301-400), top-1 accuracy 52.3% on 300 validation images, where
chance is 33.3% (one standard deviation of chance on 300 images is 2.7 points): the bar at 42% is more
than 3 of them above chance. Telling circles from squares from triangles of random colours, from
scratch, is slow to learn (a plain 5-layer CNN reached 42% after 300 steps).
"""

import json
import os
import re

import numpy as np
from PIL import Image

from tests import cli_runner
from widescale.data import pipeline

SEMANTIC_MIOU_BAR = 25.0
CLASSIFICATION_TOP1_BAR = 42.0


def _losses(out, train_steps):
  return [float(x) for x in re.findall(rf'^step\s+\d+/{train_steps} \| loss ([\d.]+)', out, flags=re.M)]


def test_semantic_segmentation_trains_and_evaluates(tmp_path, shapes_data_dir, capsys):
  model_dir = str(tmp_path / 'semantic')
  code = cli_runner.run_in_process(['--mode=train_and_eval', '--gin_file=smoke/semantic_tiny.gin',
                                    f'--model_dir={model_dir}'])
  assert code == 0
  out = capsys.readouterr().out
  losses = _losses(out, 40)
  assert len(losses) == 4, out[-2000:]
  assert losses[-1] <= 0.85 * losses[0], losses

  with open(os.path.join(model_dir, 'eval', 'metrics.json')) as f:
    metrics = json.load(f)
  assert metrics['num_images'] == 16 and metrics['step'] == 40
  assert set(metrics['semantic']['per_class']) == {'sky', 'ground', 'water', 'circle', 'square',
                                                       'triangle'}
  match = re.search(r'^mIoU: ([\d.]+)$', out, flags=re.M)
  assert match and abs(float(match.group(1)) - 100 * metrics['miou']) < 0.01, out[-1000:]
  assert 100 * metrics['miou'] >= SEMANTIC_MIOU_BAR, metrics['miou']
  picture = np.asarray(Image.open(os.path.join(model_dir, 'eval', 'predictions_step_40.png')))
  assert picture.shape == (2 * 128, 3 * 128, 3)  # Trainer.num_pictures = 2 rows of image | gt | prediction
  assert os.path.exists(os.path.join(model_dir, 'ckpt-40.index'))


def test_image_classifier_trains_on_the_embedded_classification_split(tmp_path, shapes_data_dir, capsys):
  pipeline.prepare_builder('shapes_classification', data_dir=shapes_data_dir)  # ~10 s, 3,300 images
  model_dir = str(tmp_path / 'classifier')
  code = cli_runner.run_in_process([
      '--mode=train_and_eval', '--gin_file=smoke/classification_tiny.gin',
      "--gin_bindings=ClassificationTask.tfds_name = 'shapes_classification'",
      '--gin_bindings=TRAIN_STEPS = 400', '--gin_bindings=Trainer.log_every_steps = 50',
      '--gin_bindings=Trainer.checkpoint_every_steps = 200', f'--model_dir={model_dir}'])
  assert code == 0
  out = capsys.readouterr().out
  losses = _losses(out, 400)
  assert len(losses) == 8, out[-2000:]
  assert losses[-1] <= 0.9 * losses[0], losses

  with open(os.path.join(model_dir, 'eval', 'metrics.json')) as f:
    metrics = json.load(f)
  assert metrics['num_images'] == 300 and metrics['num_examples'] == 300 and metrics['step'] == 400
  assert metrics['top5_accuracy'] == 1.0  # 3 classes: the label is always among the best 5
  match = re.search(r'^Top-1: ([\d.]+)$', out, flags=re.M)
  assert match and abs(float(match.group(1)) - 100 * metrics['top1_accuracy']) < 0.01, out[-1000:]
  assert 100 * metrics['top1_accuracy'] >= CLASSIFICATION_TOP1_BAR, metrics['top1_accuracy']
  picture = np.asarray(Image.open(os.path.join(model_dir, 'eval', 'predictions_step_400.png')))
  assert picture.ndim == 3 and picture.shape[1] == 4 * (64 + 6)  # 4 framed 64x64 images in a row
