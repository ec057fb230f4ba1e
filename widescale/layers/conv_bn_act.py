"""Convolution + batch norm + activation: the unit every widescale network is built from.

One layer holds the convolution and batch-norm settings (initializer, BN momentum/epsilon, synchronised BN)
so that blocks say what differs (filters, kernel, stride, rate) and nothing else.
"""

from typing import Optional, Tuple

import tf_keras

from widescale.layers import switchable_atrous_conv

CONV_TYPES = ('standard', 'separable', 'switchable_atrous')


def batch_norm(momentum: float = 0.99,
               epsilon: float = 1e-3,
               synchronized: bool = False,
               gamma_initializer: str = 'ones',
               name: Optional[str] = None) -> tf_keras.layers.BatchNormalization:
  """Returns a channels-last BatchNormalization; `synchronized` averages statistics over replicas.

  Synchronised BN makes a MirroredStrategy/TPUStrategy step compute the same update as one device with the
  global batch, which is what the papers' numbers assume (batch 32 over 32 cores is 1 image per core).
  """
  return tf_keras.layers.BatchNormalization(
      axis=-1, momentum=momentum, epsilon=epsilon, synchronized=synchronized,
      gamma_initializer=gamma_initializer, name=name)


def check_batch_norm_args(owner: str, momentum: float, epsilon: float) -> None:
  """Raises ValueError naming `owner` and the value unless 0 <= momentum < 1 and epsilon > 0."""
  if not 0.0 <= momentum < 1.0:
    raise ValueError(f'{owner}: bn_momentum must be in [0, 1), got bn_momentum={momentum!r}.')
  if not epsilon > 0.0:
    raise ValueError(f'{owner}: bn_epsilon must be > 0, got bn_epsilon={epsilon!r}.')


def symmetric_padding(kernel_size: int, dilation_rate: int) -> Tuple[int, int]:
  """Zero padding (before, after) that centres a strided kernel on pixels 0, s, 2s, ...

  Keras 'same' padding puts the extra pixel at the bottom/right when striding an even-sized input, which
  shifts features by half a pixel relative to the align-corners resizing the decoders use; padding
  explicitly keeps every stride-s feature at input pixel s*i (deeplab2 does the same).
  """
  effective = kernel_size + (kernel_size - 1) * (dilation_rate - 1)
  total = effective - 1
  return total // 2, total - total // 2


def serialize_initializer(initializer):
  """Strings stay strings (readable configs); initializer objects become their Keras config dicts."""
  if isinstance(initializer, (str, dict)) or initializer is None:
    return initializer
  return tf_keras.initializers.serialize(initializer)


