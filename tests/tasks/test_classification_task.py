"""ClassificationTask losses, evaluation outputs and argument checks, without data."""

import numpy as np
import pytest
import tensorflow as tf

from widescale.tasks import classification
from widescale.data.datasets import class_tables


def _task(**kwargs):
  kwargs.setdefault('dataset', 'shapes_classification')
  return classification.ClassificationTask(**kwargs)


def test_cross_entropy_with_label_smoothing_by_hand():
  task = _task(label_smoothing=0.3)
  logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]], np.float32)
  labels = np.array([0, 2], np.int32)
  losses = task.compute_losses({'logits': tf.constant(logits)}, {'label': tf.constant(labels)},
                               global_batch_size=4)
  log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
  targets = np.full((2, 3), 0.3 / 3) + 0.7 * np.eye(3)[labels]
  expected = -(targets * log_probs).sum() / 4  # summed over this replica's 2 images / global batch 4
  np.testing.assert_allclose(float(losses['cross_entropy_loss']), expected, rtol=1e-6)
  assert float(losses['total_loss']) == float(losses['cross_entropy_loss'])


def test_without_smoothing_it_is_the_plain_negative_log_likelihood():
  task = _task()
  logits = tf.constant([[0.0, np.log(3.0), 0.0]], tf.float32)  # p = (0.2, 0.6, 0.2)
  losses = task.compute_losses({'logits': logits}, {'label': tf.constant([1])}, global_batch_size=1)
  np.testing.assert_allclose(float(losses['total_loss']), -np.log(0.6), rtol=1e-6)


def test_eval_step_ranks_predictions_and_marks_padding():
  task = _task()

  def model(images, training):
    del training
    return {'logits': tf.constant([[0.1, 0.9, 0.5], [0.7, 0.2, 0.1]])}

  outputs = task.eval_step(model, {'image': tf.zeros([2, 4, 4, 3]), 'label': tf.constant([1, -1])})
  np.testing.assert_array_equal(outputs['ranked_predictions'].numpy(), [[1, 2, 0], [0, 1, 2]])
  np.testing.assert_array_equal(outputs['is_padding'].numpy(), [False, True])
  real = task.real_examples({name: value.numpy() for name, value in outputs.items()})
  assert len(real['label']) == 1 and 'is_padding' not in real


def test_imagenet_has_1000_classes_and_the_loop_split_names_map_to_tfds():
  task = _task(dataset='imagenet2012')
  assert task.num_classes == 1000 and task.input_size == (224, 224)
  assert class_tables.IMAGENET2012.eval_split == 'validation'


@pytest.mark.parametrize('kwargs, message', [
    (dict(dataset='cityscapes_panoptic'), "classification dataset 'cityscapes_panoptic'"),
    (dict(dataset='imagenet'), 'imagenet2012'),  # the known names are listed
    (dict(train_batch_size=0), 'train_batch_size=0'),
    (dict(label_smoothing=1.0), 'label_smoothing=1.0'),
    (dict(image_size=(0, 4)), 'image_size'),
    (dict(crop_area_range=(0.5, 0.2)), 'crop_area_range'),
    (dict(eval_crop_fraction=0.0), 'eval_crop_fraction=0.0'),
])
def test_bad_arguments_name_the_argument_and_value(kwargs, message):
  with pytest.raises(ValueError, match=message):
    _task(**kwargs)
