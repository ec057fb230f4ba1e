"""Drop path (stochastic depth) on a residual branch, one coin per sample.

Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016. Kept branches are scaled by 1/keep_prob
so that the expected output equals the inference-time output, where the layer is the identity.
"""

import tensorflow as tf
import tf_keras


@tf_keras.utils.register_keras_serializable(package='widescale')
class DropPath(tf_keras.layers.Layer):
  """Zeroes the whole residual branch of a sample with probability 1 - keep_prob, only when training.

  Args:
    keep_prob: probability of keeping a sample's branch, in (0, 1]; 1 makes the layer the identity.
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self, keep_prob: float = 1.0, **kwargs):
    super().__init__(**kwargs)
    if not 0.0 < keep_prob <= 1.0:
      raise ValueError(f'DropPath: keep_prob must be in (0, 1], got keep_prob={keep_prob!r}.')
    self.keep_prob = float(keep_prob)

  def call(self, inputs, training=None):
    if self.keep_prob == 1.0 or training is None:
      return inputs

    def drop():
      # floor(keep + U[0, 1)) is 1 with probability keep: one Bernoulli draw per sample.
      mask_shape = tf.concat([tf.shape(inputs)[:1], tf.ones([inputs.shape.rank - 1], tf.int32)], axis=0)
      mask = tf.floor(self.keep_prob + tf.random.uniform(mask_shape, dtype=inputs.dtype))
      return inputs / tf.cast(self.keep_prob, inputs.dtype) * mask

    return tf.__internal__.smart_cond.smart_cond(training, drop, lambda: inputs)

  def get_config(self):
    config = super().get_config()
    config.update(keep_prob=self.keep_prob)
    return config
