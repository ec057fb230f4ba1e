"""ResNet-RS 50/101/152/200/270/350/420.

References:
  - Bello, Fedus, Du, Cubuk, Srinivas, Lin, Shlens, Zoph, "Revisiting ResNets: Improved Training and Scaling
    Strategies", arXiv 2103.07579.
  - The authors' release, tensorflow/tpu `models/official/resnet/resnet_model.py` with the configs in
    `models/official/resnet/resnet_rs/configs/` (TF1, ReLU), whose choices are the defaults here. TF Model
    Garden's ResNet-RS configs differ: swish activation and 1001 classes.

Layout (bottleneck widths f -> f -> 4f, f = 64, 128, 256, 512 per stage):
  stem  3x3 conv 32 s2, 3x3 conv 32, 3x3 conv 64, 3x3 conv 64 s2, each BN-ReLU    stride 4
        (the ResNet-D stem, its max-pool replaced by the strided conv)
  res2  bottleneck [64, 64, 256] x n2                                            stride 4
  res3  bottleneck [128, 128, 512] x n3                                          stride 8
  res4  bottleneck [256, 256, 1024] x n4                                         stride 16
  res5  bottleneck [512, 512, 2048] x n5                                         stride 32 (or dilated)

Bottleneck block, with the stride on the 3x3 conv:
  branch = bn(conv1x1_4f(relu(bn(conv3x3_f(relu(bn(conv1x1_f(x))))))))   (last BN gamma starts at 0)
  out = relu(drop_path(se(branch)) + shortcut(x))
SE squeezes 4f channels to int(4f * 0.25) = f (two 1x1 convs with bias, ReLU then sigmoid). The first block
of each stage projects its shortcut: 2x2 stride-2 average pool then 1x1 conv + BN (ResNet-D) where it
strides, 1x1 conv + BN where only the channels change (res2, and stages that dilate instead of striding).

Stochastic depth is per block group, as in the release (`get_drop_connect_rate(rate, g, 5)`): every block
of res_g (g = 2..5) drops its branch with probability rate * g / 5, i.e. DropPath keep_prob
1 - rate * g / 5; it is not a per-block linear schedule.

Parameter counts: the published ones (35.75M ... 192.26M with a 1000-way head) count every variable,
BN moving mean and variance included; the trainable counts are lower by exactly those statistics
(RS-50: 35,691,912 trainable + 53,376 BN statistics = 35,745,288). The traced FLOPs
(`widescale.models.summary.count_flops`, 2 per multiply-add) equal every published GFLOPs value to its
0.01. tests/models/test_resnet_rs.py checks both for every variant.
"""

import dataclasses
import numbers
from typing import Dict, Sequence, Tuple

import tensorflow as tf
import tf_keras

from widescale.layers import conv_bn_act
from widescale.layers import drop_path

STAGE_NAMES = ('res2', 'res3', 'res4', 'res5')
STAGE_FILTERS = (64, 128, 256, 512)
BOTTLENECK_EXPANSION = 4
STEM_STRIDE = 4
NUM_STOCHASTIC_DEPTH_GROUPS = 5  # the release counts the stem as group 1 of 5


def squeeze_channels(channels: int, ratio: float) -> int:
  """Squeeze width of the SE of a block with `channels` outputs: int(channels * ratio), at least 1.

  The release passes the block's output width (4 * filters) as SE input width, so ResNet-RS-50's first
  block squeezes 256 channels to 64; the published parameter counts match only this rounding.
  """
  return max(1, int(channels * ratio))


