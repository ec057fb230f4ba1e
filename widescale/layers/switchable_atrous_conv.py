"""Switchable Atrous Convolution (SAC) with its global-context modules.

Qiao, Chen, Yuille, "DetectoRS: Detecting Objects with Recursive Feature Pyramid and Switchable Atrous
Convolution", CVPR 2021 (arXiv 2006.02334); used in SWideRNet (Chen, Wang, Qiao, arXiv 2011.11675):

  out = S(x) * conv(x, W, 3r) + (1 - S(x)) * conv(x, W, r)

with one kernel W shared by both rates, and the switch S = 5x5 stride-1 average pool -> 1x1 conv to one
channel (no sigmoid, as deeplab2). A global-context module (global average pool -> 1x1 conv, added back)
sits before and after. Every new weight is zero-initialised, so at initialisation SAC is exactly the plain
rate-r convolution with kernel W: a pretrained plain network converts to SAC without changing its output.
"""

import tensorflow as tf
import tf_keras


@tf_keras.utils.register_keras_serializable(package='widescale')
class GlobalContext(tf_keras.layers.Layer):
  """x + conv1x1(global_mean(x)), the 1x1 conv C -> C with bias, zero-initialised (an identity at start).

  Args:
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def build(self, input_shape):
    channels = int(input_shape[-1])
    self.conv = tf_keras.layers.Conv2D(
        channels, 1, use_bias=True, kernel_initializer='zeros', bias_initializer='zeros', name='conv')
    self.conv.build([None, 1, 1, channels])
    super().build(input_shape)

  def call(self, inputs):
    context = tf.reduce_mean(inputs, axis=[1, 2], keepdims=True)
    return inputs + self.conv(context)


@tf_keras.utils.register_keras_serializable(package='widescale')
class SwitchableAtrousConv(tf_keras.layers.Layer):
  """A stride-1 convolution that mixes rates r and `large_rate_multiplier`*r per pixel.

  Args:
    filters: output channels.
    kernel_size: square kernel size.
    dilation_rate: the small rate r.
    large_rate_multiplier: the large rate is this times r (3 in DetectoRS and SWideRNet).
    switch_pool_size: window of the average pool feeding the switch (5).
    use_global_context: add the global-context modules before and after.
    learned_delta_kernel: the large-rate branch uses W + dW with dW learned and zero-initialised
      (DetectoRS' option); deeplab2 and SWideRNet share W exactly.
    kernel_initializer: initializer of W.
    use_bias: add a bias after mixing (off when a BatchNorm follows).
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self,
               filters: int,
               kernel_size: int = 3,
               dilation_rate: int = 1,
               large_rate_multiplier: int = 3,
               switch_pool_size: int = 5,
               use_global_context: bool = True,
               learned_delta_kernel: bool = False,
               kernel_initializer='he_normal',
               use_bias: bool = False,
               **kwargs):
    super().__init__(**kwargs)
    for arg, value in (('filters', filters), ('kernel_size', kernel_size), ('dilation_rate', dilation_rate),
                       ('large_rate_multiplier', large_rate_multiplier),
                       ('switch_pool_size', switch_pool_size)):
      if int(value) < 1:
        raise ValueError(f'SwitchableAtrousConv: {arg} must be >= 1, got {arg}={value!r}.')
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.dilation_rate = int(dilation_rate)
    self.large_rate_multiplier = int(large_rate_multiplier)
    self.switch_pool_size = int(switch_pool_size)
    self.use_global_context = use_global_context
    self.learned_delta_kernel = learned_delta_kernel
    self.kernel_initializer = kernel_initializer
    self.use_bias = use_bias

    self.switch_pool = tf_keras.layers.AveragePooling2D(
        self.switch_pool_size, strides=1, padding='same', name='switch_pool')
    self.switch = tf_keras.layers.Conv2D(
        1, 1, use_bias=True, kernel_initializer='zeros', bias_initializer='zeros', name='switch')
    self.pre_context = GlobalContext(name='pre_context') if use_global_context else None
    self.post_context = GlobalContext(name='post_context') if use_global_context else None

  def build(self, input_shape):
    in_channels = int(input_shape[-1])
    kernel_shape = [self.kernel_size, self.kernel_size, in_channels, self.filters]
    self.kernel = self.add_weight(
        'kernel', kernel_shape, initializer=tf_keras.initializers.get(self.kernel_initializer))
    self.delta_kernel = None
    if self.learned_delta_kernel:
      self.delta_kernel = self.add_weight('delta_kernel', kernel_shape, initializer='zeros')
    self.bias = self.add_weight('bias', [self.filters], initializer='zeros') if self.use_bias else None
    super().build(input_shape)

  def call(self, inputs):
    x = inputs
    if self.pre_context is not None:
      x = self.pre_context(x)
    switch = self.switch(self.switch_pool(x))
    small_rate = self.dilation_rate
    large_rate = self.dilation_rate * self.large_rate_multiplier
    large_kernel = self.kernel if self.delta_kernel is None else self.kernel + self.delta_kernel
    # tf.nn.convolution, like Keras' Conv2D, runs dilated convs through space-to-batch on CPU/GPU; using the
    # same op keeps SAC's FLOPs counted the way deeplab2's published numbers count them.
    small = tf.nn.convolution(x, self.kernel, padding='SAME', dilations=small_rate)
    large = tf.nn.convolution(x, large_kernel, padding='SAME', dilations=large_rate)
    outputs = switch * large + (1.0 - switch) * small
    if self.bias is not None:
      outputs = tf.nn.bias_add(outputs, self.bias)
    if self.post_context is not None:
      outputs = self.post_context(outputs)
    return outputs

  def compute_output_shape(self, input_shape):
    return tf.TensorShape(input_shape)[:-1].concatenate([self.filters])

  def get_config(self):
    # Not conv_bn_act.serialize_initializer: conv_bn_act imports this module.
    initializer = self.kernel_initializer
    if not isinstance(initializer, (str, dict)):
      initializer = tf_keras.initializers.serialize(initializer)
    config = super().get_config()
    config.update(
        filters=self.filters,
        kernel_size=self.kernel_size,
        dilation_rate=self.dilation_rate,
        large_rate_multiplier=self.large_rate_multiplier,
        switch_pool_size=self.switch_pool_size,
        use_global_context=self.use_global_context,
        learned_delta_kernel=self.learned_delta_kernel,
        kernel_initializer=initializer,
        use_bias=self.use_bias,
    )
    return config