@tf_keras.utils.register_keras_serializable(package='widescale')
class ConvBNAct(tf_keras.layers.Layer):
  """Conv2D (or depthwise-separable, or switchable atrous) -> BatchNorm -> activation.

  Args:
    filters: output channels.
    kernel_size: square kernel size.
    strides: spatial stride; strided convolutions pad symmetrically (see `symmetric_padding`).
    dilation_rate: atrous rate.
    conv_type: 'standard'; 'separable' = depthwise k x k + BN + act, then 1x1 + BN + act (deeplab2's
      separable conv, two BNs); 'switchable_atrous' = `SwitchableAtrousConv` (stride 1 only).
    use_bn: add batch norm; without it the convolution gets a bias.
    activation: Keras activation name applied after BN, or None.
    bn_gamma_initializer: 'zeros' on the last BN of a residual branch so blocks start as identities.
    bn_momentum: moving-average momentum of the BN statistics.
    bn_epsilon: BN epsilon.
    sync_batch_norm: synchronise BN statistics across replicas.
    kernel_initializer: initializer of the convolution kernels (deeplab2: he_normal).
    sac_learned_delta_kernel: only for 'switchable_atrous': learn a delta kernel for the large rate.
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self,
               filters: int,
               kernel_size: int = 1,
               strides: int = 1,
               dilation_rate: int = 1,
               conv_type: str = 'standard',
               use_bn: bool = True,
               activation: Optional[str] = 'relu',
               bn_gamma_initializer: str = 'ones',
               bn_momentum: float = 0.99,
               bn_epsilon: float = 1e-3,
               sync_batch_norm: bool = False,
               kernel_initializer='he_normal',
               sac_learned_delta_kernel: bool = False,
               **kwargs):
    super().__init__(**kwargs)
    if int(filters) < 1:
      raise ValueError(f'ConvBNAct: filters must be >= 1, got filters={filters!r}.')
    if conv_type not in CONV_TYPES:
      raise ValueError(f'ConvBNAct: conv_type must be one of {CONV_TYPES}, got conv_type={conv_type!r}.')
    if conv_type == 'switchable_atrous' and strides != 1:
      raise ValueError(f'ConvBNAct: switchable atrous convolution needs strides=1, got strides={strides!r}.')
    check_batch_norm_args('ConvBNAct', bn_momentum, bn_epsilon)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.strides = int(strides)
    self.dilation_rate = int(dilation_rate)
    self.conv_type = conv_type
    self.use_bn = use_bn
    self.activation = activation
    self.bn_gamma_initializer = bn_gamma_initializer
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm
    self.kernel_initializer = kernel_initializer
    self.sac_learned_delta_kernel = sac_learned_delta_kernel

    self._activation_fn = tf_keras.activations.get(activation) if activation else None
    padding = 'same'
    self.zero_pad = None
    # A strided 1x1 convolution equals subsampling every `strides`-th pixel, then a stride-1 1x1
    # convolution (same weights, same FLOPs). We always compute it that way: TF 2.21's oneDNN kernels
    # corrupt the heap in the filter gradient of strided 1x1 convolutions with few input channels
    # (seen with 4 and 8 channels at 64x64), which kills training of narrow models.
    self._subsample_pointwise = (self.kernel_size == 1 and self.strides > 1 and conv_type == 'standard')
    if self.strides > 1 and not self._subsample_pointwise:
      self.zero_pad = tf_keras.layers.ZeroPadding2D(
          [symmetric_padding(self.kernel_size, self.dilation_rate)] * 2, name='zero_pad')
      padding = 'valid'

    def make_bn(name, gamma_initializer='ones'):
      return batch_norm(bn_momentum, bn_epsilon, sync_batch_norm, gamma_initializer, name) if use_bn else None

    if conv_type == 'separable':
      self.depthwise = tf_keras.layers.DepthwiseConv2D(
          self.kernel_size, strides=self.strides, padding=padding, dilation_rate=self.dilation_rate,
          use_bias=not use_bn, depthwise_initializer=kernel_initializer, name='depthwise')
      self.depthwise_bn = make_bn('depthwise_bn')
      self.conv = tf_keras.layers.Conv2D(
          self.filters, 1, use_bias=not use_bn, kernel_initializer=kernel_initializer, name='pointwise')
    elif conv_type == 'switchable_atrous':
      self.conv = switchable_atrous_conv.SwitchableAtrousConv(
          self.filters, self.kernel_size, dilation_rate=self.dilation_rate,
          learned_delta_kernel=sac_learned_delta_kernel, kernel_initializer=kernel_initializer,
          use_bias=not use_bn, name='sac')
    else:
      self.conv = tf_keras.layers.Conv2D(
          self.filters, self.kernel_size, strides=1 if self._subsample_pointwise else self.strides,
          padding=padding,
          dilation_rate=self.dilation_rate, use_bias=not use_bn, kernel_initializer=kernel_initializer,
          name='conv')
    self.bn = make_bn('bn', bn_gamma_initializer)

  def call(self, inputs, training=None):
    x = inputs
    if self.zero_pad is not None:
      x = self.zero_pad(x)
    if self._subsample_pointwise:
      x = x[:, ::self.strides, ::self.strides, :]
    if self.conv_type == 'separable':
      x = self.depthwise(x)
      if self.depthwise_bn is not None:
        x = self.depthwise_bn(x, training=training)
      if self._activation_fn is not None:
        x = self._activation_fn(x)
    x = self.conv(x)
    if self.bn is not None:
      x = self.bn(x, training=training)
    if self._activation_fn is not None:
      x = self._activation_fn(x)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(
        filters=self.filters,
        kernel_size=self.kernel_size,
        strides=self.strides,
        dilation_rate=self.dilation_rate,
        conv_type=self.conv_type,
        use_bn=self.use_bn,
        activation=self.activation,
        bn_gamma_initializer=self.bn_gamma_initializer,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
        kernel_initializer=serialize_initializer(self.kernel_initializer),
        sac_learned_delta_kernel=self.sac_learned_delta_kernel,
    )
    return config
