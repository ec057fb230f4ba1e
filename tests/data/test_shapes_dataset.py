"""The synthetic `shapes` dataset: generator, TFDS builder (tiny config, built into tmp), PNG encoding."""

import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from widescale.data import pipeline
from widescale.data.datasets import shapes
from widescale.data.datasets.class_tables import SHAPES
from widescale.data.datasets.shapes import generator

VOID = SHAPES.ignore_label * SHAPES.label_divisor


@pytest.fixture(scope='module')
def tiny_dir(tmp_path_factory) -> str:
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  pipeline.prepare_builder('shapes', builder_config='tiny', data_dir=data_dir)
  return data_dir


@pytest.fixture(scope='module')
def tiny_train(tiny_dir):
  """{image_id: (image, panoptic int32)} of the tiny train split, read back through TFDS."""
  dataset = pipeline.load_or_build('shapes', 'train', builder_config='tiny', data_dir=tiny_dir)
  return {example['image_id'].decode(): (example['image'], generator.decode_panoptic_rgb(example['panoptic']))
          for example in tfds.as_numpy(dataset)}


def test_generator_is_a_function_of_seed_split_index():
  image, panoptic = generator.generate_example(0, 'train', 5)
  generator.generate_example(0, 'train', 6)  # drawing others in between changes nothing
  again_image, again_panoptic = generator.generate_example(0, 'train', 5)
  np.testing.assert_array_equal(image, again_image)
  np.testing.assert_array_equal(panoptic, again_panoptic)
  for other in ((1, 'train', 5), (0, 'validation', 5), (0, 'train', 4)):
    assert not np.array_equal(panoptic, generator.generate_example(*other)[1]), other


def test_builder_registered_with_tiny_and_full_configs():
  assert tfds.builder_cls('shapes') is shapes.Shapes
  configs = {config.name: config for config in shapes.Shapes.BUILDER_CONFIGS}
  assert shapes.Shapes.BUILDER_CONFIGS[0].name == 'full'  # the default
  assert (configs['full'].num_train, configs['full'].num_validation) == (2000, 200)
  assert (configs['tiny'].num_train, configs['tiny'].num_validation) == (64, 16)


def test_tiny_build_splits_and_features(tiny_dir):
  builder = tfds.builder('shapes/tiny', data_dir=tiny_dir)
  assert builder.info.splits['train'].num_examples == 64
  assert builder.info.splits['validation'].num_examples == 16
  assert builder.info.features['image'].shape == (128, 128, 3)
  assert builder.info.features['panoptic'].shape == (128, 128, 3)


def test_same_seed_builds_the_same_bytes(tiny_dir, tmp_path):
  pipeline.prepare_builder('shapes', builder_config='tiny', data_dir=str(tmp_path))
  records = sorted(pathlib.Path(tiny_dir, 'shapes', 'tiny').rglob('*.tfrecord*'))
  assert len(records) == 2
  for record in records:
    twin = tmp_path / record.relative_to(tiny_dir)
    assert record.read_bytes() == twin.read_bytes(), record.name


def test_stored_examples_equal_the_generator(tiny_train):
  image, panoptic = tiny_train['train_00007']
  expected_image, expected_panoptic = generator.generate_example(0, 'train', 7)
  np.testing.assert_array_equal(image, expected_image)
  np.testing.assert_array_equal(panoptic, expected_panoptic)


def test_class_and_instance_ids(tiny_train):
  num_instances = []
  for image_id, (_, panoptic) in tiny_train.items():
    semantic, instance = panoptic // 1000, panoptic % 1000
    assert set(np.unique(semantic)) <= {0, 1, 2, 3, 4, 5, 255}, image_id
    stuff_or_void = np.isin(semantic, (0, 1, 2, 255))
    assert np.all(instance[stuff_or_void] == 0), image_id
    thing_ids = sorted(set(np.unique(panoptic[~stuff_or_void])))
    # Every thing pixel has an instance id; ids are 1..n, dense, and each listed id has pixels.
    assert sorted(id_ % 1000 for id_ in thing_ids) == list(range(1, len(thing_ids) + 1)), image_id
    for id_ in thing_ids:  # an instance is small: at most the 41 x 41 box of a 40 px square
      assert np.sum(panoptic == id_) <= 41 * 41, (image_id, id_)
    num_instances.append(len(thing_ids))
  assert min(num_instances) >= 1 and max(num_instances) <= 6
  assert len(set(num_instances)) >= 4  # the count varies


def test_stuff_colours_follow_the_class_table(tiny_train):
  for image_id, (image, panoptic) in list(tiny_train.items())[:10]:
    for stuff_class in SHAPES.stuff_class_ids:
      pixels = image[panoptic == stuff_class * 1000].astype(np.float32)
      if len(pixels) > 100:  # per-image jitter 12 and pixel noise 8: the mean stays well within 45
        assert np.abs(pixels.mean(axis=0) - SHAPES.colors[stuff_class]).max() < 45, (image_id, stuff_class)


def test_void_band_along_one_border_in_some_images(tiny_train):
  with_band = 0
  for image_id, (image, panoptic) in tiny_train.items():
    void = panoptic == VOID
    if not void.any():
      continue
    with_band += 1
    rows, cols = np.nonzero(void)
    # One full strip, 2-5 px wide, touching one border.
    strips = [rows.max() < 5, rows.min() > 122, cols.max() < 5, cols.min() > 122]
    assert sum(strips) == 1, image_id
    assert void.sum() in {128 * width for width in range(2, 6)}, image_id
    assert image[void].mean() < 40, image_id  # painted dark
  assert 5 <= with_band <= 40  # ~30% of 64


def test_fully_hidden_shape_gets_no_id():
  owner = np.array([[1, 1, 2],
                    [1, 3, 3],
                    [-1, -1, 3]])
  void = np.array([[False, False, True],   # shape 2 is only under the void band
                   [False, False, False],
                   [False, False, False]])
  # Shape 0 is hidden by later shapes, shape 2 by the band: the visible shapes 1 and 3 get ids 1 and 2.
  np.testing.assert_array_equal(generator.visible_instance_ids(owner, void, 4), [0, 1, 0, 2])


@pytest.mark.parametrize('ids', [[0, 255, 256, 65535, 65536, 255000, 5006, 16777215]])
def test_png_round_trip_of_large_ids(ids):
  panoptic = np.array(ids, np.int64).reshape(1, -1)
  png = tf.io.encode_png(generator.encode_panoptic_rgb(panoptic))
  decoded_tf = pipeline.decode_panoptic_rgb(tf.io.decode_png(png, channels=3))
  decoded_np = generator.decode_panoptic_rgb(tf.io.decode_png(png, channels=3).numpy())
  np.testing.assert_array_equal(decoded_tf.numpy(), panoptic)
  np.testing.assert_array_equal(decoded_np, panoptic)
  assert decoded_tf.dtype == tf.int32


def test_encode_rejects_ids_that_do_not_fit():
  with pytest.raises(ValueError, match='2\\^24'):
    generator.encode_panoptic_rgb(np.array([[256 ** 3]]))


def test_data_dir_from_environment(monkeypatch, tmp_path):
  monkeypatch.setenv(pipeline.DATA_DIR_ENV_VAR, str(tmp_path))
  assert pipeline.default_data_dir() == str(tmp_path)
  monkeypatch.delenv(pipeline.DATA_DIR_ENV_VAR)
  assert pipeline.default_data_dir().endswith('.cache/widescale/tensorflow_datasets')
