"""Panoptic-DeepLab: a backbone, a semantic and an instance decoder, and three heads.

Cheng et al., "Panoptic-DeepLab: A Simple, Strong, and Fast Baseline for Bottom-Up Panoptic Segmentation",
CVPR 2020 (arXiv 1911.10194). Defaults are deeplab2's Cityscapes configs
(`configs/cityscapes/panoptic_deeplab/*_os16.textproto`):

  semantic: ASPP 256 -> fuse res3 (-> 64) and res2 (-> 32) at 256 channels -> head 256 -> num_classes
  instance: ASPP 256 -> fuse res3 (-> 32) and res2 (-> 16) at 128 channels -> center head 32 -> 1
                                                                         -> offset head 32 -> 2 (dy, dx)

The model returns predictions only; losses live in `widescale.tasks`.
"""

import numbers
from typing import Optional, Sequence

import tensorflow as tf
import tf_keras

from widescale.layers import aspp
from widescale.layers import conv_bn_act
from widescale.models.heads import panoptic_deeplab as heads
from widescale.layers import resize


def _resize(tensor, size):
  # float32 for the outputs: the losses and post-processing run in float32 even when the model is bf16.
  return resize.resize_bilinear_align_corners(tf.cast(tensor, tf.float32), size)


@tf_keras.utils.register_keras_serializable(package='widescale')
class PanopticDeepLab(tf_keras.Model):
  """Backbone + decoders + heads; `call(images, training=None)` returns a dict at input resolution.

  `images` are [B, H, W, 3] in [0, 255] (float or uint8); the model normalises them to x / 127.5 - 1.
  Outputs (float32):
    'semantic_logits': [B, H, W, num_classes]
    'center_heatmap':  [B, H, W] (no sigmoid)
    'center_offsets':  [B, H, W, 2], (dy, dx) in input pixels from a pixel to its instance center; the
                       head predicts them at stride 4 and they are rescaled with the upsampling.

  Args:
    backbone: a layer mapping images to a dict of endpoints with `high_level_feature_key` and the
      `low_level_feature_keys`, e.g. `SWideRNet`.
    num_classes: number of semantic classes.
    atrous_rates: the ASPPs' rates; None takes deeplab2's rates for `backbone.output_stride`
      ((6, 12, 18) at 16, (3, 6, 9) at 32, (12, 24, 36) at 8).
    aspp_pool_size: ASPP image-pooling window in feature pixels, None for global pooling; deeplab2
      uses the training crop, `widescale.layers.aspp.pool_size_for_crop(crop, output_stride)`.
    aspp_channels: channels of the semantic ASPP (256).
    aspp_dropout_rate: dropout after each ASPP (0.1).
    semantic_decoder_channels: channels of the semantic decoder (256).
    semantic_low_level_channels: projections of the low-level features in the semantic decoder (64, 32).
    instance_aspp_channels: channels of the instance ASPP (256).
    instance_decoder_channels: channels of the instance decoder (128).
    instance_low_level_channels: projections in the instance decoder (32, 16).
    semantic_head_channels: channels of the semantic head's separable conv (256).
    center_head_channels: channels of the center head's separable conv (32).
    offset_head_channels: channels of the offset head's separable conv (32).
    low_level_feature_keys: low-level endpoints, coarse to fine (('res3', 'res2')).
    high_level_feature_key: endpoint fed to both ASPPs ('res5').
    bn_momentum: BN momentum of the decoders and heads.
    bn_epsilon: BN epsilon of the decoders and heads.
    sync_batch_norm: synchronise BN statistics of the decoders and heads across replicas.
    **kwargs: Model arguments (name, ...).
  """

  def __init__(self,
               backbone: tf_keras.layers.Layer,
               num_classes: int,
               atrous_rates: Optional[Sequence[int]] = None,
               aspp_pool_size: Optional[Sequence[int]] = None,
               aspp_channels: int = 256,
               aspp_dropout_rate: float = 0.1,
               semantic_decoder_channels: int = 256,
               semantic_low_level_channels: Sequence[int] = (64, 32),
               instance_aspp_channels: int = 256,
               instance_decoder_channels: int = 128,
               instance_low_level_channels: Sequence[int] = (32, 16),
               semantic_head_channels: int = 256,
               center_head_channels: int = 32,
               offset_head_channels: int = 32,
               low_level_feature_keys: Sequence[str] = ('res3', 'res2'),
               high_level_feature_key: str = 'res5',
               bn_momentum: float = 0.99,
               bn_epsilon: float = 1e-3,
               sync_batch_norm: bool = False,
               **kwargs):
    kwargs.setdefault('name', 'panoptic_deeplab')
    super().__init__(**kwargs)
    if not isinstance(backbone, tf_keras.layers.Layer):
      raise ValueError(f'PanopticDeepLab: backbone must be a tf_keras Layer returning a dict of endpoints, '
                       f'got backbone={backbone!r}.')
    if not (isinstance(num_classes, int) and num_classes >= 1):
      raise ValueError(f'PanopticDeepLab: num_classes must be a positive int, got num_classes={num_classes!r}.')
    # Checked here, not only in the decoders and heads, so the message names this model's argument.
    for arg, value in (('aspp_channels', aspp_channels), ('semantic_decoder_channels', semantic_decoder_channels),
                       ('instance_aspp_channels', instance_aspp_channels),
                       ('instance_decoder_channels', instance_decoder_channels),
                       ('semantic_head_channels', semantic_head_channels),
                       ('center_head_channels', center_head_channels),
                       ('offset_head_channels', offset_head_channels)):
      if not (isinstance(value, numbers.Integral) and value >= 1):
        raise ValueError(f'PanopticDeepLab: {arg} must be an int >= 1, got {arg}={value!r}.')
    for arg, value in (('semantic_low_level_channels', semantic_low_level_channels),
                       ('instance_low_level_channels', instance_low_level_channels)):
      if (len(value) != len(low_level_feature_keys) or
          not all(isinstance(channels, numbers.Integral) and channels >= 1 for channels in value)):
        raise ValueError(f'PanopticDeepLab: {arg} must give one width >= 1 per low-level feature '
                         f'{tuple(low_level_feature_keys)!r}, got {arg}={tuple(value)!r}.')
    if not 0.0 <= aspp_dropout_rate < 1.0:
      raise ValueError(f'PanopticDeepLab: aspp_dropout_rate must be in [0, 1), '
                       f'got aspp_dropout_rate={aspp_dropout_rate!r}.')
    if aspp_pool_size is not None and (len(aspp_pool_size) != 2 or any(int(s) < 1 for s in aspp_pool_size)):
      raise ValueError(f'PanopticDeepLab: aspp_pool_size must be None or (height, width) >= 1, '
                       f'got aspp_pool_size={aspp_pool_size!r}.')
    conv_bn_act.check_batch_norm_args('PanopticDeepLab', bn_momentum, bn_epsilon)
    if atrous_rates is None:
      output_stride = getattr(backbone, 'output_stride', None)
      if output_stride is None:
        raise ValueError(f'PanopticDeepLab: atrous_rates=None needs a backbone with an `output_stride` '
                         f'attribute; {type(backbone).__name__} has none, so pass atrous_rates.')
      atrous_rates = aspp.atrous_rates_for_output_stride(output_stride)
    self.backbone = backbone
    self.num_classes = num_classes
    self.atrous_rates = tuple(int(rate) for rate in atrous_rates)
    self.aspp_pool_size = None if aspp_pool_size is None else tuple(int(s) for s in aspp_pool_size)
    self.aspp_channels = aspp_channels
    self.aspp_dropout_rate = aspp_dropout_rate
    self.semantic_decoder_channels = semantic_decoder_channels
    self.semantic_low_level_channels = tuple(semantic_low_level_channels)
    self.instance_aspp_channels = instance_aspp_channels
    self.instance_decoder_channels = instance_decoder_channels
    self.instance_low_level_channels = tuple(instance_low_level_channels)
    self.semantic_head_channels = semantic_head_channels
    self.center_head_channels = center_head_channels
    self.offset_head_channels = offset_head_channels
    self.low_level_feature_keys = tuple(low_level_feature_keys)
    self.high_level_feature_key = high_level_feature_key
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm

    bn = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, sync_batch_norm=sync_batch_norm)
    decoder = dict(low_level_feature_keys=self.low_level_feature_keys,
                   high_level_feature_key=high_level_feature_key, atrous_rates=self.atrous_rates,
                   aspp_pool_size=self.aspp_pool_size, aspp_dropout_rate=aspp_dropout_rate, **bn)
    self.semantic_decoder = heads.PanopticDeepLabDecoder(
        semantic_decoder_channels, self.semantic_low_level_channels, aspp_channels=aspp_channels,
        name='semantic_decoder', **decoder)
    self.instance_decoder = heads.PanopticDeepLabDecoder(
        instance_decoder_channels, self.instance_low_level_channels, aspp_channels=instance_aspp_channels,
        name='instance_decoder', **decoder)
    self.semantic_head = heads.PanopticDeepLabHead(
        semantic_head_channels, num_classes, name='semantic_head', **bn)
    self.center_head = heads.PanopticDeepLabHead(center_head_channels, 1, name='center_head', **bn)
    self.offset_head = heads.PanopticDeepLabHead(offset_head_channels, 2, name='offset_head', **bn)

  def call(self, images, training=None):
    images = tf.cast(images, self.compute_dtype)
    features = self.backbone(images / 127.5 - 1.0, training=training)
    semantic_features = self.semantic_decoder(features, training=training)
    instance_features = self.instance_decoder(features, training=training)
    semantic_logits = self.semantic_head(semantic_features, training=training)
    center_heatmap = self.center_head(instance_features, training=training)
    center_offsets = self.offset_head(instance_features, training=training)

    input_size = tf.shape(images)[1:3]
    # With align corners, output pixel i sits at feature pixel i * (h - 1) / (H - 1), so a displacement
    # of d feature pixels is d * (H - 1) / (h - 1) input pixels.
    scale = tf.cast(input_size - 1, tf.float32) / tf.cast(tf.shape(center_offsets)[1:3] - 1, tf.float32)
    return {
        'semantic_logits': _resize(semantic_logits, input_size),
        'center_heatmap': tf.squeeze(_resize(center_heatmap, input_size), axis=-1),
        'center_offsets': _resize(center_offsets, input_size) * scale,
    }

  def get_config(self):
    # Model.get_config of a subclassed model drops name/trainable/dtype; Layer's keeps them.
    config = tf_keras.layers.Layer.get_config(self)
    config.update(
        backbone=tf_keras.layers.serialize(self.backbone),
        num_classes=self.num_classes,
        atrous_rates=list(self.atrous_rates),
        aspp_pool_size=None if self.aspp_pool_size is None else list(self.aspp_pool_size),
        aspp_channels=self.aspp_channels,
        aspp_dropout_rate=self.aspp_dropout_rate,
        semantic_decoder_channels=self.semantic_decoder_channels,
        semantic_low_level_channels=list(self.semantic_low_level_channels),
        instance_aspp_channels=self.instance_aspp_channels,
        instance_decoder_channels=self.instance_decoder_channels,
        instance_low_level_channels=list(self.instance_low_level_channels),
        semantic_head_channels=self.semantic_head_channels,
        center_head_channels=self.center_head_channels,
        offset_head_channels=self.offset_head_channels,
        low_level_feature_keys=list(self.low_level_feature_keys),
        high_level_feature_key=self.high_level_feature_key,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
    )
    return config

  @classmethod
  def from_config(cls, config, custom_objects=None):
    config = dict(config)
    config['backbone'] = tf_keras.layers.deserialize(config['backbone'], custom_objects=custom_objects)
    return cls(**config)
