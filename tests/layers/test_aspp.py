"""Tests of widescale.layers.aspp."""

import numpy as np
import pytest
import tensorflow as tf

from widescale.layers import aspp


def _num_params(layer):
  return sum(int(np.prod(v.shape)) for v in layer.trainable_weights)


def test_output_shape_and_parameter_count():
  layer = aspp.ASPP(16, (1, 2, 3))
  outputs = layer(tf.random.normal([2, 9, 11, 8]), training=True)
  assert outputs.shape == (2, 9, 11, 16)
  # 1x1 + three 3x3 + pooling 1x1 + projection of 5 x 16 channels, each with BN (gamma, beta).
  expected = 8 * 16 + 3 * 9 * 8 * 16 + 8 * 16 + 5 * 16 * 16 + 6 * 2 * 16
  assert _num_params(layer) == expected


def test_pool_window_covering_the_map_or_larger_equals_global_pooling():
  inputs = tf.random.normal([1, 6, 7, 4])
  global_pool = aspp.ASPP(8, (1, 2, 3), pool_size=None)
  expected = global_pool(inputs).numpy()
  for pool_size in [(6, 7), (100, 100)]:
    windowed = aspp.ASPP(8, (1, 2, 3), pool_size=pool_size)
    windowed(inputs)
    windowed.set_weights(global_pool.get_weights())
    np.testing.assert_allclose(windowed(inputs).numpy(), expected, rtol=1e-5, atol=1e-5)
  smaller = aspp.ASPP(8, (1, 2, 3), pool_size=(2, 2))
  smaller(inputs)
  smaller.set_weights(global_pool.get_weights())
  assert not np.allclose(smaller(inputs).numpy(), expected, atol=1e-4)


def test_rates_and_pool_size_helpers_follow_deeplab2():
  assert aspp.atrous_rates_for_output_stride(16) == (6, 12, 18)
  assert aspp.atrous_rates_for_output_stride(32) == (3, 6, 9)
  assert aspp.atrous_rates_for_output_stride(8) == (12, 24, 36)
  assert aspp.pool_size_for_crop((1025, 2049), 16) == (65, 129)
  assert aspp.pool_size_for_crop((641, 641), 32) == (21, 21)
  assert aspp.pool_size_for_crop((128, 128), 16) == (8, 8)


def test_config_round_trip():
  layer = aspp.ASPP(8, (2, 4, 6), pool_size=(3, 5), dropout_rate=0.2, bn_momentum=0.9, sync_batch_norm=True)
  assert aspp.ASPP.from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize('kwargs, message', [
    (dict(atrous_rates=(6, 12)), r'atrous_rates=\(6, 12\)'),
    (dict(pool_size=(0, 4)), r'pool_size=\(0, 4\)'),
    (dict(dropout_rate=1.0), 'dropout_rate=1.0'),
    (dict(output_channels=0), 'output_channels=0'),
])
def test_invalid_arguments_name_the_value(kwargs, message):
  with pytest.raises(ValueError, match=message):
    aspp.ASPP(**kwargs)
  with pytest.raises(ValueError, match='output_stride=12'):
    aspp.atrous_rates_for_output_stride(12)
