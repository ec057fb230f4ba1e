"""Tests of widescale.models.summary."""

import json

import pytest
import tensorflow as tf
import tf_keras

from widescale.models import panoptic_deeplab
from widescale.models import summary
from widescale.models.backbones import swidernet


def test_flops_of_one_convolution_are_two_per_multiply_add_plus_the_bias():
  model = tf_keras.Sequential([tf_keras.layers.Conv2D(8, 3, padding='same')])
  flops = summary.count_flops(model, [1, 10, 12, 4])
  assert flops == 2 * 10 * 12 * 9 * 4 * 8 + 10 * 12 * 8


def test_count_trainable_params_needs_a_built_model_and_skips_bn_statistics():
  model = tf_keras.Sequential([tf_keras.layers.Conv2D(8, 3, use_bias=False),
                               tf_keras.layers.BatchNormalization()])
  with pytest.raises(ValueError, match='not built'):
    summary.count_trainable_params(model)
  model.build([None, 8, 8, 4])
  assert summary.count_trainable_params(model) == 9 * 4 * 8 + 2 * 8


def test_summarize_an_unbuilt_panoptic_deeplab_gives_json_values():
  backbone = swidernet.SWideRNet(0.25, 0.125, 0.5, output_stride=32)
  model = panoptic_deeplab.PanopticDeepLab(backbone, 5, aspp_channels=8, instance_aspp_channels=8,
                                           semantic_decoder_channels=8, instance_decoder_channels=8)
  result = summary.summarize(model, (2, 64, 64, 3))
  assert result['input_shape'] == [2, 64, 64, 3]
  assert result['output_shapes'] == {'center_heatmap': [2, 64, 64], 'center_offsets': [2, 64, 64, 2],
                                     'semantic_logits': [2, 64, 64, 5]}
  assert result['trainable_params'] == sum(int(tf.size(v)) for v in model.trainable_variables)
  assert result['flops'] > 0
  json.dumps(result)


def test_static_shape_required():
  with pytest.raises(ValueError, match=r'input_shape=\[None, 64, 64, 3\]'):
    summary.count_flops(tf_keras.Sequential([tf_keras.layers.Conv2D(2, 1)]), [None, 64, 64, 3])
