"""Tests of widescale.models.panoptic_deeplab (tiny shapes; full-size sizes: test_model_sizes.py)."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from widescale.models import panoptic_deeplab
from widescale.models.backbones import swidernet

_NARROW = dict(aspp_channels=16, semantic_decoder_channels=16, semantic_low_level_channels=(8, 4),
               instance_aspp_channels=8, instance_decoder_channels=8, instance_low_level_channels=(4, 2),
               semantic_head_channels=16, center_head_channels=4, offset_head_channels=4)


def _tiny_model(output_stride=16, num_classes=6, **kwargs):
  backbone = swidernet.SWideRNet(0.25, 0.125, 0.5, output_stride=output_stride,
                                 use_switchable_atrous_conv=True, use_squeeze_excite=True)
  return panoptic_deeplab.PanopticDeepLab(backbone, num_classes, **{**_NARROW, **kwargs})


@pytest.mark.parametrize('output_stride', [16, 32])
def test_output_dict_at_input_resolution(output_stride):
  model = _tiny_model(output_stride)
  outputs = model(tf.random.uniform([2, 64, 48, 3], 0, 255), training=True)
  assert set(outputs) == {'semantic_logits', 'center_heatmap', 'center_offsets'}
  assert outputs['semantic_logits'].shape == (2, 64, 48, 6)
  assert outputs['center_heatmap'].shape == (2, 64, 48)
  assert outputs['center_offsets'].shape == (2, 64, 48, 2)
  assert all(tensor.dtype == tf.float32 for tensor in outputs.values())


def test_default_atrous_rates_follow_the_backbone_output_stride():
  assert _tiny_model(16).atrous_rates == (6, 12, 18)
  assert _tiny_model(32).atrous_rates == (3, 6, 9)
  assert _tiny_model(16, atrous_rates=(1, 2, 3)).semantic_decoder.aspp.atrous_rates == (1, 2, 3)


def test_uint8_and_float_images_give_the_same_outputs():
  model = _tiny_model()
  images = tf.random.uniform([1, 32, 32, 3], 0, 256, tf.int32)
  as_uint8 = model(tf.cast(images, tf.uint8), training=False)
  as_float = model(tf.cast(images, tf.float32), training=False)
  for key in as_uint8:
    np.testing.assert_allclose(as_uint8[key].numpy(), as_float[key].numpy(), rtol=1e-5, atol=1e-6)


def test_offsets_are_rescaled_to_input_pixels():
  model = _tiny_model()
  images = tf.zeros([1, 61, 33, 3])  # stride-4 map is 16 x 9
  model(images)
  head = model.offset_head.prediction
  head.kernel.assign(tf.zeros_like(head.kernel))
  head.bias.assign([1.0, 2.0])  # (dy, dx) = (1, 2) stride-4 pixels everywhere
  offsets = model(images)['center_offsets'].numpy()
  np.testing.assert_allclose(offsets[..., 0], 1.0 * 60 / 15, rtol=1e-5)
  np.testing.assert_allclose(offsets[..., 1], 2.0 * 32 / 8, rtol=1e-5)


def test_every_trainable_variable_gets_a_gradient():
  model = _tiny_model(output_stride=32)
  images = tf.random.uniform([2, 32, 32, 3], 0, 255)
  with tf.GradientTape() as tape:
    outputs = model(images, training=True)
    loss = sum(tf.reduce_mean(tf.square(tensor)) for tensor in outputs.values())
  gradients = tape.gradient(loss, model.trainable_variables)
  missing = [v.name for v, g in zip(model.trainable_variables, gradients) if g is None]
  assert not missing


def test_config_round_trip_rebuilds_the_backbone():
  model = _tiny_model(aspp_pool_size=(2, 2), aspp_dropout_rate=0.0, bn_momentum=0.9, sync_batch_norm=True,
                      name='tiny_pdl')
  config = model.get_config()
  clone = panoptic_deeplab.PanopticDeepLab.from_config(config)
  assert clone.get_config() == config
  assert isinstance(clone.backbone, swidernet.SWideRNet)
  assert clone.backbone.get_config() == model.backbone.get_config()
  images = tf.zeros([1, 32, 32, 3])
  model(images)
  clone(images)
  assert [v.shape for v in clone.weights] == [v.shape for v in model.weights]


def test_mixed_bfloat16_keeps_float32_outputs():
  tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  try:
    model = _tiny_model(output_stride=32)
    outputs = model(tf.random.uniform([1, 32, 32, 3], 0, 255), training=True)
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  assert all(tensor.dtype == tf.float32 for tensor in outputs.values())
  assert model.backbone.stem.conv.kernel.dtype == tf.float32


def test_invalid_arguments_name_the_value():
  with pytest.raises(ValueError, match='num_classes=0'):
    _tiny_model(num_classes=0)

  class NoStride(tf_keras.layers.Layer):
    def call(self, images):
      return {}

  with pytest.raises(ValueError, match='NoStride has none'):
    panoptic_deeplab.PanopticDeepLab(NoStride(), 3)


def test_training_step_compiles_with_xla():
  """TPUs need every op of the step XLA-compilable (drop path, SAC, ASPP pooling window, resizes)."""
  model = _tiny_model(output_stride=16, atrous_rates=(1, 2, 3), aspp_pool_size=(2, 2))
  images = tf.random.uniform([2, 32, 32, 3], 0, 255)

  @tf.function(jit_compile=True)
  def step(images):
    with tf.GradientTape() as tape:
      outputs = model(images, training=True)
      loss = sum(tf.reduce_mean(tf.square(tensor)) for tensor in outputs.values())
    return loss, tape.gradient(loss, model.trainable_variables)

  model(images)
  loss, gradients = step(images)
  assert np.isfinite(loss.numpy())
  assert all(gradient is not None for gradient in gradients)
