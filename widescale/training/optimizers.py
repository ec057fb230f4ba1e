"""Optimizers built from gin-configurable pieces."""

import tf_keras


def adam(learning_rate, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
         global_clipnorm=None) -> tf_keras.optimizers.Optimizer:
  """Adam without weight decay, as the Panoptic-DeepLab and SWideRNet papers train.

  Args:
    learning_rate: a float or a LearningRateSchedule of the optimizer's step.
    beta_1, beta_2, epsilon: Adam's constants (Keras defaults).
    global_clipnorm: clip the global gradient norm to this value (None: no clipping).
  """
  return tf_keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                                  epsilon=epsilon, global_clipnorm=global_clipnorm)
