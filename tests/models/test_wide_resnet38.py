"""Tests of widescale.models.backbones.wide_resnet38 (full-size counts traced with zero kernels, never run;
forward passes at 64x64 with a narrow width unless the channel counts themselves are checked)."""

import gc

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from widescale.models import image_classifier
from widescale.models import summary
from widescale.models.backbones import wide_resnet38

_NARROW = 1 / 16  # every channel count / 16: conv1a 4, B2 8, ..., B7 256
_STRIDES = {'b1': 1, 'b2': 2, 'b3': 4, 'b4': 8, 'b5': 16, 'b6': 32, 'b7': 32, 'final': 32,
            'res2': 4, 'res3': 8, 'res4': 16, 'res5': 32}
_CHANNELS = {'b1': 64, 'b2': 128, 'b3': 256, 'b4': 512, 'b5': 1024, 'b6': 2048, 'b7': 4096, 'final': 4096,
             'res2': 256, 'res3': 512, 'res4': 1024, 'res5': 4096}


@pytest.fixture
def free_memory():
  """Releases a full-size model's memory after the test (cheap tests skip the ~0.15 s this costs)."""
  yield
  tf_keras.backend.clear_session()
  gc.collect()


def _trace(model, size=33):
  """Creates the variables by tracing one inference call; nothing is executed."""
  spec = tf.TensorSpec([1, size, size, 3], tf.float32)
  tf.function(lambda images: model(images, training=False), autograph=False).get_concrete_function(spec)


@pytest.mark.usefixtures('free_memory')
@pytest.mark.parametrize('variant', ['a', 'a1'])
def test_parameter_counts_match_spec(variant):
  """SPEC section 1: backbone 105.07M, 109.17M with the 1000-way FC (both exact to the parameter here)."""
  backbone = wide_resnet38.WideResNet38(variant, conv_kernel_initializer='zeros')
  model = image_classifier.ImageClassifier(backbone, 1000, endpoint='final', kernel_initializer='zeros')
  _trace(model)
  backbone_params = summary.count_trainable_params(backbone)
  total = summary.count_trainable_params(model)
  assert backbone_params == 105_070_912
  assert total == 109_167_912
  assert (round(backbone_params / 1e6, 2), round(total / 1e6, 2)) == (105.07, 109.17)


@pytest.mark.usefixtures('free_memory')
def test_b1_residual_units_are_an_option_the_released_models_do_not_use():
  backbone = wide_resnet38.WideResNet38('a1', b1_units=1, conv_kernel_initializer='zeros')
  _trace(backbone)
  # One (3x3, 3x3) 64, 64 unit: two BNs of 64 channels and two 3x3 64->64 kernels.
  assert summary.count_trainable_params(backbone) == 105_070_912 + 2 * 2 * 64 + 2 * 9 * 64 * 64


@pytest.mark.usefixtures('free_memory')
def test_full_width_endpoints_at_output_stride_8():
  backbone = wide_resnet38.WideResNet38('a1', output_stride=8, conv_kernel_initializer='zeros')
  endpoints = backbone(tf.random.normal([2, 64, 64, 3]), training=False)
  assert list(endpoints) == list(_STRIDES)
  for name, tensor in endpoints.items():
    size = 64 // min(_STRIDES[name], 8)
    assert tensor.shape == (2, size, size, _CHANNELS[name]), name


