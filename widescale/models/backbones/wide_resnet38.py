"""Wide-ResNet-38, Model A and Model A1.

References:
  - Wu, Shen, van den Hengel, "Wider or Deeper: Revisiting the ResNet Model for Visual Recognition",
    Pattern Recognition 2019, arXiv 1611.10080.
  - The official MXNet definition, itijyou/ademxapp `util/symbol/resnet_v2.py` (`rna_feat_a`,
    `rna_feat_a1`, `fcrna_model_a1`), which settles what the paper leaves open; the layout below follows
    it and reproduces the SPEC's parameter counts exactly (see "Parameters").

Layout (pre-activation units: BN-ReLU before every convolution; the first unit of every block takes a
1x1 projection shortcut from its pre-activated input, every other unit an identity shortcut):

  endpoint  block                                                       stride (output stride 32)
  b1        conv1a 3x3 64 (no BN before it: it sees the image)          1
            + `b1_units` x (3x3, 3x3) 64, 64 -- 0 in Model A/A1
  b2        /2, 3 x (3x3, 3x3) 128, 128                                 2
  b3        /2, 3 x (3x3, 3x3) 256, 256                                 4
  b4        /2, 6 x (3x3, 3x3) 512, 512                                 8
  b5        /2, 3 x (3x3, 3x3) 512, 1024                                16
  b6        /2, 1 x bottleneck (1x1, 3x3, 1x1) 512, 1024, 2048, dropout 32
  b7        1 x bottleneck (1x1, 3x3, 1x1) 1024, 2048, 4096, dropout    32
  final     BN-ReLU of b7 (what the classifier pools)                   32

Depth: conv1a + 2 x 15 basic-unit convs + 3 + 3 bottleneck convs + the classifier = 38.

"/2" is where the two variants differ:
  - Model A: a 3x3 stride-2 max pool (symmetric padding, as MXNet pads) after the previous block.
  - Model A1: the first unit of the block strides (its first convolution and its projection shortcut).
The paper draws B1 with residual units at 64 channels and removes them for 224x224 ImageNet training to
save memory; the released Model A and A1 have none (ademxapp's level-1 `num` is 0), so `b1_units`
defaults to 0 and "B1" is conv1a alone. Giving B1 units back (e.g. for high-resolution inputs) costs
73,984 parameters each.

Dropout sits, as in the official code, only before the last convolution of the B6 and B7 units (after
its BN-ReLU). The released MXNet symbols set the rate to 0 (they are inference/fine-tuning graphs); the
defaults 0.3 (B6) and 0.5 (B7) are the rates of the widely used PyTorch port of the released weights
(jiwoon-ahn/psa `network/resnet38d.py`).

Segmentation (`output_stride` 16 or 8): a "/2" past the output stride becomes dilation instead, as in
ademxapp's `inc_dilate`. Model A1: the first unit keeps stride 1 and the current rate in its first
convolution, later convolutions use twice the rate. Model A: the max pool keeps stride 1 (dilated by the
current rate) and every convolution after it uses twice the rate. At output stride 8 this gives B5
dilation 2 and B6, B7 dilation 4 (SPEC section 1).

Endpoints (`call` returns a dict): 'b1'..'b7' are the raw residual sums at the end of each block (not
activated: in a pre-activation network the next unit's BN-ReLU does that), 'final' is BN-ReLU(b7).
For heads written for ResNet-style stage names (Panoptic-DeepLab, DeepLab) there are aliases at strides
4, 8, 16, 32 (each capped at `output_stride`):
  'res2' = 'b3' (256 ch), 'res3' = 'b4' (512 ch), 'res4' = 'b5' (1024 ch), 'res5' = 'final' (4096 ch).

Parameters (trainable, width 1): 105,070,912 for the backbone (105.07M); with ImageClassifier's 1000-way
FC (4096 x 1000 + 1000 bias) 109,167,912 (109.17M). This needs: B1 without residual units, no
convolution biases, BN with gamma and beta before every convolution of every unit (the first unit's BN
included, which also feeds its projection), projection shortcuts as bare 1x1 convolutions (no BN of
their own, as in ademxapp), and the final BN of B7's output.
"""

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf
import tf_keras

from widescale.layers import conv_bn_act

ENDPOINT_ALIASES = {'res2': 'b3', 'res3': 'b4', 'res4': 'b5', 'res5': 'final'}


