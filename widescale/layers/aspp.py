"""Atrous spatial pyramid pooling (DeepLabv3, Chen et al., arXiv 1706.05587).

Five parallel branches on the backbone's last feature map -- a 1x1 conv, three 3x3 atrous convs and image
pooling -- concatenated, projected by a 1x1 conv and regularised by dropout.

Image pooling averages over a window of `pool_size` feature pixels instead of the whole map when asked:
deeplab2 sets the window to the training crop (crop / output_stride), so a model trained on 1025x2049
crops sees the same pooled context when it evaluates whole images of another size.
"""

from typing import Optional, Sequence, Tuple

import tensorflow as tf
import tf_keras

from widescale.layers import conv_bn_act
from widescale.layers import resize

# Panoptic-DeepLab / deeplab2: rates (6, 12, 18) at output stride 16, scaled with the feature resolution.
_RATES_AT_OUTPUT_STRIDE_16 = (6, 12, 18)


def atrous_rates_for_output_stride(output_stride: int) -> Tuple[int, int, int]:
  """ASPP rates deeplab2 uses at `output_stride`: (12, 24, 36) at 8, (6, 12, 18) at 16, (3, 6, 9) at 32."""
  if output_stride not in (8, 16, 32):
    raise ValueError(f'atrous_rates_for_output_stride: output_stride must be 8, 16 or 32, '
                     f'got output_stride={output_stride!r}.')
  return tuple(rate * 16 // output_stride for rate in _RATES_AT_OUTPUT_STRIDE_16)


def pool_size_for_crop(crop_size: Sequence[int], output_stride: int) -> Tuple[int, int]:
  """ASPP pooling window (in feature pixels) covering a training crop, as deeplab2 computes it.

  Args:
    crop_size: (height, width) of the training crop in input pixels, e.g. (1025, 2049).
    output_stride: the backbone's output stride.

  Returns:
    (height, width) of the window, e.g. (65, 129) for 1025x2049 at output stride 16.
  """
  return tuple(int((size - 1) / output_stride + 1) for size in crop_size)


@tf_keras.utils.register_keras_serializable(package='widescale')
class ASPP(tf_keras.layers.Layer):
  """ASPP: [1x1, 3x3 rate r1, 3x3 rate r2, 3x3 rate r3, image pooling] -> concat -> 1x1 -> dropout.

  Every convolution is conv + BN + ReLU with `output_channels` filters.

  Args:
    output_channels: channels of every branch and of the output (256 in Panoptic-DeepLab).
    atrous_rates: the three rates of the 3x3 branches, e.g. `atrous_rates_for_output_stride(16)`.
    pool_size: (height, width) window of the image-pooling branch in feature pixels, or None for global
      average pooling. A window larger than the feature map is clipped to it (i.e. global pooling).
    dropout_rate: dropout after the projection (0.1).
    bn_momentum: BN momentum.
    bn_epsilon: BN epsilon.
    sync_batch_norm: synchronise BN statistics across replicas.
    kernel_initializer: convolution kernel initializer.
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self,
               output_channels: int = 256,
               atrous_rates: Sequence[int] = _RATES_AT_OUTPUT_STRIDE_16,
               pool_size: Optional[Sequence[int]] = None,
               dropout_rate: float = 0.1,
               bn_momentum: float = 0.99,
               bn_epsilon: float = 1e-3,
               sync_batch_norm: bool = False,
               kernel_initializer='he_normal',
               **kwargs):
    super().__init__(**kwargs)
    if int(output_channels) < 1:
      raise ValueError(f'ASPP: output_channels must be >= 1, got output_channels={output_channels!r}.')
    if len(atrous_rates) != 3 or any(int(rate) < 1 for rate in atrous_rates):
      raise ValueError(f'ASPP: atrous_rates must be three positive integers, got atrous_rates={atrous_rates!r}.')
    if pool_size is not None and (len(pool_size) != 2 or any(int(size) < 1 for size in pool_size)):
      raise ValueError(f'ASPP: pool_size must be None or (height, width) >= 1, got pool_size={pool_size!r}.')
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError(f'ASPP: dropout_rate must be in [0, 1), got dropout_rate={dropout_rate!r}.')
    self.output_channels = int(output_channels)
    self.atrous_rates = tuple(int(rate) for rate in atrous_rates)
    self.pool_size = None if pool_size is None else tuple(int(size) for size in pool_size)
    self.dropout_rate = dropout_rate
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm
    self.kernel_initializer = kernel_initializer

    def conv(kernel_size, name, rate=1):
      return conv_bn_act.ConvBNAct(
          self.output_channels, kernel_size, dilation_rate=rate, bn_momentum=bn_momentum,
          bn_epsilon=bn_epsilon, sync_batch_norm=sync_batch_norm, kernel_initializer=kernel_initializer,
          name=name)

    self.conv_1x1 = conv(1, 'conv_1x1')
    self.atrous_convs = [conv(3, f'atrous_conv{i + 1}', rate) for i, rate in enumerate(self.atrous_rates)]
    self.pool_conv = conv(1, 'pool_conv')
    self.projection = conv(1, 'projection')
    self.dropout = tf_keras.layers.Dropout(dropout_rate, name='dropout')

  def _image_pooling(self, inputs, training):
    height, width = inputs.shape[1], inputs.shape[2]
    if self.pool_size is None:
      pooled = tf.reduce_mean(inputs, axis=[1, 2], keepdims=True)
    else:
      window = list(self.pool_size)
      # Clip to the feature map when its size is known: smaller inputs than the training crop then pool
      # globally instead of failing.
      if height is not None:
        window[0] = min(window[0], height)
      if width is not None:
        window[1] = min(window[1], width)
      pooled = tf.nn.avg_pool2d(inputs, window, strides=1, padding='VALID')
    pooled = self.pool_conv(pooled, training=training)
    # ResizeBilinear always returns float32; cast back so bfloat16 models stay bfloat16.
    resized = resize.resize_bilinear_align_corners(pooled, tf.shape(inputs)[1:3])
    return tf.cast(resized, inputs.dtype)

  def call(self, inputs, training=None):
    branches = [self.conv_1x1(inputs, training=training)]
    branches += [atrous_conv(inputs, training=training) for atrous_conv in self.atrous_convs]
    pooled = self._image_pooling(inputs, training)
    pooled.set_shape(branches[0].shape)
    branches.append(pooled)
    outputs = self.projection(tf.concat(branches, axis=-1), training=training)
    return self.dropout(outputs, training=training)

  def get_config(self):
    config = super().get_config()
    config.update(
        output_channels=self.output_channels,
        atrous_rates=list(self.atrous_rates),
        pool_size=None if self.pool_size is None else list(self.pool_size),
        dropout_rate=self.dropout_rate,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
        kernel_initializer=conv_bn_act.serialize_initializer(self.kernel_initializer),
    )
    return config
