"""Tests of widescale.layers.squeeze_excite."""

import numpy as np
import tensorflow as tf

from widescale.layers import squeeze_excite


def test_one_conv_c_to_c_with_bias():
  layer = squeeze_excite.SqueezeExcite()
  layer(tf.zeros([1, 3, 3, 10]))
  assert sum(int(np.prod(v.shape)) for v in layer.trainable_weights) == 10 * 10 + 10


def test_hard_sigmoid_gate_scales_each_channel():
  layer = squeeze_excite.SqueezeExcite()
  inputs = tf.random.normal([2, 4, 4, 3])
  layer(inputs)
  layer.conv.kernel.assign(tf.zeros_like(layer.conv.kernel))
  # relu6(b + 3) / 6: b = 0 -> 0.5, b = 3 -> 1, b = -3 -> 0.
  layer.conv.bias.assign([0.0, 3.0, -3.0])
  np.testing.assert_allclose(layer(inputs).numpy(), inputs.numpy() * np.array([0.5, 1.0, 0.0]), rtol=1e-6)


def test_gate_depends_on_the_global_mean():
  layer = squeeze_excite.SqueezeExcite()
  inputs = tf.random.normal([1, 4, 4, 2])
  layer(inputs)
  layer.conv.kernel.assign(tf.eye(2)[tf.newaxis, tf.newaxis])
  layer.conv.bias.assign([0.0, 0.0])
  mean = tf.reduce_mean(inputs, axis=[1, 2], keepdims=True)
  expected = inputs * tf.nn.relu6(mean + 3.0) / 6.0
  np.testing.assert_allclose(layer(inputs).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_config_round_trip():
  layer = squeeze_excite.SqueezeExcite(kernel_initializer='he_normal', name='se')
  assert squeeze_excite.SqueezeExcite.from_config(layer.get_config()).get_config() == layer.get_config()
