"""Tests of widescale.layers.switchable_atrous_conv."""

import numpy as np
import pytest
import tensorflow as tf

from widescale.layers import switchable_atrous_conv as sac_lib


def _num_params(layer):
  return sum(int(np.prod(v.shape)) for v in layer.trainable_weights)


def _plain_conv(inputs, kernel, rate):
  return tf.nn.conv2d(inputs, kernel, strides=1, padding='SAME', dilations=rate)


@pytest.mark.parametrize('learned_delta_kernel', [False, True])
def test_starts_as_the_plain_rate_r_convolution(learned_delta_kernel):
  layer = sac_lib.SwitchableAtrousConv(6, 3, dilation_rate=2, learned_delta_kernel=learned_delta_kernel)
  inputs = tf.random.normal([2, 11, 11, 4])
  outputs = layer(inputs)
  np.testing.assert_allclose(outputs.numpy(), _plain_conv(inputs, layer.kernel, 2).numpy(), rtol=1e-5,
                             atol=1e-5)


def test_switch_at_one_gives_the_large_rate_with_the_same_kernel():
  layer = sac_lib.SwitchableAtrousConv(6, 3, dilation_rate=1, use_global_context=False)
  inputs = tf.random.normal([1, 13, 13, 4])
  layer(inputs)
  layer.switch.bias.assign([1.0])
  np.testing.assert_allclose(layer(inputs).numpy(), _plain_conv(inputs, layer.kernel, 3).numpy(), rtol=1e-5,
                             atol=1e-5)


def test_parameter_count_matches_sac_with_global_context():
  cin, filters = 8, 16
  layer = sac_lib.SwitchableAtrousConv(filters, 3)
  layer(tf.zeros([1, 5, 5, cin]))
  # kernel + switch (cin -> 1, bias) + pre-context (cin -> cin, bias) + post-context (f -> f, bias). At
  # SWideRNet's res5 (cin 512, f 1024) the extras are 513 + 262,656 + 1,049,600 = 1,312,769 a block.
  expected = 9 * cin * filters + (cin + 1) + (cin * cin + cin) + (filters * filters + filters)
  assert _num_params(layer) == expected
  with_delta = sac_lib.SwitchableAtrousConv(filters, 3, learned_delta_kernel=True)
  with_delta(tf.zeros([1, 5, 5, cin]))
  assert _num_params(with_delta) == expected + 9 * cin * filters


def test_global_context_is_an_identity_at_init_and_adds_a_per_image_term():
  context = sac_lib.GlobalContext()
  inputs = tf.random.normal([2, 4, 4, 3])
  np.testing.assert_allclose(context(inputs).numpy(), inputs.numpy())
  context.conv.bias.assign([1.0, 2.0, 3.0])
  np.testing.assert_allclose((context(inputs) - inputs).numpy(), np.broadcast_to([1.0, 2.0, 3.0], (2, 4, 4, 3)),
                             rtol=1e-6)


def test_config_round_trip():
  layer = sac_lib.SwitchableAtrousConv(5, 3, dilation_rate=2, large_rate_multiplier=2, switch_pool_size=3,
                                       use_global_context=False, learned_delta_kernel=True, use_bias=True)
  clone = sac_lib.SwitchableAtrousConv.from_config(layer.get_config())
  assert clone.get_config() == layer.get_config()


def test_invalid_arguments_name_the_value():
  with pytest.raises(ValueError, match='dilation_rate=0'):
    sac_lib.SwitchableAtrousConv(4, 3, dilation_rate=0)
