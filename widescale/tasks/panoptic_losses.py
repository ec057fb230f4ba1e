"""Panoptic-DeepLab losses (Cheng et al. 2020), each normalised per image.

Every loss here returns one value per image, shape [B]. The task sums them and divides by the *global*
batch size, so that the update is the same whatever the number of replicas the batch is split over
(a per-replica mean would weight replicas, not images, and a top-k over a replica's pixels would change
with the split). How each is normalised:

- semantic: softmax cross-entropy times the pixel weight (0 on void, 3 on small instances, else 1); the
  hardest `top_k_percent` of an image's pixels are averaged (bootstrapped cross-entropy, as
  Panoptic-DeepLab and deeplab2 train it). With top_k_percent = 1 it is the mean over all pixels.
- center: squared error against the Gaussian heatmap times the center weight (0 on void and crowd),
  summed and divided by the image's pixel count (a mean over pixels, as deeplab2 does).
- offset: L1 over (dy, dx) times the offset weight (1 on thing-instance pixels), summed and divided by the
  number of weighted pixels (at least 1), i.e. the mean L1 error per instance pixel.
"""

import tensorflow as tf


def semantic_loss_per_image(logits: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor,
                            num_classes: int, top_k_percent: float) -> tf.Tensor:
  """Weighted, bootstrapped softmax cross-entropy.

  Args:
    logits: [B, H, W, C] float logits.
    labels: [B, H, W] int32 class ids; void pixels may hold any value (their weight is 0).
    weights: [B, H, W] float pixel weights.
    num_classes: C.
    top_k_percent: fraction in (0, 1] of each image's pixels, the hardest, that are averaged.

  Returns:
    [B] float32 loss per image.
  """
  if not 0.0 < top_k_percent <= 1.0:
    raise ValueError(f'semantic top_k_percent must be in (0, 1], got {top_k_percent}.')
  logits = tf.cast(logits, tf.float32)
  batch = tf.shape(logits)[0]
  # Void labels (e.g. 255) are out of range for the cross-entropy op: clip them; their weight is 0.
  safe_labels = tf.clip_by_value(labels, 0, num_classes - 1)
  pixel_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe_labels, logits=logits)
  pixel_loss = tf.reshape(pixel_loss * weights, [batch, -1])
  num_pixels = pixel_loss.shape[1] or tf.shape(pixel_loss)[1]
  if top_k_percent == 1.0:
    return tf.reduce_mean(pixel_loss, axis=1)
  k = tf.maximum(1, tf.cast(tf.math.ceil(top_k_percent * tf.cast(num_pixels, tf.float32)), tf.int32))
  hardest, _ = tf.math.top_k(pixel_loss, k=k, sorted=False)
  return tf.reduce_sum(hardest, axis=1) / tf.cast(k, tf.float32)


def center_loss_per_image(predicted: tf.Tensor, target: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
  """Weighted squared error of the center heatmap, summed and divided by the pixel count.

  Args:
    predicted, target, weights: [B, H, W] float.

  Returns:
    [B] float32 loss per image.
  """
  error = tf.square(tf.cast(predicted, tf.float32) - target) * weights
  return tf.reduce_mean(tf.reshape(error, [tf.shape(error)[0], -1]), axis=1)


def offset_loss_per_image(predicted: tf.Tensor, target: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
  """Weighted L1 error of the (dy, dx) offsets, divided by the number of weighted pixels.

  Args:
    predicted, target: [B, H, W, 2] float offsets.
    weights: [B, H, W] float.

  Returns:
    [B] float32 loss per image.
  """
  error = tf.reduce_sum(tf.abs(tf.cast(predicted, tf.float32) - target), axis=-1) * weights
  batch = tf.shape(error)[0]
  total = tf.reduce_sum(tf.reshape(error, [batch, -1]), axis=1)
  count = tf.reduce_sum(tf.reshape(weights, [batch, -1]), axis=1)
  return total / tf.maximum(count, 1.0)