@tf_keras.utils.register_keras_serializable(package='widescale')
class SqueezeExcitation(tf_keras.layers.Layer):
  """Squeeze-and-excitation of Hu et al. (CVPR 2018): x * sigmoid(expand(relu(reduce(mean(x))))).

  Unlike SWideRNet's simplified `widescale.layers.squeeze_excite.SqueezeExcite` (one C -> C conv, hard
  sigmoid), this is the original two-layer form ResNet-RS uses: 1x1 convs C -> squeeze -> C, with biases.

  Args:
    squeeze_channels: width of the bottleneck between the two 1x1 convs.
    kernel_initializer: initializer of both 1x1 conv kernels.
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self, squeeze_channels: int, kernel_initializer='variance_scaling', **kwargs):
    super().__init__(**kwargs)
    if int(squeeze_channels) < 1:
      raise ValueError(f'SqueezeExcitation: squeeze_channels must be >= 1, '
                       f'got squeeze_channels={squeeze_channels!r}.')
    self.squeeze_channels = int(squeeze_channels)
    self.kernel_initializer = kernel_initializer

  def build(self, input_shape):
    # Both convs build on their first call, inside this layer's name scope, so their variables are named
    # `.../squeeze_excite/reduce/kernel` and `.../squeeze_excite/expand/kernel`.
    channels = int(input_shape[-1])
    self.reduce = tf_keras.layers.Conv2D(self.squeeze_channels, 1, use_bias=True,
                                         kernel_initializer=self.kernel_initializer, name='reduce')
    self.expand = tf_keras.layers.Conv2D(channels, 1, use_bias=True,
                                         kernel_initializer=self.kernel_initializer, name='expand')
    super().build(input_shape)

  def call(self, inputs):
    squeezed = tf.reduce_mean(inputs, axis=[1, 2], keepdims=True)
    gate = tf.sigmoid(self.expand(tf.nn.relu(self.reduce(squeezed))))
    return inputs * gate

  def get_config(self):
    config = super().get_config()
    config.update(squeeze_channels=self.squeeze_channels,
                  kernel_initializer=conv_bn_act.serialize_initializer(self.kernel_initializer))
    return config


@tf_keras.utils.register_keras_serializable(package='widescale')
class ResNetRSBottleneck(tf_keras.layers.Layer):
  """The ResNet-RS bottleneck block (1x1, 3x3, 1x1 x4), post-activation, with SE and a ResNet-D shortcut.

  Args:
    filters: width f of the 1x1 and 3x3 convs; the block outputs 4 * f channels.
    strides: stride of the 3x3 conv (and of the shortcut's average pool).
    dilation_rate: atrous rate of the 3x3 conv.
    squeeze_excite_ratio: SE squeeze width = int(4 * f * ratio); 0 disables SE.
    drop_path_keep_prob: keep probability of the branch in training (1 disables drop path).
    activation: activation after the BNs and after the add ('relu'; TF Model Garden's configs: 'swish').
    bn_momentum: BN momentum.
    bn_epsilon: BN epsilon.
    sync_batch_norm: synchronise BN statistics across replicas.
    kernel_initializer: initializer of every conv kernel, SE included.
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self,
               filters: int,
               strides: int = 1,
               dilation_rate: int = 1,
               squeeze_excite_ratio: float = 0.25,
               drop_path_keep_prob: float = 1.0,
               activation: str = 'relu',
               bn_momentum: float = 0.9,
               bn_epsilon: float = 1e-5,
               sync_batch_norm: bool = False,
               kernel_initializer='variance_scaling',
               **kwargs):
    super().__init__(**kwargs)
    if int(filters) < 1:
      raise ValueError(f'ResNetRSBottleneck: filters must be >= 1, got filters={filters!r}.')
    if int(strides) not in (1, 2):
      raise ValueError(f'ResNetRSBottleneck: strides must be 1 or 2, got strides={strides!r}.')
    if not (isinstance(squeeze_excite_ratio, numbers.Real) and 0.0 <= squeeze_excite_ratio <= 1.0):
      raise ValueError(f'ResNetRSBottleneck: squeeze_excite_ratio must be in [0, 1], '
                       f'got squeeze_excite_ratio={squeeze_excite_ratio!r}.')
    if not (isinstance(drop_path_keep_prob, numbers.Real) and 0.0 < drop_path_keep_prob <= 1.0):
      raise ValueError(f'ResNetRSBottleneck: drop_path_keep_prob must be in (0, 1], '
                       f'got drop_path_keep_prob={drop_path_keep_prob!r}.')
    self.filters = int(filters)
    self.strides = int(strides)
    self.dilation_rate = int(dilation_rate)
    self.squeeze_excite_ratio = squeeze_excite_ratio
    self.drop_path_keep_prob = drop_path_keep_prob
    self.activation = activation
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm
    self.kernel_initializer = kernel_initializer
    self.output_channels = self.filters * BOTTLENECK_EXPANSION

    self.conv1 = self._conv(self.filters, 1, 'conv1')
    self.conv2 = self._conv(self.filters, 3, 'conv2', strides=self.strides, rate=self.dilation_rate)
    self.conv3 = self._conv(self.output_channels, 1, 'conv3', activation=None, gamma='zeros')
    self.squeeze_excite = None
    if squeeze_excite_ratio > 0:
      self.squeeze_excite = SqueezeExcitation(
          squeeze_channels(self.output_channels, squeeze_excite_ratio),
          kernel_initializer=kernel_initializer, name='squeeze_excite')
    self.drop_path = drop_path.DropPath(drop_path_keep_prob, name='drop_path')
    self._activation_fn = tf_keras.activations.get(activation)
    self.shortcut_pool = None
    self.shortcut = None

  def _conv(self, filters, kernel_size, name, strides=1, rate=1, activation='default', gamma='ones'):
    return conv_bn_act.ConvBNAct(
        filters, kernel_size, strides=strides, dilation_rate=rate,
        activation=self.activation if activation == 'default' else activation,
        bn_gamma_initializer=gamma, bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm, kernel_initializer=self.kernel_initializer, name=name)

  def build(self, input_shape):
    if self.strides > 1:
      # ResNet-D: average the 2x2 window instead of a strided 1x1 conv that would skip 3/4 of the pixels.
      self.shortcut_pool = tf_keras.layers.AveragePooling2D(
          pool_size=2, strides=self.strides, padding='same', name='shortcut_pool')
    if self.strides > 1 or int(input_shape[-1]) != self.output_channels:
      self.shortcut = self._conv(self.output_channels, 1, 'shortcut', activation=None)
    super().build(input_shape)

  def call(self, inputs, training=None):
    shortcut = inputs
    if self.shortcut_pool is not None:
      shortcut = self.shortcut_pool(shortcut)
    if self.shortcut is not None:
      shortcut = self.shortcut(shortcut, training=training)
    x = self.conv1(inputs, training=training)
    x = self.conv2(x, training=training)
    x = self.conv3(x, training=training)
    if self.squeeze_excite is not None:
      x = self.squeeze_excite(x)
    x = self.drop_path(x, training=training)
    return self._activation_fn(x + shortcut)

  def get_config(self):
    config = super().get_config()
    config.update(
        filters=self.filters,
        strides=self.strides,
        dilation_rate=self.dilation_rate,
        squeeze_excite_ratio=self.squeeze_excite_ratio,
        drop_path_keep_prob=self.drop_path_keep_prob,
        activation=self.activation,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
        kernel_initializer=conv_bn_act.serialize_initializer(self.kernel_initializer),
    )
    return config


@tf_keras.utils.register_keras_serializable(package='widescale')
class ResNetRS(tf_keras.Model):
  """ResNet-RS backbone; `from_variant('resnet_rs_50')` etc. build the published sizes.

  `call(images, training=None)` takes normalised images [B, H, W, 3] and returns a dict of activated
  endpoints: 'stem' (stride 4), 'res2' (4), 'res3' (8), 'res4' (16), 'res5' (32, or `output_stride` when
  the stages past it dilate instead of striding).

  Args:
    block_counts: blocks in res2..res5, e.g. (3, 4, 6, 3) for ResNet-RS-50 (see `VARIANTS`).
    output_stride: 8, 16 or 32; stages that would stride past it dilate instead.
    squeeze_excite_ratio: SE squeeze width as a fraction of the block's output width (0.25); 0 disables SE.
    stochastic_depth_rate: drop rate of the last block group; res_g (g = 2..5) drops with rate * g / 5,
      the same for every block of the group (the release's schedule). Must be in [0, 1).
    activation: activation of the stem, blocks and residual adds ('relu' as in the paper and the release;
      TF Model Garden's ResNet-RS configs use 'swish').
    bn_momentum: BN moving-average momentum. 0.9 is the release's module default
      (`MOVING_AVERAGE_DECAY`); its published configs train with 0 and an EMA (0.9999) of all variables,
      BN statistics included -- set 0 only together with such an EMA.
    bn_epsilon: BN epsilon (1e-5, as the release).
    sync_batch_norm: synchronise BN statistics across replicas.
    conv_kernel_initializer: initializer of every conv kernel (the release: variance scaling, scale 1,
      fan-in, truncated normal, which is Keras' 'variance_scaling').
    **kwargs: Model arguments (name, ...).
  """

  def __init__(self,
               block_counts: Sequence[int] = (3, 4, 6, 3),
               output_stride: int = 32,
               squeeze_excite_ratio: float = 0.25,
               stochastic_depth_rate: float = 0.0,
               activation: str = 'relu',
               bn_momentum: float = 0.9,
               bn_epsilon: float = 1e-5,
               sync_batch_norm: bool = False,
               conv_kernel_initializer='variance_scaling',
               **kwargs):
    kwargs.setdefault('name', 'resnet_rs')
    super().__init__(**kwargs)
    counts = tuple(block_counts) if isinstance(block_counts, (list, tuple)) else None
    if (counts is None or len(counts) != len(STAGE_NAMES) or
        not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in counts)):
      raise ValueError(f'ResNetRS: block_counts must be {len(STAGE_NAMES)} integers >= 1 (blocks in '
                       f'{", ".join(STAGE_NAMES)}), got block_counts={block_counts!r}.')
    if output_stride not in (8, 16, 32):
      raise ValueError(f'ResNetRS: output_stride must be 8, 16 or 32, got output_stride={output_stride!r}.')
    if not (isinstance(squeeze_excite_ratio, numbers.Real) and 0.0 <= squeeze_excite_ratio <= 1.0):
      raise ValueError(f'ResNetRS: squeeze_excite_ratio must be in [0, 1], '
                       f'got squeeze_excite_ratio={squeeze_excite_ratio!r}.')
    if not (isinstance(stochastic_depth_rate, numbers.Real) and 0.0 <= stochastic_depth_rate < 1.0):
      raise ValueError(f'ResNetRS: stochastic_depth_rate must be in [0, 1), '
                       f'got stochastic_depth_rate={stochastic_depth_rate!r}.')
    try:
      tf_keras.activations.get(activation)
    except ValueError as error:
      raise ValueError(f'ResNetRS: unknown activation={activation!r}.') from error
    conv_bn_act.check_batch_norm_args('ResNetRS', bn_momentum, bn_epsilon)

    self.block_counts = counts
    self.output_stride = output_stride
    self.squeeze_excite_ratio = squeeze_excite_ratio
    self.stochastic_depth_rate = stochastic_depth_rate
    self.activation = activation
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm
    self.conv_kernel_initializer = conv_kernel_initializer

    common = dict(activation=activation, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                  sync_batch_norm=sync_batch_norm, kernel_initializer=conv_kernel_initializer)
    self.stem = [
        conv_bn_act.ConvBNAct(filters, 3, strides=strides, name=f'stem_conv{index + 1}', **common)
        for index, (filters, strides) in enumerate([(32, 2), (32, 1), (64, 1), (64, 2)])
    ]
    # One list attribute per stage, so checkpoint keys read `res4/5/conv2/...`.
    for stage_name, blocks in zip(STAGE_NAMES, self.block_plan()):
      setattr(self, stage_name, [
          ResNetRSBottleneck(squeeze_excite_ratio=squeeze_excite_ratio, name=f'{stage_name}_block{index + 1}',
                             **common, **block)
          for index, block in enumerate(blocks)
      ])

  @property
  def stages(self) -> Tuple[list, ...]:
    """The blocks of res2..res5."""
    return tuple(getattr(self, name) for name in STAGE_NAMES)

  def group_keep_prob(self, group: int) -> float:
    """DropPath keep probability of every block in block group `group` (2 = res2, ..., 5 = res5)."""
    return 1.0 - self.stochastic_depth_rate * group / NUM_STOCHASTIC_DEPTH_GROUPS

  def block_plan(self) -> Tuple[Tuple[Dict, ...], ...]:
    """Per stage, the ResNetRSBottleneck arguments of each block (filters, stride, rate, drop path)."""
    original_stride = STEM_STRIDE  # input stride of the stage in the network without dilation
    rate = 1  # product of the strides replaced by dilation so far
    plan = []
    for index, (filters, num_blocks) in enumerate(zip(STAGE_FILTERS, self.block_counts)):
      stage_stride = 1 if index == 0 else 2
      keep_prob = self.group_keep_prob(index + 2)
      blocks = []
      for block_index in range(num_blocks):
        block = dict(filters=filters, strides=1, dilation_rate=rate, drop_path_keep_prob=keep_prob)
        if block_index == 0 and stage_stride > 1:
          if original_stride < self.output_stride:
            block['strides'] = stage_stride
          else:
            # Past the output stride the stride becomes dilation from the next block on (as DeepLab's
            # ResNets do); the 3x3 conv that would have strided keeps the current rate.
            rate *= stage_stride
          original_stride *= stage_stride
        blocks.append(block)
      plan.append(tuple(blocks))
    return tuple(plan)

  def call(self, images, training=None):
    x = images
    for layer in self.stem:
      x = layer(x, training=training)
    endpoints = {'stem': x}
    for stage_name, blocks in zip(STAGE_NAMES, self.stages):
      for block in blocks:
        x = block(x, training=training)
      endpoints[stage_name] = x
    return endpoints

  @classmethod
  def from_variant(cls, variant: str, **overrides) -> 'ResNetRS':
    """Builds a named variant of `VARIANTS` with its published stochastic depth; `overrides` win."""
    if variant not in VARIANTS:
      raise ValueError(f'ResNetRS.from_variant: unknown variant={variant!r}; known: {sorted(VARIANTS)}.')
    kwargs = dict(block_counts=VARIANTS[variant].block_counts,
                  stochastic_depth_rate=VARIANTS[variant].stochastic_depth_rate, name=variant)
    kwargs.update(overrides)
    return cls(**kwargs)

  def get_config(self):
    # Model.get_config of a subclassed model drops name/trainable/dtype; Layer's keeps them.
    config = tf_keras.layers.Layer.get_config(self)
    config.update(
        block_counts=list(self.block_counts),
        output_stride=self.output_stride,
        squeeze_excite_ratio=self.squeeze_excite_ratio,
        stochastic_depth_rate=self.stochastic_depth_rate,
        activation=self.activation,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
        conv_kernel_initializer=conv_bn_act.serialize_initializer(self.conv_kernel_initializer),
    )
    return config

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


