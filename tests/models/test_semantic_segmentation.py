"""Tests of widescale.models.semantic_segmentation and widescale.models.heads.semantic (narrow
Wide-ResNet-38 backbones at 64x48; full-size head parameter counts on a tiny feature map)."""

import gc

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from widescale.models import semantic_segmentation
from widescale.models import summary
from widescale.models.backbones import wide_resnet38
from widescale.models.heads import semantic

_NARROW = 1 / 16  # B7 has 256 channels
# Small rates keep the tiny-input tests fast (CPU dilated convs with rates above the map size are slow);
# the published rate 12 is the default, checked in test_head_defaults_are_the_published_classifiers.
_RATE = 2


@pytest.fixture
def free_memory():
  """Releases a full-size model's memory after the test (cheap tests skip the ~0.15 s this costs)."""
  yield
  tf_keras.backend.clear_session()
  gc.collect()


def _backbone(output_stride=8):
  return wide_resnet38.WideResNet38('a1', output_stride=output_stride, width_multiplier=_NARROW)


def _heads(num_classes):
  return {
      '1 conv': semantic.SemanticHead(num_classes, num_convs=1, dilation_rate=_RATE),
      '2 conv': semantic.SemanticHead(num_classes, num_convs=2, hidden_channels=32, dilation_rate=_RATE),
      'deeplabv3': semantic.DeepLabV3Head(num_classes, atrous_rates=(1, 2, 3), aspp_channels=16),
  }


@pytest.mark.parametrize('head_name', ['1 conv', '2 conv', 'deeplabv3'])
def test_logits_at_input_resolution(head_name):
  model = semantic_segmentation.SemanticSegmentation(_backbone(), _heads(5)[head_name])
  outputs = model(tf.random.uniform([2, 64, 48, 3], 0, 255), training=True)
  assert set(outputs) == {'semantic_logits'}
  assert outputs['semantic_logits'].shape == (2, 64, 48, 5)
  assert outputs['semantic_logits'].dtype == tf.float32
  assert model.num_classes == 5


def test_upsampling_aligns_corners_with_the_feature_map():
  model = semantic_segmentation.SemanticSegmentation(_backbone(), _heads(3)['1 conv'])
  images = tf.random.uniform([1, 57, 41, 3], 0, 255)  # stride-8 map is 8 x 6
  logits = model(images)['semantic_logits'].numpy()
  features = model.backbone(images / 127.5 - 1.0)
  coarse = model.head(features).numpy()
  assert coarse.shape == (1, 8, 6, 3)
  for (y, x), (fy, fx) in {(0, 0): (0, 0), (56, 40): (7, 5), (0, 40): (0, 5), (56, 0): (7, 0),
                           (8, 8): (1, 1)}.items():
    np.testing.assert_allclose(logits[0, y, x], coarse[0, fy, fx], rtol=1e-4, atol=1e-5)


def test_uint8_and_float_images_give_the_same_logits():
  model = semantic_segmentation.SemanticSegmentation(_backbone(), _heads(4)['2 conv'])
  images = tf.random.uniform([1, 32, 32, 3], 0, 256, tf.int32)
  as_uint8 = model(tf.cast(images, tf.uint8))['semantic_logits'].numpy()
  as_float = model(tf.cast(images, tf.float32))['semantic_logits'].numpy()
  np.testing.assert_allclose(as_uint8, as_float, rtol=1e-5, atol=1e-6)


def test_head_built_from_num_classes_as_gin_passes_it():
  model = semantic_segmentation.SemanticSegmentation(_backbone(), semantic.SemanticHead, num_classes=6)
  assert isinstance(model.head, semantic.SemanticHead)
  assert (model.head.num_classes, model.num_classes, model.head.name) == (6, 6, 'semantic_head')


def test_head_defaults_are_the_published_classifiers():
  two_conv = semantic.SemanticHead(21)
  assert (two_conv.num_convs, two_conv.hidden_channels, two_conv.kernel_size, two_conv.dilation_rate,
          two_conv.feature_key) == (2, 512, 3, 12, 'res5')
  assert [layer.dilation_rate for layer in two_conv.convs] == [(12, 12)] * 2
  deeplab = semantic.DeepLabV3Head(21)
  assert deeplab.atrous_rates == (12, 24, 36)


@pytest.mark.usefixtures('free_memory')
@pytest.mark.parametrize('num_convs, params', [
    (1, 9 * 4096 * 21 + 21),  # "1 conv": 3x3 4096 -> 21 with bias
    (2, 9 * 4096 * 512 + 512 + 9 * 512 * 21 + 21),  # "2 conv": 3x3 4096 -> 512 -> 21, biases
])
def test_full_size_head_parameters(num_convs, params):
  head = semantic.SemanticHead(21, num_convs=num_convs, dilation_rate=1, kernel_initializer='zeros')
  logits = head({'res5': tf.zeros([1, 3, 3, 4096])})
  assert logits.shape == (1, 3, 3, 21)
  assert summary.count_trainable_params(head) == params


