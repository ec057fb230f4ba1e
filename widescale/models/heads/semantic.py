"""Semantic segmentation heads: per-pixel class logits from one backbone endpoint.

- `SemanticHead`: Wide-ResNet-38's classifiers (Wu et al., arXiv 1611.10080, Sec. 5; ademxapp
  `fcn_top` / `fcrna_model_a1`). "1 conv" is one 3x3 convolution to the classes; "2 conv" puts a 3x3
  convolution to 512 channels + ReLU before it. The official "2 conv" dilates both convolutions by 12
  (at output stride 8) and gives them biases and no BN; "1 conv" has no released definition, and we use
  the same rate for it.
- `DeepLabV3Head`: ASPP (DeepLabv3, Chen et al., arXiv 1706.05587; `widescale.layers.aspp`) and a 1x1
  convolution to the classes, an option for any backbone.

Heads take the backbone's endpoint dict and return [B, h, w, num_classes] logits at the endpoint's
resolution; `widescale.models.semantic_segmentation.SemanticSegmentation` resizes them to the input.
"""

from typing import Optional, Sequence

import tf_keras

from widescale.layers import aspp
from widescale.layers import conv_bn_act


def _classifier_initializer():
  # Small logits at the start, as deeplab2's prediction convolutions.
  return tf_keras.initializers.TruncatedNormal(stddev=0.01)