@dataclasses.dataclass(frozen=True)
class _Block:
  """One block of Wide-ResNet-38: `units` pre-activation units with these filters."""
  name: str
  filters: Tuple[int, ...]  # two entries: (3x3, 3x3) unit; three: (1x1, 3x3, 1x1) bottleneck
  units: int
  downsample_before: bool  # a "/2" (pool or strided first unit) precedes the block


_STEM_FILTERS = 64  # conv1a, and the width of B1's optional residual units
_BLOCKS = (
    _Block('b2', (128, 128), 3, True),
    _Block('b3', (256, 256), 3, True),
    _Block('b4', (512, 512), 6, True),
    _Block('b5', (512, 1024), 3, True),
    _Block('b6', (512, 1024, 2048), 1, True),
    _Block('b7', (1024, 2048, 4096), 1, False),
)


@dataclasses.dataclass(frozen=True)
class Variant:
  """A released Wide-ResNet-38: how it downsamples, and where it comes from."""
  downsampling: str  # 'pool': 3x3 stride-2 max pool; 'conv': stride-2 first unit of the next block
  reference: str


VARIANTS = {
    'a': Variant('pool', 'Model A: Wu et al., arXiv 1611.10080, Fig. 3 / ademxapp rna_feat_a. ImageNet '
                         'top-1/top-5 error 19.2%/4.7%. 105.07M backbone params, 109.17M with the '
                         '1000-way FC.'),
    'a1': Variant('conv', 'Model A1: Model A with strided convolutions instead of max pooling, tuned from '
                          'Model A (ademxapp rna_feat_a1 / fcrna_model_a1; the segmentation model). ImageNet '
                          '19.54%/4.75%; VOC 2012 test 82.5 mIoU with "2 conv". Same parameter count as A.'),
}


def _conv2d(filters, kernel_size, strides, dilation_rate, kernel_initializer, name):
  """A bias-free convolution, padded like ConvBNAct: strided kernels pad symmetrically, strided 1x1
  convolutions subsample first (TF 2.21's oneDNN filter gradient of strided 1x1 convs corrupts the heap).
  Returns (pad layer or None, subsample stride or 1, Conv2D)."""
  rate = dilation_rate if kernel_size > 1 else 1
  if strides > 1 and kernel_size == 1:
    return None, strides, tf_keras.layers.Conv2D(
        filters, 1, use_bias=False, kernel_initializer=kernel_initializer, name=name)
  pad = None
  padding = 'same'
  if strides > 1:
    pad = tf_keras.layers.ZeroPadding2D([conv_bn_act.symmetric_padding(kernel_size, rate)] * 2,
                                        name=f'{name}_pad')
    padding = 'valid'
  return pad, 1, tf_keras.layers.Conv2D(
      filters, kernel_size, strides=strides, padding=padding, dilation_rate=rate, use_bias=False,
      kernel_initializer=kernel_initializer, name=name)


def max_pool_3x3(inputs: tf.Tensor, strides: int = 2, dilation_rate: int = 1) -> tf.Tensor:
  """Model A's downsampling: 3x3 max pool, padded by `dilation_rate` pixels on each side with the
  lowest value (MXNet's symmetric padding, so pixel 0 is a window centre); output ceil(H / strides)."""
  if dilation_rate > 1 and strides != 1:
    raise ValueError(f'max_pool_3x3: a dilated pool must have strides=1, got strides={strides!r}.')
  pad = dilation_rate
  padded = tf.pad(inputs, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=inputs.dtype.min)
  if dilation_rate == 1:
    return tf.nn.max_pool2d(padded, 3, strides, 'VALID')
  # Nine shifted views instead of tf.nn.pool(dilations=...): plain slices, cheap and XLA-friendly.
  height, width = tf.shape(inputs)[1], tf.shape(inputs)[2]
  views = [padded[:, i * pad:i * pad + height, j * pad:j * pad + width, :]
           for i in range(3) for j in range(3)]
  pooled = tf.reduce_max(tf.stack(views, axis=0), axis=0)
  pooled.set_shape(inputs.shape)
  return pooled


