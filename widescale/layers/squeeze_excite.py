"""The simplified squeeze-and-excite of SWideRNet: one 1x1 conv and a hard sigmoid.

Hu et al., "Squeeze-and-Excitation Networks" (CVPR 2018) squeeze with two FC layers; SWideRNet (Chen et al.,
arXiv 2011.11675) follows CenterMask (Lee and Park, CVPR 2020) with a single C -> C layer and MobileNetV3's
hard sigmoid relu6(x + 3) / 6, which is cheap and quantises well.
"""

import tensorflow as tf
import tf_keras

from widescale.layers import conv_bn_act


@tf_keras.utils.register_keras_serializable(package='widescale')
class SqueezeExcite(tf_keras.layers.Layer):
  """x * hard_sigmoid(conv1x1(global_mean(x))), the 1x1 conv C -> C with bias.

  Args:
    kernel_initializer: initializer of the 1x1 conv (deeplab2: Keras VarianceScaling defaults).
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self, kernel_initializer='variance_scaling', **kwargs):
    super().__init__(**kwargs)
    self.kernel_initializer = kernel_initializer

  def build(self, input_shape):
    channels = int(input_shape[-1])
    self.conv = tf_keras.layers.Conv2D(
        channels, 1, use_bias=True, kernel_initializer=self.kernel_initializer, name='conv')
    self.conv.build([None, 1, 1, channels])
    super().build(input_shape)

  def call(self, inputs):
    squeezed = tf.reduce_mean(inputs, axis=[1, 2], keepdims=True)
    gate = tf.nn.relu6(self.conv(squeezed) + 3.0) / 6.0
    return inputs * gate

  def get_config(self):
    config = super().get_config()
    config.update(kernel_initializer=conv_bn_act.serialize_initializer(self.kernel_initializer))
    return config