@tf_keras.utils.register_keras_serializable(package='widescale')
class SemanticHead(tf_keras.layers.Layer):
  """Wide-ResNet-38 "1 conv" / "2 conv" classifier: (num_convs - 1) x [k x k conv + ReLU], k x k conv.

  Args:
    num_classes: number of output logits per pixel.
    num_convs: 1 ("1 conv") or 2 ("2 conv", the published VOC/Cityscapes setting); more adds further
      hidden convolutions.
    hidden_channels: channels of the hidden convolutions (512).
    kernel_size: kernel of every convolution (3).
    dilation_rate: atrous rate of every convolution (12, ademxapp's at output stride 8).
    feature_key: backbone endpoint to classify ('res5': Wide-ResNet-38's BN-ReLU'd last block).
    dropout_rate: dropout before each convolution (0 in the official code).
    kernel_initializer: initializer of the hidden convolutions; the last one starts from a truncated
      normal with stddev 0.01.
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self,
               num_classes: int,
               num_convs: int = 2,
               hidden_channels: int = 512,
               kernel_size: int = 3,
               dilation_rate: int = 12,
               feature_key: str = 'res5',
               dropout_rate: float = 0.0,
               kernel_initializer='he_normal',
               **kwargs):
    super().__init__(**kwargs)
    for arg, value in (('num_classes', num_classes), ('num_convs', num_convs),
                       ('hidden_channels', hidden_channels), ('kernel_size', kernel_size),
                       ('dilation_rate', dilation_rate)):
      if not (isinstance(value, int) and value >= 1):
        raise ValueError(f'SemanticHead: {arg} must be an int >= 1, got {arg}={value!r}.')
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError(f'SemanticHead: dropout_rate must be in [0, 1), got dropout_rate={dropout_rate!r}.')
    self.num_classes = num_classes
    self.num_convs = num_convs
    self.hidden_channels = hidden_channels
    self.kernel_size = kernel_size
    self.dilation_rate = dilation_rate
    self.feature_key = feature_key
    self.dropout_rate = dropout_rate
    self.kernel_initializer = kernel_initializer

    conv = dict(kernel_size=kernel_size, padding='same', dilation_rate=dilation_rate, use_bias=True)
    # Named attributes conv1, conv2, ..., classifier: checkpoint keys read 'head/conv1/kernel'.
    for index in range(num_convs - 1):
      setattr(self, f'conv{index + 1}', tf_keras.layers.Conv2D(
          hidden_channels, activation='relu', kernel_initializer=kernel_initializer, name=f'conv{index + 1}',
          **conv))
    self.classifier = tf_keras.layers.Conv2D(
        num_classes, kernel_initializer=_classifier_initializer(), name='classifier', **conv)
    self.dropouts = [tf_keras.layers.Dropout(dropout_rate, name=f'dropout{index + 1}')
                     for index in range(num_convs)] if dropout_rate > 0 else []

  @property
  def convs(self):
    """The hidden convolutions and the classifier, in order."""
    return [getattr(self, f'conv{index + 1}') for index in range(self.num_convs - 1)] + [self.classifier]

  def call(self, features, training=None):
    if self.feature_key not in features:
      raise KeyError(f'SemanticHead: backbone has no endpoint feature_key={self.feature_key!r}; it has '
                     f'{sorted(features)}.')
    x = features[self.feature_key]
    for index, conv in enumerate(self.convs):
      if self.dropouts:
        x = self.dropouts[index](x, training=training)
      x = conv(x)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(
        num_classes=self.num_classes,
        num_convs=self.num_convs,
        hidden_channels=self.hidden_channels,
        kernel_size=self.kernel_size,
        dilation_rate=self.dilation_rate,
        feature_key=self.feature_key,
        dropout_rate=self.dropout_rate,
        kernel_initializer=conv_bn_act.serialize_initializer(self.kernel_initializer),
    )
    return config


@tf_keras.utils.register_keras_serializable(package='widescale')
class DeepLabV3Head(tf_keras.layers.Layer):
  """DeepLabv3 head: ASPP on one endpoint, then a 1x1 convolution (with bias) to the classes.

  Args:
    num_classes: number of output logits per pixel.
    atrous_rates: the ASPP's three rates; (12, 24, 36) at output stride 8, (6, 12, 18) at 16
      (`widescale.layers.aspp.atrous_rates_for_output_stride`).
    aspp_channels: ASPP channels (256).
    aspp_pool_size: ASPP image-pooling window in feature pixels, None for global pooling.
    aspp_dropout_rate: dropout after the ASPP projection (0.1).
    feature_key: backbone endpoint fed to the ASPP ('res5').
    bn_momentum: BN momentum.
    bn_epsilon: BN epsilon.
    sync_batch_norm: synchronise BN statistics across replicas.
    kernel_initializer: initializer of the ASPP's convolutions.
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self,
               num_classes: int,
               atrous_rates: Sequence[int] = (12, 24, 36),
               aspp_channels: int = 256,
               aspp_pool_size: Optional[Sequence[int]] = None,
               aspp_dropout_rate: float = 0.1,
               feature_key: str = 'res5',
               bn_momentum: float = 0.99,
               bn_epsilon: float = 1e-3,
               sync_batch_norm: bool = False,
               kernel_initializer='he_normal',
               **kwargs):
    super().__init__(**kwargs)
    if not (isinstance(num_classes, int) and num_classes >= 1):
      raise ValueError(f'DeepLabV3Head: num_classes must be an int >= 1, got num_classes={num_classes!r}.')
    # The ASPP checks these too, under its own argument names (output_channels, dropout_rate).
    if not (isinstance(aspp_channels, int) and aspp_channels >= 1):
      raise ValueError(f'DeepLabV3Head: aspp_channels must be an int >= 1, got aspp_channels={aspp_channels!r}.')
    if not 0.0 <= aspp_dropout_rate < 1.0:
      raise ValueError(f'DeepLabV3Head: aspp_dropout_rate must be in [0, 1), '
                       f'got aspp_dropout_rate={aspp_dropout_rate!r}.')
    if aspp_pool_size is not None and (len(aspp_pool_size) != 2 or any(int(s) < 1 for s in aspp_pool_size)):
      raise ValueError(f'DeepLabV3Head: aspp_pool_size must be None or (height, width) >= 1, '
                       f'got aspp_pool_size={aspp_pool_size!r}.')
    conv_bn_act.check_batch_norm_args('DeepLabV3Head', bn_momentum, bn_epsilon)
    self.num_classes = num_classes
    self.atrous_rates = tuple(int(rate) for rate in atrous_rates)
    self.aspp_channels = int(aspp_channels)
    self.aspp_pool_size = None if aspp_pool_size is None else tuple(int(s) for s in aspp_pool_size)
    self.aspp_dropout_rate = aspp_dropout_rate
    self.feature_key = feature_key
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm
    self.kernel_initializer = kernel_initializer
    self.aspp = aspp.ASPP(self.aspp_channels, self.atrous_rates, pool_size=self.aspp_pool_size,
                          dropout_rate=aspp_dropout_rate, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                          sync_batch_norm=sync_batch_norm, kernel_initializer=kernel_initializer, name='aspp')
    self.classifier = tf_keras.layers.Conv2D(
        num_classes, 1, use_bias=True, kernel_initializer=_classifier_initializer(), name='classifier')

  def call(self, features, training=None):
    if self.feature_key not in features:
      raise KeyError(f'DeepLabV3Head: backbone has no endpoint feature_key={self.feature_key!r}; it has '
                     f'{sorted(features)}.')
    return self.classifier(self.aspp(features[self.feature_key], training=training))

  def get_config(self):
    config = super().get_config()
    config.update(
        num_classes=self.num_classes,
        atrous_rates=list(self.atrous_rates),
        aspp_channels=self.aspp_channels,
        aspp_pool_size=None if self.aspp_pool_size is None else list(self.aspp_pool_size),
        aspp_dropout_rate=self.aspp_dropout_rate,
        feature_key=self.feature_key,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
        kernel_initializer=conv_bn_act.serialize_initializer(self.kernel_initializer),
    )
    return config