@dataclasses.dataclass(frozen=True)
class Variant:
  """A published ResNet-RS: blocks per stage, the stochastic depth it was trained with, its size."""
  block_counts: Tuple[int, int, int, int]
  stochastic_depth_rate: float
  published_params_millions: float  # 1000 classes, every variable (BN moving statistics included)
  reference: str


_PAPER = 'Bello et al., "Revisiting ResNets", arXiv 2103.07579; tensorflow/tpu resnet_rs/configs'

# Blocks per stage from the release's `model_params`; stochastic depth 0.1 for 200 and deeper (the released
# configs' drop_connect_rate; null for 50-152).
VARIANTS = {
    'resnet_rs_50': Variant((3, 4, 6, 3), 0.0, 35.75, f'{_PAPER} resnetrs50_i160.'),
    'resnet_rs_101': Variant((3, 4, 23, 3), 0.0, 63.72, f'{_PAPER} resnetrs101_i160/i192.'),
    'resnet_rs_152': Variant((3, 8, 36, 3), 0.0, 86.77, f'{_PAPER} resnetrs152_i192/i224/i256.'),
    'resnet_rs_200': Variant((3, 24, 36, 3), 0.1, 93.39, f'{_PAPER} resnetrs200_i256.'),
    'resnet_rs_270': Variant((4, 29, 53, 4), 0.1, 130.10, f'{_PAPER} resnetrs270_i256.'),
    'resnet_rs_350': Variant((4, 36, 72, 4), 0.1, 164.27, f'{_PAPER} resnetrs350_i256/i320.'),
    'resnet_rs_420': Variant((4, 44, 87, 4), 0.1, 192.26, f'{_PAPER} resnetrs420_i320.'),
}