def test_heads_read_their_feature_key():
  head = semantic.SemanticHead(3, num_convs=1, dilation_rate=1, feature_key='res3')
  assert head({'res3': tf.zeros([1, 4, 4, 8]), 'res5': tf.zeros([1, 2, 2, 16])}).shape == (1, 4, 4, 3)
  with pytest.raises(KeyError, match="feature_key='res9'"):
    semantic.SemanticHead(3, feature_key='res9')({'res5': tf.zeros([1, 2, 2, 4])})
  with pytest.raises(KeyError, match="feature_key='res9'"):
    semantic.DeepLabV3Head(3, feature_key='res9')({'res5': tf.zeros([1, 2, 2, 4])})


def test_every_trainable_variable_gets_a_gradient():
  model = semantic_segmentation.SemanticSegmentation(_backbone(), _heads(3)['2 conv'])
  images = tf.random.uniform([2, 32, 32, 3], 0, 255)
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.square(model(images, training=True)['semantic_logits']))
  gradients = tape.gradient(loss, model.trainable_variables)
  assert not [v.name for v, g in zip(model.trainable_variables, gradients) if g is None]


@pytest.mark.parametrize('head_name', ['2 conv', 'deeplabv3'])
def test_config_round_trip(head_name):
  model = semantic_segmentation.SemanticSegmentation(_backbone(16), _heads(4)[head_name],
                                                     normalize_input=False, name='tiny_seg')
  config = model.get_config()
  clone = semantic_segmentation.SemanticSegmentation.from_config(config)
  assert clone.get_config() == config
  assert type(clone.head) is type(model.head)
  assert clone.backbone.get_config() == model.backbone.get_config()
  assert (clone.name, clone.num_classes, clone.normalize_input) == ('tiny_seg', 4, False)
  images = tf.zeros([1, 32, 32, 3])
  model(images)
  clone(images)
  assert [v.shape for v in clone.weights] == [v.shape for v in model.weights]


def test_semantic_head_config_round_trip():
  head = semantic.SemanticHead(7, num_convs=3, hidden_channels=16, kernel_size=1, dilation_rate=4,
                               feature_key='res4', dropout_rate=0.1, kernel_initializer='glorot_uniform')
  assert semantic.SemanticHead.from_config(head.get_config()).get_config() == head.get_config()


def test_checkpoint_restores_identical_logits(tmp_path):
  images = tf.random.uniform([1, 32, 32, 3], 0, 255)
  model = semantic_segmentation.SemanticSegmentation(_backbone(), _heads(3)['2 conv'])
  model(images, training=True)
  expected = model(images)['semantic_logits'].numpy()
  path = tf.train.Checkpoint(model=model).write(str(tmp_path / 'ckpt'))
  fresh = semantic_segmentation.SemanticSegmentation(_backbone(), _heads(3)['2 conv'])
  fresh(images)
  tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
  np.testing.assert_array_equal(fresh(images)['semantic_logits'].numpy(), expected)
  keys = {name for name, _ in tf.train.list_variables(path)}
  for key in ('model/head/conv1/kernel', 'model/head/conv1/bias', 'model/head/classifier/kernel',
              'model/backbone/b5/0/conv2/kernel'):
    assert f'{key}/.ATTRIBUTES/VARIABLE_VALUE' in keys, key


def test_mixed_bfloat16_keeps_float32_logits():
  tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  try:
    model = semantic_segmentation.SemanticSegmentation(wide_resnet38.WideResNet38('a', output_stride=8,
                                                                                  width_multiplier=_NARROW),
                                                       _heads(3)['1 conv'])
    logits = model(tf.random.uniform([1, 32, 32, 3], 0, 255), training=True)['semantic_logits']
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  assert logits.dtype == tf.float32 and logits.shape == (1, 32, 32, 3)
  assert model.backbone.conv1a.kernel.dtype == tf.float32


@pytest.mark.parametrize('make, message', [
    (lambda: semantic.SemanticHead(0), 'num_classes=0'),
    (lambda: semantic.SemanticHead(3, num_convs=0), 'num_convs=0'),
    (lambda: semantic.SemanticHead(3, dilation_rate=0), 'dilation_rate=0'),
    (lambda: semantic.SemanticHead(3, dropout_rate=-0.5), r'dropout_rate=-0\.5'),
    (lambda: semantic.DeepLabV3Head(0), 'num_classes=0'),
    (lambda: semantic_segmentation.SemanticSegmentation(_backbone(), semantic.SemanticHead),
     'needs num_classes; got num_classes=None'),
    (lambda: semantic_segmentation.SemanticSegmentation(_backbone(), semantic.SemanticHead(3), num_classes=4),
     'num_classes=4 but the head predicts 3'),
    (lambda: semantic_segmentation.SemanticSegmentation(_backbone(), 'head'), "head='head'"),
    (lambda: semantic_segmentation.SemanticSegmentation(_backbone(), semantic.SemanticHead, num_classes=-2),
     'num_classes=-2'),
])
def test_invalid_arguments_name_the_value(make, message):
  with pytest.raises(ValueError, match=message):
    make()