@tf_keras.utils.register_keras_serializable(package='widescale')
class PreActivationUnit(tf_keras.layers.Layer):
  """Pre-activation residual unit of Wide-ResNet-38 (He et al. 2016 "identity mappings" layout).

  x -> BN-ReLU = p -> conv1(p) -> [BN-ReLU -> (dropout before the last) -> conv_k]... ; the output is
  that sum plus either x (identity) or a 1x1 convolution of p (projection). All convolutions are
  bias-free; the output is not activated.

  Args:
    filters: output channels of the convolutions: two for a (3x3, 3x3) unit, three for a
      (1x1, 3x3, 1x1) bottleneck.
    strides: stride of the first convolution and of the projection shortcut.
    dilation_rate: atrous rate of the first convolution (if it is 3x3).
    second_dilation_rate: atrous rate of the later 3x3 convolution (default: dilation_rate); it doubles in
      the unit where a stride is replaced by dilation.
    projection_shortcut: use a 1x1 projection of the pre-activated input as the shortcut (the first unit
      of every block); otherwise the shortcut is the input itself, which must then match the output.
    dropout_rate: dropout before the last convolution (B6, B7).
    bn_momentum: BN momentum.
    bn_epsilon: BN epsilon.
    sync_batch_norm: synchronise BN statistics across replicas.
    kernel_initializer: convolution kernel initializer.
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self,
               filters: Sequence[int],
               strides: int = 1,
               dilation_rate: int = 1,
               second_dilation_rate: Optional[int] = None,
               projection_shortcut: bool = False,
               dropout_rate: float = 0.0,
               bn_momentum: float = 0.9,
               bn_epsilon: float = 1e-5,
               sync_batch_norm: bool = False,
               kernel_initializer='he_normal',
               **kwargs):
    super().__init__(**kwargs)
    if len(filters) not in (2, 3) or any(int(f) < 1 for f in filters):
      raise ValueError(f'PreActivationUnit: filters must be 2 or 3 positive channel counts, '
                       f'got filters={filters!r}.')
    if int(strides) not in (1, 2):
      raise ValueError(f'PreActivationUnit: strides must be 1 or 2, got strides={strides!r}.')
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError(f'PreActivationUnit: dropout_rate must be in [0, 1), '
                       f'got dropout_rate={dropout_rate!r}.')
    if int(strides) > 1 and not projection_shortcut:
      raise ValueError(f'PreActivationUnit: strides={strides!r} needs projection_shortcut=True.')
    self.filters = tuple(int(f) for f in filters)
    self.strides = int(strides)
    self.dilation_rate = int(dilation_rate)
    self.second_dilation_rate = self.dilation_rate if second_dilation_rate is None else int(
        second_dilation_rate)
    self.projection_shortcut = projection_shortcut
    self.dropout_rate = dropout_rate
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm
    self.kernel_initializer = kernel_initializer

    kernel_sizes = (3, 3) if len(self.filters) == 2 else (1, 3, 1)
    # Named attributes (bn1, conv1, ...), not lists, so checkpoint keys read '<unit>/conv1/kernel'.
    self._subsample = []
    for index, (channels, kernel_size) in enumerate(zip(self.filters, kernel_sizes)):
      first = index == 0
      setattr(self, f'bn{index + 1}',
              conv_bn_act.batch_norm(bn_momentum, bn_epsilon, sync_batch_norm, name=f'bn{index + 1}'))
      pad, subsample, conv = _conv2d(
          channels, kernel_size, self.strides if first else 1,
          self.dilation_rate if first else self.second_dilation_rate, kernel_initializer,
          name=f'conv{index + 1}')
      setattr(self, f'conv{index + 1}_pad', pad)
      setattr(self, f'conv{index + 1}', conv)
      self._subsample.append(subsample)
    self._subsample = tuple(self._subsample)
    self.dropout = (tf_keras.layers.Dropout(dropout_rate, name='dropout') if dropout_rate > 0 else None)
    self.shortcut = None
    if projection_shortcut:
      self.shortcut = tf_keras.layers.Conv2D(
          self.filters[-1], 1, use_bias=False, kernel_initializer=kernel_initializer, name='shortcut')

  def build(self, input_shape):
    if not self.projection_shortcut and int(input_shape[-1]) != self.filters[-1]:
      raise ValueError(f'PreActivationUnit {self.name!r}: an identity shortcut needs {self.filters[-1]} '
                       f'input channels, got {int(input_shape[-1])}; set projection_shortcut=True.')
    super().build(input_shape)

  def call(self, inputs, training=None):
    preactivated = tf.nn.relu(self.bn1(inputs, training=training))
    if self.shortcut is None:
      shortcut = inputs
    elif self.strides > 1:
      shortcut = self.shortcut(preactivated[:, ::self.strides, ::self.strides, :])
    else:
      shortcut = self.shortcut(preactivated)
    x = preactivated
    num_convs = len(self.filters)
    for index in range(1, num_convs + 1):
      if index > 1:
        x = tf.nn.relu(getattr(self, f'bn{index}')(x, training=training))
        if index == num_convs and self.dropout is not None:
          x = self.dropout(x, training=training)
      pad = getattr(self, f'conv{index}_pad')
      if pad is not None:
        x = pad(x)
      subsample = self._subsample[index - 1]
      if subsample > 1:
        x = x[:, ::subsample, ::subsample, :]
      x = getattr(self, f'conv{index}')(x)
    return x + shortcut

  def get_config(self):
    config = super().get_config()
    config.update(
        filters=list(self.filters),
        strides=self.strides,
        dilation_rate=self.dilation_rate,
        second_dilation_rate=self.second_dilation_rate,
        projection_shortcut=self.projection_shortcut,
        dropout_rate=self.dropout_rate,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
        kernel_initializer=conv_bn_act.serialize_initializer(self.kernel_initializer),
    )
    return config


@tf_keras.utils.register_keras_serializable(package='widescale')
class WideResNet38(tf_keras.Model):
  """Wide-ResNet-38 backbone, Model A ('a') or A1 ('a1'); see the module docstring for the layout.

  `call(images, training=None)` takes normalised images [B, H, W, 3] and returns a dict of endpoints:
  'b1' (stride 1), 'b2' (2), 'b3' (4), 'b4' (8), 'b5' (16), 'b6' and 'b7' (32), 'final' (BN-ReLU of b7,
  32), and the aliases 'res2' (= b3), 'res3' (= b4), 'res4' (= b5), 'res5' (= final); strides are capped
  at `output_stride`. Classification pools 'final' (`ImageClassifier(backbone, 1000, endpoint='final')`).

  Args:
    variant: 'a' (downsampling by 3x3 stride-2 max pooling) or 'a1' (by a stride-2 first unit), see
      `VARIANTS`.
    output_stride: 32 (classification), 16 or 8 (segmentation: B5 dilation 2, B6 and B7 dilation 4).
    b1_units: residual units (3x3, 3x3) 64, 64 after conv1a; 0 in the released models (the paper
      removes B1's units for 224x224 inputs).
    b6_dropout_rate: dropout before the last convolution of B6.
    b7_dropout_rate: dropout before the last convolution of B7.
    width_multiplier: scales every channel count (rounded, at least 1). 1 is the paper's network;
      smaller values are for tests and smoke configs only.
    bn_momentum: BN momentum (0.9, MXNet's default in the official code).
    bn_epsilon: BN epsilon (1e-5, the official code's).
    sync_batch_norm: synchronise BN statistics across replicas.
    conv_kernel_initializer: initializer of the convolution kernels.
    **kwargs: Model arguments (name, ...).
  """

  def __init__(self,
               variant: str = 'a',
               output_stride: int = 32,
               b1_units: int = 0,
               b6_dropout_rate: float = 0.3,
               b7_dropout_rate: float = 0.5,
               width_multiplier: float = 1.0,
               bn_momentum: float = 0.9,
               bn_epsilon: float = 1e-5,
               sync_batch_norm: bool = False,
               conv_kernel_initializer='he_normal',
               **kwargs):
    kwargs.setdefault('name', 'wide_resnet38')
    super().__init__(**kwargs)
    if variant not in VARIANTS:
      raise ValueError(f'WideResNet38: unknown variant={variant!r}; known: {sorted(VARIANTS)}.')
    if output_stride not in (8, 16, 32):
      raise ValueError(f'WideResNet38: output_stride must be 8, 16 or 32, '
                       f'got output_stride={output_stride!r}.')
    if not (isinstance(b1_units, int) and b1_units >= 0):
      raise ValueError(f'WideResNet38: b1_units must be an int >= 0, got b1_units={b1_units!r}.')
    for arg, value in (('b6_dropout_rate', b6_dropout_rate), ('b7_dropout_rate', b7_dropout_rate)):
      if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
        raise ValueError(f'WideResNet38: {arg} must be in [0, 1), got {arg}={value!r}.')
    if not (isinstance(width_multiplier, (int, float)) and width_multiplier > 0):
      raise ValueError(f'WideResNet38: width_multiplier must be > 0, '
                       f'got width_multiplier={width_multiplier!r}.')
    conv_bn_act.check_batch_norm_args('WideResNet38', bn_momentum, bn_epsilon)

    self.variant = variant
    self.output_stride = output_stride
    self.b1_units = b1_units
    self.b6_dropout_rate = b6_dropout_rate
    self.b7_dropout_rate = b7_dropout_rate
    self.width_multiplier = width_multiplier
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm
    self.conv_kernel_initializer = conv_kernel_initializer

    unit_kwargs = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, sync_batch_norm=sync_batch_norm,
                       kernel_initializer=conv_kernel_initializer)
    self.conv1a = tf_keras.layers.Conv2D(
        self._width(_STEM_FILTERS), 3, padding='same', use_bias=False,
        kernel_initializer=conv_kernel_initializer, name='conv1a')
    # One attribute per block holding its units (b1 may be empty): checkpoint keys read 'b4/0/conv1/...'.
    for name, _, units in self.block_plan():
      setattr(self, name, [PreActivationUnit(name=f'{name}_unit{index + 1}', **unit_kwargs, **unit)
                           for index, unit in enumerate(units)])
    self.final_bn = conv_bn_act.batch_norm(bn_momentum, bn_epsilon, sync_batch_norm, name='final_bn')

  def _width(self, channels: int) -> int:
    return max(1, int(round(channels * self.width_multiplier)))

  def block_plan(self) -> Tuple[Tuple[str, Optional[Dict], Tuple[Dict, ...]], ...]:
    """Per block ('b1'..'b7'): (name, max-pool arguments before it or None, PreActivationUnit arguments).

    Pool arguments are {'strides', 'dilation_rate'} (Model A only).
    """
    downsampling = VARIANTS[self.variant].downsampling
    dropout = {'b6': self.b6_dropout_rate, 'b7': self.b7_dropout_rate}
    b1_filters = (self._width(_STEM_FILTERS),) * 2
    plan = [('b1', None, tuple(dict(filters=b1_filters) for _ in range(self.b1_units)))]
    stride, rate = 1, 1  # stride of the network without dilation so far; current atrous rate
    for block in _BLOCKS:
      filters = tuple(self._width(f) for f in block.filters)
      pool = None
      first = dict(filters=filters, strides=1, dilation_rate=rate, second_dilation_rate=rate,
                   projection_shortcut=True)
      if block.downsample_before:
        can_stride = stride < self.output_stride
        if downsampling == 'pool':
          pool = dict(strides=2 if can_stride else 1, dilation_rate=1 if can_stride else rate)
          if not can_stride:
            rate *= 2
          first.update(dilation_rate=rate, second_dilation_rate=rate)
        elif can_stride:
          first['strides'] = 2
        else:
          # The convolution that would have strided keeps the current rate (ademxapp's inc_dilate).
          rate *= 2
          first['second_dilation_rate'] = rate
        stride *= 2
      units = [first] + [dict(filters=filters, dilation_rate=rate) for _ in range(block.units - 1)]
      for unit in units:
        unit['dropout_rate'] = dropout.get(block.name, 0.0)
      plan.append((block.name, pool, tuple(units)))
    return tuple(plan)

  def call(self, images, training=None):
    x = self.conv1a(images)
    endpoints = {}
    for name, pool, _ in self.block_plan():
      if pool is not None:
        x = max_pool_3x3(x, **pool)
      for unit in getattr(self, name):
        x = unit(x, training=training)
      endpoints[name] = x
    endpoints['final'] = tf.nn.relu(self.final_bn(x, training=training))
    for alias, name in ENDPOINT_ALIASES.items():
      endpoints[alias] = endpoints[name]
    return endpoints

  @classmethod
  def from_variant(cls, variant: str, **overrides) -> 'WideResNet38':
    """Builds a named variant of `VARIANTS` ('a', 'a1'); `overrides` set any other constructor argument."""
    return cls(variant=variant, **overrides)

  def get_config(self):
    # Model.get_config of a subclassed model drops name/trainable/dtype; Layer's keeps them.
    config = tf_keras.layers.Layer.get_config(self)
    config.update(
        variant=self.variant,
        output_stride=self.output_stride,
        b1_units=self.b1_units,
        b6_dropout_rate=self.b6_dropout_rate,
        b7_dropout_rate=self.b7_dropout_rate,
        width_multiplier=self.width_multiplier,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
        conv_kernel_initializer=conv_bn_act.serialize_initializer(self.conv_kernel_initializer),
    )
    return config

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)
