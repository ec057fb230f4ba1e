"""Learning-rate schedules."""

import tensorflow as tf
import tf_keras


class PolynomialDecayWithWarmup(tf_keras.optimizers.schedules.LearningRateSchedule):
  """Poly decay lr = base * (1 - t / decay_steps) ** power, after an optional linear warmup.

  During the first `warmup_steps` steps the rate rises linearly from 0 to the poly value at that step,
  so there is no jump when warmup ends. Past `decay_steps` the rate stays at `end_learning_rate`.

  Args:
    initial_learning_rate: rate at step 0 of the poly decay.
    decay_steps: steps over which the rate decays to `end_learning_rate` (usually the training steps).
    end_learning_rate: final rate.
    power: poly exponent (0.9 in DeepLab and Panoptic-DeepLab).
    warmup_steps: length of the linear warmup (0 for none).
  """

  def __init__(self, initial_learning_rate: float, decay_steps: int, end_learning_rate: float = 0.0,
               power: float = 0.9, warmup_steps: int = 0):
    if initial_learning_rate <= 0:
      raise ValueError(f'initial_learning_rate must be > 0, got {initial_learning_rate}.')
    if decay_steps < 1:
      raise ValueError(f'decay_steps must be >= 1, got {decay_steps}.')
    if warmup_steps < 0:
      raise ValueError(f'warmup_steps must be >= 0, got {warmup_steps}.')
    self.initial_learning_rate = initial_learning_rate
    self.decay_steps = decay_steps
    self.end_learning_rate = end_learning_rate
    self.power = power
    self.warmup_steps = warmup_steps

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    progress = tf.minimum(step, float(self.decay_steps)) / float(self.decay_steps)
    poly = ((self.initial_learning_rate - self.end_learning_rate) * tf.pow(1.0 - progress, self.power)
            + self.end_learning_rate)
    if self.warmup_steps == 0:
      return poly
    warmup_fraction = tf.minimum(1.0, step / float(self.warmup_steps))
    return poly * warmup_fraction

  def get_config(self):
    return dict(initial_learning_rate=self.initial_learning_rate, decay_steps=self.decay_steps,
                end_learning_rate=self.end_learning_rate, power=self.power,
                warmup_steps=self.warmup_steps)
