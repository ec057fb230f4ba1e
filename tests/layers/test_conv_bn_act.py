"""Tests of widescale.layers.conv_bn_act."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from widescale.layers import conv_bn_act


def _num_params(layer):
  return sum(int(np.prod(v.shape)) for v in layer.trainable_weights)


@pytest.mark.parametrize('conv_type', ['standard', 'separable', 'switchable_atrous'])
def test_output_shape_and_config_round_trip(conv_type):
  layer = conv_bn_act.ConvBNAct(8, 3, dilation_rate=2, conv_type=conv_type, bn_momentum=0.9, bn_epsilon=1e-5,
                                name='unit')
  outputs = layer(tf.random.normal([2, 9, 9, 4]), training=True)
  assert outputs.shape == (2, 9, 9, 8)
  clone = conv_bn_act.ConvBNAct.from_config(layer.get_config())
  assert clone.get_config() == layer.get_config()
  clone(tf.zeros([1, 9, 9, 4]))
  assert _num_params(clone) == _num_params(layer)


def test_separable_is_depthwise_bn_relu_then_pointwise_bn_relu():
  layer = conv_bn_act.ConvBNAct(16, 5, conv_type='separable')
  layer(tf.zeros([1, 8, 8, 6]))
  # depthwise 5x5x6 + BN(6) + pointwise 6x16 + BN(16); no biases next to BN.
  assert _num_params(layer) == 5 * 5 * 6 + 2 * 6 + 6 * 16 + 2 * 16


def test_without_bn_the_conv_has_a_bias_and_no_activation_when_asked():
  layer = conv_bn_act.ConvBNAct(3, 1, use_bn=False, activation=None)
  outputs = layer(-tf.ones([1, 2, 2, 2]))
  assert _num_params(layer) == 2 * 3 + 3
  assert len(layer.non_trainable_weights) == 0
  assert outputs.shape == (1, 2, 2, 3)


@pytest.mark.parametrize('size, expected', [(64, 32), (65, 33)])
def test_strided_conv_pads_symmetrically(size, expected):
  layer = conv_bn_act.ConvBNAct(1, 3, strides=2, use_bn=False, activation=None, kernel_initializer='ones')
  outputs = layer(tf.ones([1, size, size, 1]))
  assert outputs.shape == (1, expected, expected, 1)
  # Output (0, 0) is centred on input pixel (0, 0): its 3x3 window sees 2x2 real pixels. Keras 'same'
  # padding on an even size would centre it on (1, 1) and see 9.
  assert float(outputs[0, 0, 0, 0]) == 4.0
  assert float(outputs[0, 1, 1, 0]) == 9.0


def test_zero_gamma_initialiser_zeroes_the_output():
  layer = conv_bn_act.ConvBNAct(4, 3, activation=None, bn_gamma_initializer='zeros')
  outputs = layer(tf.random.normal([2, 5, 5, 3]), training=True)
  np.testing.assert_allclose(outputs.numpy(), 0.0)


@pytest.mark.parametrize('kwargs, message', [
    (dict(filters=0), 'filters=0'),
    (dict(filters=4, conv_type='deformable'), "conv_type='deformable'"),
    (dict(filters=4, kernel_size=3, strides=2, conv_type='switchable_atrous'), 'strides=2'),
])
def test_invalid_arguments_name_the_value(kwargs, message):
  with pytest.raises(ValueError, match=message):
    conv_bn_act.ConvBNAct(**kwargs)


def test_synchronized_batch_norm_under_mirrored_strategy_matches_one_device(mirrored_strategy):
  """Two replicas with half the batch each update BN statistics exactly as one device with all of it."""
  images = tf.random.stateless_normal([4, 6, 6, 3], seed=[1, 2]) * 3.0 + 1.0

  single = conv_bn_act.ConvBNAct(5, 3, bn_momentum=0.5, sync_batch_norm=True, name='single')
  single(images[:1])
  single(images, training=True)

  strategy = mirrored_strategy
  with strategy.scope():
    mirrored = conv_bn_act.ConvBNAct(5, 3, bn_momentum=0.5, sync_batch_norm=True, name='mirrored')
    mirrored(images[:1])
  mirrored.conv.kernel.assign(single.conv.kernel)
  dataset = tf.data.Dataset.from_tensor_slices(images).batch(4)
  batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
  strategy.run(tf.function(lambda x: mirrored(x, training=True)), args=(batch,))
  np.testing.assert_allclose(mirrored.bn.moving_mean.numpy(), single.bn.moving_mean.numpy(), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(mirrored.bn.moving_variance.numpy(), single.bn.moving_variance.numpy(),
                             rtol=1e-5, atol=1e-6)
  # Without synchronisation the replicas would average per-replica variances: make sure they differ here.
  halves = [tf.math.reduce_variance(single.conv(images[i:i + 2]), axis=[0, 1, 2]) for i in (0, 2)]
  assert not np.allclose((halves[0] + halves[1]).numpy() / 2,
                         tf.math.reduce_variance(single.conv(images), axis=[0, 1, 2]).numpy(), rtol=1e-3)


def test_batch_norm_factory_passes_its_settings():
  bn = conv_bn_act.batch_norm(momentum=0.9, epsilon=1e-5, synchronized=True, gamma_initializer='zeros')
  assert isinstance(bn, tf_keras.layers.BatchNormalization)
  assert (bn.momentum, bn.epsilon, bn.synchronized) == (0.9, 1e-5, True)
