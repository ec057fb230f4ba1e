"""Tests of widescale.models.heads.panoptic_deeplab."""

import numpy as np
import pytest
import tensorflow as tf

from widescale.models.heads import panoptic_deeplab as heads


def _num_params(layer):
  return sum(int(np.prod(v.shape)) for v in layer.trainable_weights)


def _features(batch=2):
  return {'res2': tf.random.normal([batch, 16, 16, 12]), 'res3': tf.random.normal([batch, 8, 8, 20]),
          'res5': tf.random.normal([batch, 4, 4, 40])}


def test_decoder_output_is_at_the_finest_low_level_resolution():
  decoder = heads.PanopticDeepLabDecoder(24, (8, 4), aspp_channels=16, atrous_rates=(1, 2, 3))
  outputs = decoder(_features(), training=True)
  assert outputs.shape == (2, 16, 16, 24)


def test_decoder_parameter_count_is_aspp_projections_and_separable_fusions():
  decoder = heads.PanopticDeepLabDecoder(24, (8, 4), aspp_channels=16, atrous_rates=(1, 2, 3))
  decoder(_features(1))
  aspp = 40 * 16 + 3 * 9 * 40 * 16 + 40 * 16 + 5 * 16 * 16 + 6 * 2 * 16
  projections = (20 * 8 + 2 * 8) + (12 * 4 + 2 * 4)
  # Separable 5x5: depthwise + BN on the concatenation, pointwise + BN to the decoder width.
  fusion_res3 = 25 * (16 + 8) + 2 * (16 + 8) + (16 + 8) * 24 + 2 * 24
  fusion_res2 = 25 * (24 + 4) + 2 * (24 + 4) + (24 + 4) * 24 + 2 * 24
  assert _num_params(decoder) == aspp + projections + fusion_res3 + fusion_res2


def test_head_predicts_near_zero_at_init_with_its_shape():
  head = heads.PanopticDeepLabHead(8, 5)
  outputs = head(tf.random.normal([2, 6, 6, 4]), training=False)
  assert outputs.shape == (2, 6, 6, 5)
  assert float(tf.math.reduce_std(head.prediction.kernel)) < 0.02
  np.testing.assert_array_equal(head.prediction.bias.numpy(), 0.0)
  assert _num_params(head) == 25 * 4 + 2 * 4 + 4 * 8 + 2 * 8 + 8 * 5 + 5


def test_config_round_trips():
  decoder = heads.PanopticDeepLabDecoder(24, (8,), low_level_feature_keys=('res3',), aspp_channels=16,
                                         atrous_rates=(2, 4, 6), aspp_pool_size=(3, 3), aspp_dropout_rate=0.2,
                                         fusion_kernel_size=3, bn_momentum=0.9, sync_batch_norm=True)
  assert heads.PanopticDeepLabDecoder.from_config(decoder.get_config()).get_config() == decoder.get_config()
  head = heads.PanopticDeepLabHead(8, 2, kernel_size=3, bn_epsilon=1e-5)
  assert heads.PanopticDeepLabHead.from_config(head.get_config()).get_config() == head.get_config()


def test_invalid_arguments_name_the_value():
  with pytest.raises(ValueError, match=r'low_level_channels=\(8,\)'):
    heads.PanopticDeepLabDecoder(24, (8,), low_level_feature_keys=('res3', 'res2'))
  with pytest.raises(ValueError, match='head_channels=0'):
    heads.PanopticDeepLabHead(0, 3)
