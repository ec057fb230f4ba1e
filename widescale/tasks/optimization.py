"""The optimisation step every task shares: forward, losses, gradients, update."""

from typing import Callable, Dict

import tensorflow as tf


def train_step(model, optimizer, images: tf.Tensor,
               compute_losses: Callable[[Dict[str, tf.Tensor]], Dict[str, tf.Tensor]]) -> Dict[str, tf.Tensor]:
  """One optimisation step on this replica's share of the batch; returns its loss terms.

  Args:
    model: called as `model(images, training=True)`.
    optimizer: a Keras optimizer; under a strategy its apply_gradients sums the replicas' gradients.
    images: this replica's images.
    compute_losses: model outputs -> loss dict with 'total_loss', each term already divided by the
      GLOBAL batch size, so the sum over replicas is the mean over the global batch.
  """
  with tf.GradientTape() as tape:
    outputs = model(images, training=True)
    losses = compute_losses(outputs)
    total = losses['total_loss']
    # Regularisation losses the model carries (kernel regularizers), once per global step: each replica
    # adds its share, and the optimizer sums the replicas' gradients.
    if model.losses:
      total += tf.add_n(model.losses) / tf.distribute.get_strategy().num_replicas_in_sync
  gradients = tape.gradient(total, model.trainable_variables)
  optimizer.apply_gradients(zip(gradients, model.trainable_variables))
  return losses
