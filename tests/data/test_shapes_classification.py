"""The embedded classification dataset `shapes_classification`: generator and TFDS builder."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from widescale.data import pipeline
from widescale.data.datasets import class_tables
from widescale.data.datasets.shapes import generator


@pytest.fixture(scope='module')
def builder(tmp_path_factory):
  return pipeline.prepare_builder('shapes_classification', builder_config='tiny',
                                  data_dir=str(tmp_path_factory.mktemp('tfds')))


def test_examples_are_a_pure_function_of_seed_split_and_index():
  first, label = generator.generate_classification_example(0, 'train', 7)
  again, label_again = generator.generate_classification_example(0, 'train', 7)
  np.testing.assert_array_equal(first, again)
  assert label == label_again
  other, _ = generator.generate_classification_example(0, 'validation', 7)
  assert not np.array_equal(first, other)
  # Its own random stream: not the panoptic example of the same index.
  panoptic_image, _ = generator.generate_example(0, 'train', 7)
  assert not np.array_equal(first, panoptic_image)


def test_labels_cover_the_three_shapes_about_evenly():
  labels = [generator.generate_classification_example(0, 'train', i)[1] for i in range(300)]
  counts = np.bincount(labels, minlength=3)
  assert counts.sum() == 300 and len(counts) == 3
  assert counts.min() >= 70, counts  # 100 each in expectation


def test_label_names_are_the_shape_classes_of_the_panoptic_table():
  names = class_tables.SHAPES_CLASSIFICATION.class_names
  assert names == tuple(class_tables.SHAPES.class_names[i] for i in class_tables.SHAPES.thing_class_ids)


def test_builder_reads_back_what_the_generator_draws(builder):
  assert builder.info.splits['train'].num_examples == 96
  assert builder.info.splits['validation'].num_examples == 24
  assert builder.info.features['label'].names == list(class_tables.SHAPES_CLASSIFICATION.class_names)
  # The keys TFDS's imagenet2012 has, so one pipeline reads both.
  assert {'image', 'label', 'file_name'} <= set(builder.info.features)
  examples = tfds.as_numpy(builder.as_dataset(split='validation'))
  seen = 0
  for example in examples:
    index = int(example['file_name'].decode().split('_')[1].split('.')[0])
    image, label = generator.generate_classification_example(0, 'validation', index)
    np.testing.assert_array_equal(example['image'], image)  # PNG is lossless
    assert example['label'] == label
    seen += 1
  assert seen == 24
