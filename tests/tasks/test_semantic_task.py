"""SemanticTask losses, evaluation outputs and argument checks, without data."""

import numpy as np
import pytest
import tensorflow as tf

from widescale.data.datasets.class_tables import SHAPES
from widescale.tasks import semantic


def test_loss_is_the_weighted_cross_entropy_averaged_over_the_pixels_of_each_image():
  task = semantic.SemanticTask('shapes')
  logits = np.zeros([1, 2, 2, SHAPES.num_classes], np.float32)
  logits[0, 0, 0, 1] = 2.0
  labels = np.array([[[1, 0], [0, 255]]], np.int32)
  weights = np.array([[[1.0, 1.0], [1.0, 0.0]]], np.float32)  # void pixel weight 0
  losses = task.compute_losses({'semantic_logits': tf.constant(logits)},
                               {'semantic': tf.constant(labels), 'semantic_weights': tf.constant(weights)},
                               global_batch_size=2)
  c = SHAPES.num_classes
  hit = -np.log(np.exp(2.0) / (np.exp(2.0) + c - 1))
  flat = np.log(c)
  # With top_k_percent = 1: the mean over all 4 pixels of weight x cross-entropy (void counts as 0).
  per_image = (hit + 2 * flat) / 4
  np.testing.assert_allclose(float(losses['total_loss']), per_image / 2, rtol=1e-6)  # / global batch 2


def test_eval_step_gives_semantic_maps_and_marks_all_void_padding():
  task = semantic.SemanticTask('shapes')
  void = SHAPES.ignore_label * SHAPES.label_divisor
  panoptic = tf.constant([[[3001, 1000]], [[void, void]]], tf.int32)

  def model(images, training):
    del images, training
    logits = tf.one_hot([[[3, 0]], [[0, 0]]], SHAPES.num_classes)
    return {'semantic_logits': logits}

  outputs = task.eval_step(model, {'image': tf.zeros([2, 1, 2, 3]), 'panoptic': panoptic})
  np.testing.assert_array_equal(outputs['gt_semantic'].numpy(), [[[3, 1]], [[255, 255]]])
  np.testing.assert_array_equal(outputs['pred_semantic'].numpy(), [[[3, 0]], [[0, 0]]])
  np.testing.assert_array_equal(outputs['is_padding'].numpy(), [False, True])


@pytest.mark.parametrize('kwargs, message', [
    (dict(dataset='imagenet2012'), "segmentation dataset 'imagenet2012'"),
    (dict(dataset='shapes', top_k_percent=0.0), 'top_k_percent=0.0'),
    (dict(dataset='shapes', eval_batch_size=0), 'eval_batch_size=0'),
    (dict(dataset='shapes', min_scale=2.0, max_scale=1.0), 'min_scale=2.0'),
])
def test_bad_arguments_name_the_argument_and_value(kwargs, message):
  with pytest.raises(ValueError, match=message):
    semantic.SemanticTask(**kwargs)
