"""Panoptic-DeepLab on each of the three backbone families: the decoders read the same endpoint names
(res2, res3, res5) from SWideRNet, ResNet-RS and Wide-ResNet-38, and the panoptic losses reach every
trainable weight."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from widescale.models import panoptic_deeplab
from widescale.models.backbones import resnet_rs
from widescale.models.backbones import swidernet
from widescale.models.backbones import wide_resnet38
from widescale.tasks import panoptic

NUM_CLASSES = 6
SIZE = 64

BACKBONES = {
    # Drop path off: a dropped res5 block would get no gradient in the training-step test.
    'swidernet': lambda: swidernet.SWideRNet(0.0625, 0.0625, 0.5, output_stride=16, drop_path_keep_prob=1.0),
    # Block counts (1, 1, 1, 1) at full width: the smallest ResNet-RS with every stage (~14M params).
    'resnet_rs': lambda: resnet_rs.ResNetRS(block_counts=(1, 1, 1, 1), output_stride=16),
    'wide_resnet38': lambda: wide_resnet38.WideResNet38('a1', output_stride=16, width_multiplier=1 / 16),
}


def _model(family):
  return panoptic_deeplab.PanopticDeepLab(
      BACKBONES[family](), num_classes=NUM_CLASSES, atrous_rates=(1, 2, 3), aspp_channels=16,
      semantic_decoder_channels=16, semantic_low_level_channels=(8, 8), instance_aspp_channels=16,
      instance_decoder_channels=16, instance_low_level_channels=(8, 8), semantic_head_channels=16,
      center_head_channels=8, offset_head_channels=8)


@pytest.fixture(autouse=True)
def _fresh_session():
  tf_keras.utils.set_random_seed(0)
  yield
  tf_keras.backend.clear_session()


@pytest.mark.parametrize('family', sorted(BACKBONES))
def test_outputs_at_input_resolution(family):
  model = _model(family)
  outputs = model(tf.random.uniform([2, SIZE, SIZE, 3], 0, 255), training=False)
  assert outputs['semantic_logits'].shape == (2, SIZE, SIZE, NUM_CLASSES)
  assert outputs['center_heatmap'].shape == (2, SIZE, SIZE)
  assert outputs['center_offsets'].shape == (2, SIZE, SIZE, 2)


@pytest.mark.parametrize('family', sorted(BACKBONES))
def test_panoptic_losses_reach_every_weight(family):
  task = panoptic.PanopticTask('shapes', crop_size=(SIZE, SIZE))
  model = _model(family)
  optimizer = tf_keras.optimizers.SGD(0.01)
  rng = np.random.default_rng(0)
  batch = {
      'image': tf.constant(rng.uniform(0, 255, [2, SIZE, SIZE, 3]), tf.float32),
      'semantic': tf.constant(rng.integers(0, NUM_CLASSES, [2, SIZE, SIZE]), tf.int32),
      'semantic_weights': tf.ones([2, SIZE, SIZE]),
      'center_heatmap': tf.constant(rng.uniform(0, 1, [2, SIZE, SIZE]), tf.float32),
      'center_weights': tf.ones([2, SIZE, SIZE]),
      'center_offsets': tf.constant(rng.normal(0, 5, [2, SIZE, SIZE, 2]), tf.float32),
      'offset_weights': tf.ones([2, SIZE, SIZE]),
  }
  # One step first: residual branches start with a zero BN gamma (the block is its shortcut), so the
  # layers before it get a gradient only once that gamma has moved.
  losses = task.train_step(model, optimizer, batch, global_batch_size=2)
  assert np.isfinite(float(losses['total_loss']))
  with tf.GradientTape() as tape:
    total = task.compute_losses(model(batch['image'], training=True), batch, 2)['total_loss']
  gradients = tape.gradient(total, model.trainable_variables)
  # Gradients, not weight changes: a tiny update can round away on a weight near 1 (a BN gamma).
  without = [v.name for v, g in zip(model.trainable_variables, gradients)
             if g is None or not np.any(g.numpy())]
  assert not without, without