@pytest.mark.parametrize('variant, output_stride', [('a', 32), ('a1', 32), ('a', 16), ('a', 8), ('a1', 8)])
def test_endpoint_shapes(variant, output_stride):
  backbone = wide_resnet38.WideResNet38(variant, output_stride=output_stride, width_multiplier=_NARROW)
  endpoints = backbone(tf.random.normal([2, 64, 64, 3]), training=False)
  assert list(endpoints) == list(_STRIDES)
  for name, tensor in endpoints.items():
    size = 64 // min(_STRIDES[name], output_stride)
    assert tensor.shape == (2, size, size, _CHANNELS[name] // 16), name
  for alias, name in wide_resnet38.ENDPOINT_ALIASES.items():
    assert endpoints[alias] is endpoints[name]
  assert float(tf.reduce_min(endpoints['final'])) >= 0.0  # BN-ReLU'd


@pytest.mark.parametrize('variant', ['a', 'a1'])
def test_odd_inputs_are_downsampled_to_ceil_half_by_pool_and_conv_alike(variant):
  backbone = wide_resnet38.WideResNet38(variant, width_multiplier=_NARROW)
  endpoints = backbone(tf.zeros([1, 65, 65, 3]))
  assert [endpoints[f'b{i}'].shape[1] for i in range(1, 8)] == [65, 33, 17, 9, 5, 3, 3]


def test_classifier_on_the_final_endpoint():
  backbone = wide_resnet38.WideResNet38('a', width_multiplier=_NARROW)
  model = image_classifier.ImageClassifier(backbone, 7, endpoint='final')
  assert model(tf.random.uniform([2, 32, 32, 3], 0, 255))['logits'].shape == (2, 7)


def _units(plan, block):
  return [(u.get('strides', 1), u['dilation_rate'], u.get('second_dilation_rate', u['dilation_rate']))
          for u in dict((name, units) for name, _, units in plan)[block]]


def _pools(plan):
  return {name: pool for name, pool, _ in plan}


def test_model_a_pools_and_model_a1_strides_at_output_stride_32():
  plan_a = wide_resnet38.WideResNet38('a').block_plan()
  plan_a1 = wide_resnet38.WideResNet38('a1').block_plan()
  assert _pools(plan_a) == {'b1': None, 'b7': None,
                            **{f'b{i}': {'strides': 2, 'dilation_rate': 1} for i in range(2, 7)}}
  assert set(_pools(plan_a1).values()) == {None}
  for block in ('b2', 'b3', 'b4', 'b5', 'b6'):
    assert _units(plan_a, block)[0] == (1, 1, 1)
    assert _units(plan_a1, block)[0] == (2, 1, 1)
  assert [len(units) for _, _, units in plan_a] == [0, 3, 3, 6, 3, 1, 1]
  # Projection shortcuts exactly in the first unit of every block.
  assert [[u.get('projection_shortcut', False) for u in units] for _, _, units in plan_a1][1:] == [
      [True, False, False], [True, False, False], [True] + [False] * 5, [True, False, False], [True], [True]]


def test_output_stride_8_dilates_b5_by_2_and_b6_b7_by_4():
  plan_a1 = wide_resnet38.WideResNet38('a1', output_stride=8).block_plan()
  # A1: the unit that would have strided keeps stride 1 and the old rate in its first convolution.
  assert _units(plan_a1, 'b4')[0] == (2, 1, 1)
  assert _units(plan_a1, 'b5') == [(1, 1, 2), (1, 2, 2), (1, 2, 2)]
  assert _units(plan_a1, 'b6') == [(1, 2, 4)]
  assert _units(plan_a1, 'b7') == [(1, 4, 4)]
  plan_a = wide_resnet38.WideResNet38('a', output_stride=8).block_plan()
  # A: the pool keeps stride 1, dilated by the rate so far; every convolution after it is dilated.
  assert _pools(plan_a)['b5'] == {'strides': 1, 'dilation_rate': 1}
  assert _pools(plan_a)['b6'] == {'strides': 1, 'dilation_rate': 2}
  assert _units(plan_a, 'b5') == [(1, 2, 2)] * 3
  assert _units(plan_a, 'b6') == [(1, 4, 4)]
  assert _units(plan_a, 'b7') == [(1, 4, 4)]


def test_dropout_sits_before_the_last_conv_of_b6_and_b7_only():
  backbone = wide_resnet38.WideResNet38('a1', width_multiplier=_NARROW, b6_dropout_rate=0.25,
                                        b7_dropout_rate=0.75)
  rates = {name: [unit.dropout.rate if unit.dropout is not None else 0.0 for unit in getattr(backbone, name)]
           for name in ('b2', 'b3', 'b4', 'b5', 'b6', 'b7')}
  assert rates == {'b2': [0.0] * 3, 'b3': [0.0] * 3, 'b4': [0.0] * 6, 'b5': [0.0] * 3, 'b6': [0.25],
                   'b7': [0.75]}
  images = tf.random.normal([2, 32, 32, 3])
  backbone(images)
  unit = backbone.b7[0]
  inputs = backbone(images)['b6']
  np.testing.assert_array_equal(unit(inputs, training=False).numpy(), unit(inputs, training=False).numpy())
  tf.random.set_seed(1)
  assert not np.allclose(unit(inputs, training=True).numpy(), unit(inputs, training=True).numpy())
  # With the last convolution zeroed, training outputs are deterministic again: dropout acts only on
  # that convolution's input.
  unit.conv3.kernel.assign(tf.zeros_like(unit.conv3.kernel))
  np.testing.assert_array_equal(unit(inputs, training=True).numpy(), unit(inputs, training=True).numpy())


def _reference_max_pool(x, strides, rate):
  """3x3 max pool with windows centred on pixels 0, s, 2s, ... and taps at -rate, 0, +rate."""
  height, width = x.shape[1:3]
  out = np.full((x.shape[0], -(-height // strides), -(-width // strides), x.shape[3]), -np.inf, np.float32)
  for i in range(out.shape[1]):
    for j in range(out.shape[2]):
      for di in (-rate, 0, rate):
        for dj in (-rate, 0, rate):
          y, z = i * strides + di, j * strides + dj
          if 0 <= y < height and 0 <= z < width:
            out[:, i, j] = np.maximum(out[:, i, j], x[:, y, z])
  return out


@pytest.mark.parametrize('size, strides, rate', [(9, 2, 1), (8, 2, 1), (9, 1, 2), (7, 1, 4)])
def test_max_pool_pads_symmetrically_with_the_lowest_value(size, strides, rate):
  x = -1.0 - tf.random.uniform([2, size, size, 3])  # all negative: zero padding would show up
  pooled = wide_resnet38.max_pool_3x3(x, strides, rate).numpy()
  np.testing.assert_array_equal(pooled, _reference_max_pool(x.numpy(), strides, rate))


def test_every_trainable_variable_gets_a_gradient():
  """Model A1's strided 1x1 convolutions (shortcuts, B6's first conv) go through the subsampling path."""
  backbone = wide_resnet38.WideResNet38('a1', width_multiplier=_NARROW)
  images = tf.random.normal([2, 32, 32, 3])
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.square(backbone(images, training=True)['final']))
  gradients = tape.gradient(loss, backbone.trainable_variables)
  assert not [v.name for v, g in zip(backbone.trainable_variables, gradients) if g is None]
  assert all(np.isfinite(g.numpy()).all() for g in gradients)


def test_config_round_trip():
  backbone = wide_resnet38.WideResNet38('a1', output_stride=16, b1_units=2, b6_dropout_rate=0.1,
                                        b7_dropout_rate=0.2, width_multiplier=_NARROW, bn_momentum=0.99,
                                        bn_epsilon=1e-3, sync_batch_norm=True,
                                        conv_kernel_initializer='glorot_uniform', name='tiny_wr38')
  config = backbone.get_config()
  clone = wide_resnet38.WideResNet38.from_config(config)
  assert clone.get_config() == config
  assert clone.name == 'tiny_wr38' and clone.b1_units == 2 and clone.output_stride == 16
  serialized = tf_keras.layers.deserialize(tf_keras.layers.serialize(backbone))
  assert serialized.get_config() == config
  images = tf.zeros([1, 32, 32, 3])
  backbone(images)
  clone(images)
  assert [(v.name, v.shape) for v in clone.weights] == [(v.name, v.shape) for v in backbone.weights]


def test_checkpoint_restores_identical_outputs_and_names_are_stable(tmp_path):
  images = tf.random.normal([2, 32, 32, 3])
  backbone = wide_resnet38.WideResNet38('a1', width_multiplier=_NARROW)
  backbone(images, training=True)  # moves the BN statistics away from their initial values
  expected = backbone(images, training=False)
  path = tf.train.Checkpoint(model=backbone).write(str(tmp_path / 'ckpt'))

  fresh = wide_resnet38.WideResNet38('a1', width_multiplier=_NARROW)
  fresh(images)
  tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
  restored = fresh(images, training=False)
  for name in expected:
    np.testing.assert_array_equal(restored[name].numpy(), expected[name].numpy())

  keys = {name for name, _ in tf.train.list_variables(path)}
  for key in ('model/conv1a/kernel', 'model/b2/0/bn1/gamma', 'model/b2/0/conv1/kernel',
              'model/b2/0/shortcut/kernel', 'model/b4/5/conv2/kernel', 'model/b6/0/conv3/kernel',
              'model/b7/0/bn3/moving_variance', 'model/final_bn/beta'):
    assert f'{key}/.ATTRIBUTES/VARIABLE_VALUE' in keys, key
  names = {v.name for v in backbone.weights}
  assert {'wide_resnet38/conv1a/kernel:0', 'wide_resnet38/b2_unit1/shortcut/kernel:0',
          'wide_resnet38/b5_unit3/bn2/moving_mean:0', 'wide_resnet38/b7_unit1/conv3/kernel:0',
          'wide_resnet38/final_bn/gamma:0'} <= names


def test_from_variant_and_the_variant_table():
  assert set(wide_resnet38.VARIANTS) == {'a', 'a1'}
  assert wide_resnet38.VARIANTS['a'].downsampling == 'pool'
  assert wide_resnet38.VARIANTS['a1'].downsampling == 'conv'
  model = wide_resnet38.WideResNet38.from_variant('a1', output_stride=8)
  assert (model.variant, model.output_stride) == ('a1', 8)


@pytest.mark.parametrize('kwargs, message', [
    (dict(variant='b'), r"variant='b'.*\['a', 'a1'\]"),
    (dict(output_stride=12), 'output_stride=12'),
    (dict(b6_dropout_rate=-0.1), r'b6_dropout_rate=-0\.1'),
    (dict(b7_dropout_rate=1.0), r'b7_dropout_rate=1\.0'),
    (dict(b1_units=-1), 'b1_units=-1'),
    (dict(width_multiplier=0), 'width_multiplier=0'),
    (dict(bn_momentum=1.0), r'bn_momentum=1\.0'),
    (dict(bn_epsilon=0), 'bn_epsilon=0'),
])
def test_invalid_arguments_name_the_value(kwargs, message):
  with pytest.raises(ValueError, match=message):
    wide_resnet38.WideResNet38(**kwargs)


def test_unit_arguments_are_checked():
  with pytest.raises(ValueError, match=r'filters=\(8,\)'):
    wide_resnet38.PreActivationUnit((8,))
  with pytest.raises(ValueError, match='strides=2 needs projection_shortcut=True'):
    wide_resnet38.PreActivationUnit((8, 8), strides=2)
  with pytest.raises(ValueError, match='identity shortcut needs 8 input channels, got 4'):
    wide_resnet38.PreActivationUnit((8, 8))(tf.zeros([1, 4, 4, 4]))



def test_pools_and_strided_units_compile_with_xla():
  """TPUs need every op XLA-compilable: the padded/dilated max pools and a unit with strided 1x1 convs
  (the rest of the network is plain convolutions and BN)."""
  unit = wide_resnet38.PreActivationUnit((4, 8, 16), strides=2, projection_shortcut=True, dropout_rate=0.5)
  x = tf.random.normal([2, 9, 9, 4])
  unit(x)

  @tf.function(jit_compile=True)
  def step(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = unit(x, training=True)
      pooled = wide_resnet38.max_pool_3x3(y, 2, 1) + wide_resnet38.max_pool_3x3(y, 1, 2)[:, ::2, ::2]
      loss = tf.reduce_mean(tf.square(pooled))
    return pooled, tape.gradient(loss, [x] + unit.trainable_variables)

  pooled, gradients = step(x)
  assert pooled.shape == (2, 3, 3, 16)
  assert all(g is not None and np.isfinite(g.numpy()).all() for g in gradients)
