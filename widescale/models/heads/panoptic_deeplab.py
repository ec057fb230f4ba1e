"""Panoptic-DeepLab decoders and prediction heads.

Cheng et al., "Panoptic-DeepLab: A Simple, Strong, and Fast Baseline for Bottom-Up Panoptic Segmentation",
CVPR 2020 (arXiv 1911.10194), as google-research/deeplab2 builds it (`model/decoder/panoptic_deeplab.py`):
a decoder is an ASPP on the last backbone feature followed by one fusion per low-level feature
(1x1 projection of the low-level feature, align-corners upsampling of the decoder feature, concat, 5x5
depthwise-separable conv); a head is a 5x5 depthwise-separable conv and a 1x1 prediction conv.
"""

from typing import Optional, Sequence

import tensorflow as tf
import tf_keras

from widescale.layers import aspp
from widescale.layers import conv_bn_act
from widescale.layers import resize


@tf_keras.utils.register_keras_serializable(package='widescale')
class PanopticDeepLabDecoder(tf_keras.layers.Layer):
  """ASPP on `high_level_feature_key`, then fuses the low-level features from coarse to fine.

  `call(features, training=None)` takes the backbone's endpoint dict and returns a
  [B, h, w, decoder_channels] tensor at the resolution of the last low-level feature (stride 4).

  Args:
    decoder_channels: output channels of each fusion conv (256 semantic, 128 instance).
    low_level_channels: channels each low-level feature is projected to, e.g. (64, 32).
    low_level_feature_keys: endpoint names of the low-level features, coarse to fine ('res3', 'res2').
    high_level_feature_key: endpoint name fed to the ASPP ('res5').
    aspp_channels: ASPP channels (256).
    atrous_rates: the ASPP's three rates.
    aspp_pool_size: ASPP image-pooling window in feature pixels, or None for global pooling.
    aspp_dropout_rate: dropout after the ASPP projection (0.1).
    fusion_kernel_size: kernel of the separable fusion convs (5).
    bn_momentum: BN momentum.
    bn_epsilon: BN epsilon.
    sync_batch_norm: synchronise BN statistics across replicas.
    kernel_initializer: convolution kernel initializer.
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self,
               decoder_channels: int = 256,
               low_level_channels: Sequence[int] = (64, 32),
               low_level_feature_keys: Sequence[str] = ('res3', 'res2'),
               high_level_feature_key: str = 'res5',
               aspp_channels: int = 256,
               atrous_rates: Sequence[int] = (6, 12, 18),
               aspp_pool_size: Optional[Sequence[int]] = None,
               aspp_dropout_rate: float = 0.1,
               fusion_kernel_size: int = 5,
               bn_momentum: float = 0.99,
               bn_epsilon: float = 1e-3,
               sync_batch_norm: bool = False,
               kernel_initializer='he_normal',
               **kwargs):
    super().__init__(**kwargs)
    if len(low_level_channels) != len(low_level_feature_keys):
      raise ValueError(f'PanopticDeepLabDecoder: one projection width per low-level feature expected, got '
                       f'low_level_channels={tuple(low_level_channels)!r} for '
                       f'low_level_feature_keys={tuple(low_level_feature_keys)!r}.')
    if int(decoder_channels) < 1:
      raise ValueError(f'PanopticDeepLabDecoder: decoder_channels must be >= 1, '
                       f'got decoder_channels={decoder_channels!r}.')
    if any(int(channels) < 1 for channels in low_level_channels):
      raise ValueError(f'PanopticDeepLabDecoder: low_level_channels must be >= 1, '
                       f'got low_level_channels={tuple(low_level_channels)!r}.')
    for arg, value in (('aspp_channels', aspp_channels), ('fusion_kernel_size', fusion_kernel_size)):
      if int(value) < 1:
        raise ValueError(f'PanopticDeepLabDecoder: {arg} must be >= 1, got {arg}={value!r}.')
    self.decoder_channels = int(decoder_channels)
    self.low_level_channels = tuple(int(c) for c in low_level_channels)
    self.low_level_feature_keys = tuple(low_level_feature_keys)
    self.high_level_feature_key = high_level_feature_key
    self.aspp_channels = int(aspp_channels)
    self.atrous_rates = tuple(int(rate) for rate in atrous_rates)
    self.aspp_pool_size = None if aspp_pool_size is None else tuple(int(s) for s in aspp_pool_size)
    self.aspp_dropout_rate = aspp_dropout_rate
    self.fusion_kernel_size = int(fusion_kernel_size)
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm
    self.kernel_initializer = kernel_initializer

    common = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, sync_batch_norm=sync_batch_norm,
                  kernel_initializer=kernel_initializer)
    self.aspp = aspp.ASPP(self.aspp_channels, self.atrous_rates, pool_size=self.aspp_pool_size,
                          dropout_rate=aspp_dropout_rate, name='aspp', **common)
    self.projections = [
        conv_bn_act.ConvBNAct(channels, 1, name=f'{key}_projection', **common)
        for key, channels in zip(self.low_level_feature_keys, self.low_level_channels)
    ]
    self.fusions = [
        conv_bn_act.ConvBNAct(self.decoder_channels, self.fusion_kernel_size, conv_type='separable',
                              name=f'{key}_fusion', **common)
        for key in self.low_level_feature_keys
    ]

  def call(self, features, training=None):
    x = self.aspp(features[self.high_level_feature_key], training=training)
    for key, projection, fusion in zip(self.low_level_feature_keys, self.projections, self.fusions):
      low_level = projection(features[key], training=training)
      # Align-corners resizing maps stride-s pixel i onto input pixel s*i at every level, which the
      # symmetric padding of strided convs in the backbone preserves.
      upsampled = resize.resize_bilinear_align_corners(x, tf.shape(low_level)[1:3])
      upsampled = tf.cast(upsampled, low_level.dtype)
      upsampled.set_shape(low_level.shape[:-1].concatenate(x.shape[-1:]))
      x = fusion(tf.concat([upsampled, low_level], axis=-1), training=training)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(
        decoder_channels=self.decoder_channels,
        low_level_channels=list(self.low_level_channels),
        low_level_feature_keys=list(self.low_level_feature_keys),
        high_level_feature_key=self.high_level_feature_key,
        aspp_channels=self.aspp_channels,
        atrous_rates=list(self.atrous_rates),
        aspp_pool_size=None if self.aspp_pool_size is None else list(self.aspp_pool_size),
        aspp_dropout_rate=self.aspp_dropout_rate,
        fusion_kernel_size=self.fusion_kernel_size,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
        kernel_initializer=conv_bn_act.serialize_initializer(self.kernel_initializer),
    )
    return config


@tf_keras.utils.register_keras_serializable(package='widescale')
class PanopticDeepLabHead(tf_keras.layers.Layer):
  """k x k depthwise-separable conv + BN-ReLU, then a 1x1 prediction conv with bias.

  The prediction kernel starts from a truncated normal with stddev 0.01 and a zero bias, so initial
  predictions are near zero (deeplab2). `call(features, training=None)` returns
  [B, h, w, output_channels] at the decoder's resolution.

  Args:
    head_channels: channels of the separable conv (256 semantic, 32 center and offset).
    output_channels: number of predictions per pixel (num_classes, 1 or 2).
    kernel_size: kernel of the separable conv (5).
    bn_momentum: BN momentum.
    bn_epsilon: BN epsilon.
    sync_batch_norm: synchronise BN statistics across replicas.
    kernel_initializer: initializer of the separable conv's kernels.
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self,
               head_channels: int,
               output_channels: int,
               kernel_size: int = 5,
               bn_momentum: float = 0.99,
               bn_epsilon: float = 1e-3,
               sync_batch_norm: bool = False,
               kernel_initializer='he_normal',
               **kwargs):
    super().__init__(**kwargs)
    for arg, value in (('head_channels', head_channels), ('output_channels', output_channels),
                       ('kernel_size', kernel_size)):
      if int(value) < 1:
        raise ValueError(f'PanopticDeepLabHead: {arg} must be >= 1, got {arg}={value!r}.')
    self.head_channels = int(head_channels)
    self.output_channels = int(output_channels)
    self.kernel_size = int(kernel_size)
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm
    self.kernel_initializer = kernel_initializer

    self.conv = conv_bn_act.ConvBNAct(
        self.head_channels, self.kernel_size, conv_type='separable', bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon, sync_batch_norm=sync_batch_norm, kernel_initializer=kernel_initializer,
        name='conv')
    self.prediction = tf_keras.layers.Conv2D(
        self.output_channels, 1, use_bias=True,
        kernel_initializer=tf_keras.initializers.TruncatedNormal(stddev=0.01), name='prediction')

  def call(self, features, training=None):
    return self.prediction(self.conv(features, training=training))

  def get_config(self):
    config = super().get_config()
    config.update(
        head_channels=self.head_channels,
        output_channels=self.output_channels,
        kernel_size=self.kernel_size,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
        kernel_initializer=conv_bn_act.serialize_initializer(self.kernel_initializer),
    )
    return config
