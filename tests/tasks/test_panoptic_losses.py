"""Panoptic-DeepLab losses on cases worked out by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from widescale.tasks import panoptic_losses


def _ce(logits, label):
  logits = np.asarray(logits, np.float64)
  return math.log(np.exp(logits).sum()) - logits[label]


def test_semantic_loss_all_pixels_is_weighted_mean():
  # One image of 1x2 pixels, 2 classes. Pixel 0: logits (0, 0), label 0 -> CE log 2, weight 1.
  # Pixel 1: logits (2, 0), label 1 -> CE log(e^2 + 1) - 0, weight 3. Mean over 2 pixels.
  logits = tf.constant([[[[0.0, 0.0], [2.0, 0.0]]]])
  labels = tf.constant([[[0, 1]]])
  weights = tf.constant([[[1.0, 3.0]]])
  loss = panoptic_losses.semantic_loss_per_image(logits, labels, weights, 2, top_k_percent=1.0)
  expected = (math.log(2) + 3 * _ce([2, 0], 1)) / 2
  np.testing.assert_allclose(loss.numpy(), [expected], rtol=1e-6)


def test_semantic_loss_keeps_hardest_pixels_and_ignores_void():
  # 1x5 pixels; losses (weighted): void (weight 0) -> 0, and CEs of increasing size. top 40% of 5 = 2
  # pixels: the two largest are averaged.
  logits = tf.constant([[[[9.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 3.0], [0.0, 5.0]]]])
  labels = tf.constant([[[255, 0, 0, 0, 0]]])
  weights = tf.constant([[[0.0, 1.0, 1.0, 1.0, 1.0]]])
  loss = panoptic_losses.semantic_loss_per_image(logits, labels, weights, 2, top_k_percent=0.4)
  expected = (_ce([0, 5], 0) + _ce([0, 3], 0)) / 2
  np.testing.assert_allclose(loss.numpy(), [expected], rtol=1e-6)


def test_semantic_loss_rejects_bad_top_k():
  with pytest.raises(ValueError, match='top_k_percent'):
    panoptic_losses.semantic_loss_per_image(tf.zeros([1, 1, 1, 2]), tf.zeros([1, 1, 1], tf.int32),
                                            tf.ones([1, 1, 1]), 2, top_k_percent=0.0)


def test_center_loss_is_weighted_squared_error_over_all_pixels():
  # 2x2 image: errors 1, 0.5 (weight 1), 2 (weight 0: crowd) and 0 -> (1 + 0.25) / 4 pixels.
  predicted = tf.constant([[[1.0, 0.5], [2.0, 0.0]]])
  target = tf.zeros([1, 2, 2])
  weights = tf.constant([[[1.0, 1.0], [0.0, 1.0]]])
  loss = panoptic_losses.center_loss_per_image(predicted, target, weights)
  np.testing.assert_allclose(loss.numpy(), [1.25 / 4], rtol=1e-6)


def test_offset_loss_is_l1_per_instance_pixel():
  # Two images. Image 0: one weighted pixel with |dy| + |dx| error 3 + 1 = 4 -> 4 / 1.
  # Image 1: no instance pixel -> 0 (not NaN).
  predicted = tf.constant([[[[3.0, -1.0], [7.0, 7.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])
  target = tf.zeros([2, 1, 2, 2])
  weights = tf.constant([[[1.0, 0.0]], [[0.0, 0.0]]])
  loss = panoptic_losses.offset_loss_per_image(predicted, target, weights)
  np.testing.assert_allclose(loss.numpy(), [4.0, 0.0], rtol=1e-6)
