"""The classification input pipeline on the tiny `shapes_classification` config built into tmp."""

import numpy as np
import pytest
import tensorflow as tf

from widescale.data import classification_pipeline
from widescale.data import pipeline
from widescale.data.datasets.class_tables import SHAPES_CLASSIFICATION


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory) -> str:
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  pipeline.prepare_builder('shapes_classification', builder_config='tiny', data_dir=data_dir)
  return data_dir


def _build(data_dir, split='train', **kwargs):
  kwargs.setdefault('is_training', True)
  kwargs.setdefault('batch_size', 8)
  kwargs.setdefault('image_size', (32, 48))
  return classification_pipeline.build_classification_dataset(
      SHAPES_CLASSIFICATION, split, builder_config='tiny', data_dir=data_dir, **kwargs)


def _context(pipeline_id, num_pipelines=2, replicas=2):
  return tf.distribute.InputContext(num_input_pipelines=num_pipelines, input_pipeline_id=pipeline_id,
                                    num_replicas_in_sync=replicas)


def test_training_batches_have_static_shapes_and_valid_labels(data_dir):
  dataset = _build(data_dir)
  assert dataset.element_spec['image'].shape.as_list() == [8, 32, 48, 3]
  assert dataset.element_spec['label'].shape.as_list() == [8]
  for batch in dataset.take(3):
    image, label = batch['image'].numpy(), batch['label'].numpy()
    assert image.dtype == np.float32 and 0.0 <= image.min() and image.max() <= 255.0
    assert set(label) <= {0, 1, 2}


def test_training_is_deterministic_given_the_seed(data_dir):
  first = [b['image'].numpy() for b in _build(data_dir, seed=3).take(2)]
  again = [b['image'].numpy() for b in _build(data_dir, seed=3).take(2)]
  other = [b['image'].numpy() for b in _build(data_dir, seed=4).take(2)]
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, other)


def test_evaluation_pads_to_whole_batches_with_label_minus_one(data_dir):
  # 24 validation images in batches of 10: 3 batches, the last with 6 padding examples.
  batches = list(_build(data_dir, 'validation', is_training=False, batch_size=10))
  labels = np.concatenate([b['label'].numpy() for b in batches])
  assert len(batches) == 3 and labels.shape == (30,)
  padding = classification_pipeline.is_padding_label(labels)
  assert padding.sum() == 6 and padding[-6:].all()


def test_evaluation_is_the_resized_central_crop(data_dir):
  # Fraction 1 of a square image is the whole image: resizing 128 -> 64 by 2 is a plain 2x2 mean.
  batch = next(iter(_build(data_dir, 'validation', is_training=False, batch_size=4, image_size=(64, 64),
                           eval_crop_fraction=1.0)))
  raw = next(iter(pipeline.load_or_build('shapes_classification', 'validation', builder_config='tiny',
                                         data_dir=data_dir).batch(4)))
  expected = tf.image.resize(tf.cast(raw['image'], tf.float32), (64, 64), method='bilinear').numpy()
  np.testing.assert_allclose(batch['image'].numpy(), expected, atol=1e-3)
  np.testing.assert_array_equal(batch['label'].numpy(), raw['label'].numpy())


def test_two_hosts_read_disjoint_halves_that_cover_the_split(data_dir):
  seen = []
  for pipeline_id in range(2):
    # One replica per pipeline, batch 2 per replica (global 4); evaluation: one pass, padded.
    dataset = _build(data_dir, 'validation', is_training=False, batch_size=4,
                     input_context=_context(pipeline_id, replicas=2), image_size=(16, 16))
    images = np.concatenate([b['image'].numpy() for b in dataset])
    labels = np.concatenate([b['label'].numpy() for b in dataset])
    real = ~classification_pipeline.is_padding_label(labels)
    seen.append({image.tobytes() for image in images[real]})
  assert not seen[0] & seen[1]
  assert len(seen[0]) + len(seen[1]) == 24


def test_inception_crop_stays_inside_the_image_and_covers_the_area_range():
  image = tf.reshape(tf.range(100 * 80 * 3, dtype=tf.float32) % 251, [100, 80, 3])
  for seed in range(10):
    crop = classification_pipeline.inception_crop(image, tf.constant([seed, 1], tf.int64), (20, 30),
                                                  area_range=(0.5, 1.0))
    assert crop.shape == (20, 30, 3)
    assert float(tf.reduce_min(crop)) >= 0.0 and float(tf.reduce_max(crop)) <= 250.0


@pytest.mark.parametrize('kwargs, message', [
    (dict(image_size=(0, 10)), 'image_size'),
    (dict(batch_size=0), 'batch_size'),
    (dict(eval_crop_fraction=1.5), 'eval_crop_fraction'),
    (dict(crop_area_range=(0.0, 1.0)), 'crop_area_range'),
])
def test_bad_arguments_are_named(data_dir, kwargs, message):
  with pytest.raises(ValueError, match=message):
    _build(data_dir, **kwargs)


def test_a_panoptic_dataset_is_rejected_with_its_features(tmp_path):
  data_dir = str(tmp_path)
  pipeline.prepare_builder('shapes', builder_config='tiny', data_dir=data_dir)
  with pytest.raises(ValueError, match='lacks the features'):
    classification_pipeline.build_classification_dataset(
        SHAPES_CLASSIFICATION, 'train', is_training=True, batch_size=2, tfds_name='shapes',
        builder_config='tiny', data_dir=data_dir)
