"""The panoptic input pipeline on the tiny `shapes` config built into tmp."""

import hashlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from widescale.data import pipeline
from widescale.data import targets
from widescale.data.datasets.class_tables import SHAPES
from widescale.data.datasets.shapes import generator

EXAMPLE_KEYS = set(targets.TARGET_KEYS) | {'image'}
VOID = SHAPES.ignore_label * SHAPES.label_divisor


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory) -> str:
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  pipeline.prepare_builder('shapes', builder_config='tiny', data_dir=data_dir)
  return data_dir


def _build(data_dir, split='train', **kwargs):
  kwargs.setdefault('is_training', True)
  kwargs.setdefault('batch_size', 4)
  return pipeline.build_panoptic_dataset(SHAPES, split, builder_config='tiny', data_dir=data_dir, **kwargs)


def _context(pipeline_id, num_pipelines=2, replicas=2):
  return tf.distribute.InputContext(num_input_pipelines=num_pipelines, input_pipeline_id=pipeline_id,
                                    num_replicas_in_sync=replicas)


def _fingerprint(panoptic: np.ndarray) -> str:
  return hashlib.sha1(np.ascontiguousarray(panoptic, np.int32).tobytes()).hexdigest()


@pytest.mark.parametrize('is_training', [True, False])
def test_element_spec(data_dir, is_training):
  crop = (96, 80) if is_training else (136, 128)  # evaluation pads 128 x 128 images up to the crop
  dataset = _build(data_dir, 'validation', is_training=is_training, batch_size=4, crop_size=crop)
  spec = dataset.element_spec
  assert set(spec) == EXAMPLE_KEYS
  for key, tensor_spec in spec.items():
    channels = {'image': (3,), 'center_offsets': (2,)}.get(key, ())
    assert tensor_spec.shape == (4,) + crop + channels, key
    assert tensor_spec.dtype == (tf.int32 if key in ('semantic', 'panoptic') else tf.float32), key
  batch = next(iter(dataset))
  assert 0 <= batch['image'].numpy().min() and batch['image'].numpy().max() <= 255
  if not is_training:
    np.testing.assert_array_equal(batch['panoptic'].numpy()[:, 128:], VOID)  # void padding rows
    np.testing.assert_array_equal(batch['semantic_weights'].numpy()[:, 128:], 0)


def test_training_batch_is_consistent(data_dir):
  batch = next(iter(_build(data_dir, min_scale=0.5, max_scale=2.0)))
  panoptic = batch['panoptic'].numpy()
  np.testing.assert_array_equal(batch['semantic'].numpy(), panoptic // 1000)
  is_instance = (panoptic // 1000 >= 3) & (panoptic != VOID) & (panoptic % 1000 > 0)
  np.testing.assert_array_equal(batch['offset_weights'].numpy(), is_instance)
  assert batch['center_heatmap'].numpy().max() == pytest.approx(1.0)


def test_evaluation_is_the_split_unchanged_and_padded_to_whole_batches(data_dir):
  batches = list(_build(data_dir, 'validation', is_training=False, batch_size=6))
  assert len(batches) == 3  # 16 examples -> 6 + 6 + 4 real + 2 padding
  padding = np.concatenate([pipeline.is_padding_example(b['panoptic'], SHAPES).numpy() for b in batches])
  np.testing.assert_array_equal(padding, [False] * 16 + [True] * 2)
  last = batches[-1]
  for key in ('semantic_weights', 'center_weights', 'offset_weights', 'center_heatmap'):
    np.testing.assert_array_equal(last[key].numpy()[4:], 0)
  np.testing.assert_array_equal(last['image'].numpy()[4:], 127.5)
  # Real examples are the stored maps, unchanged (no augmentation at evaluation).
  seen = {_fingerprint(p) for b in batches for p, pad in zip(b['panoptic'].numpy(),
          pipeline.is_padding_example(b['panoptic'], SHAPES).numpy()) if not pad}
  expected = {_fingerprint(generator.generate_example(0, 'validation', i)[1]) for i in range(16)}
  assert seen == expected


def test_training_is_deterministic_given_the_seed(data_dir):
  first = [b['panoptic'].numpy() for b in _build(data_dir, seed=3).take(3)]
  again = [b['panoptic'].numpy() for b in _build(data_dir, seed=3, num_parallel_calls=1).take(3)]
  other = [b['panoptic'].numpy() for b in _build(data_dir, seed=4).take(3)]
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, other)


def test_training_repeats_past_one_epoch(data_dir):
  assert sum(1 for _ in _build(data_dir, batch_size=16).take(6)) == 6  # 96 > 64 examples


def test_host_splits_are_disjoint_and_cover_the_split(data_dir):
  ids = []
  for pipeline_id in range(2):
    part = pipeline.host_split('train', _context(pipeline_id))
    dataset = pipeline.load_or_build('shapes', part, builder_config='tiny', data_dir=data_dir)
    ids.append({example['image_id'].decode() for example in tfds.as_numpy(dataset)})
  assert not ids[0] & ids[1]
  assert ids[0] | ids[1] == {f'train_{i:05d}' for i in range(64)}


def test_sharded_evaluation_pipelines_are_disjoint_cover_and_step_together(data_dir):
  """3 pipelines of 1 replica each over 16 examples: 6 + 5 + 5, each padded to 6 (3 batches of 2)."""
  seen, num_batches = [], []
  for pipeline_id in range(3):
    dataset = _build(data_dir, 'validation', is_training=False, batch_size=6,
                     input_context=_context(pipeline_id, num_pipelines=3, replicas=3))
    batches = list(dataset)
    assert dataset.element_spec['image'].shape[0] == 2  # per-replica batch = global 6 / 3 replicas
    num_batches.append(len(batches))
    seen.append({_fingerprint(p) for b in batches for p in b['panoptic'].numpy()
                 if not np.all(p == VOID)})
  assert num_batches == [3, 3, 3]
  assert all(not seen[i] & seen[j] for i in range(3) for j in range(i + 1, 3))
  union = set().union(*seen)
  assert union == {_fingerprint(generator.generate_example(0, 'validation', i)[1]) for i in range(16)}


def test_sharded_training_uses_the_per_replica_batch(data_dir):
  dataset = _build(data_dir, batch_size=8, input_context=_context(1))
  assert dataset.element_spec['image'].shape == (4, 128, 128, 3)
  with pytest.raises(ValueError):
    _build(data_dir, batch_size=3, input_context=_context(0))  # 3 does not split over 2 replicas


def test_evaluation_crop_smaller_than_the_image_fails_naming_crop_size(data_dir):
  dataset = _build(data_dir, 'validation', is_training=False, crop_size=(64, 64))
  with pytest.raises(tf.errors.InvalidArgumentError, match='crop_size'):
    next(iter(dataset))


@pytest.mark.parametrize('kwargs, message', [
    ({'crop_size': (0, 64)}, 'crop_size'),
    ({'batch_size': 0}, 'batch_size'),
    ({'shuffle_buffer': 0}, 'shuffle_buffer'),
])
def test_bad_arguments_are_rejected(data_dir, kwargs, message):
  with pytest.raises(ValueError, match=message):
    _build(data_dir, **kwargs)
