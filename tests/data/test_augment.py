"""Scale / pad / crop / flip keep image and panoptic map aligned, pad with void, and are seeded."""

import numpy as np
import pytest
import tensorflow as tf

from widescale.data import augment

VOID = 255 * 1000
BLOCK = 16


def _colour_coded_example(height=64, width=96):
  """A map of 16 x 16 blocks, each with its own id, and an image whose colour encodes that id."""
  rows, cols = np.meshgrid(np.arange(height) // BLOCK, np.arange(width) // BLOCK, indexing='ij')
  block = rows * (width // BLOCK) + cols
  panoptic = (block % 6) * 1000 + block  # distinct ids, classes 0..5
  def colour_of_id(ids):
    return np.stack([ids % 1000 * 7 % 256, ids // 1000 * 40, ids % 1000 * 3], axis=-1)
  return colour_of_id(panoptic).astype(np.uint8), panoptic.astype(np.int32), colour_of_id


def _block_interiors(panoptic: np.ndarray) -> np.ndarray:
  """Pixels whose 5 x 5 neighbourhood has one id: there bilinear resizing reproduces the block colour."""
  padded = np.pad(panoptic, 2, mode='edge')
  same = np.ones(panoptic.shape, bool)
  for dy in range(5):
    for dx in range(5):
      same &= padded[dy:dy + panoptic.shape[0], dx:dx + panoptic.shape[1]] == panoptic
  return same


@pytest.mark.parametrize('seed', [0, 1, 2, 3, 4, 5])
def test_augmentation_keeps_image_and_labels_aligned(seed):
  image, panoptic, colour_of_id = _colour_coded_example()
  out_image, out_panoptic = augment.augment_panoptic(
      tf.constant(image), tf.constant(panoptic), tf.constant([seed, 7]), crop_size=(48, 48),
      ignore_label=255, label_divisor=1000, min_scale=0.5, max_scale=2.0)
  out_image, out_panoptic = out_image.numpy(), out_panoptic.numpy()
  assert out_image.shape == (48, 48, 3) and out_image.dtype == np.float32
  assert out_panoptic.shape == (48, 48) and out_panoptic.dtype == np.int32
  # Nearest-neighbour labels: only ids of the input (or void padding) appear.
  assert set(np.unique(out_panoptic)) <= set(np.unique(panoptic)) | {VOID}
  known = _block_interiors(out_panoptic) & (out_panoptic != VOID)
  assert known.sum() > 100
  np.testing.assert_allclose(out_image[known], colour_of_id(out_panoptic[known]), atol=1.0)
  padded = out_panoptic == VOID
  np.testing.assert_array_equal(out_image[padded], 127.5)


def test_flip_moves_both():
  image, panoptic, _ = _colour_coded_example()
  flipped = [augment.random_flip(tf.constant(image), tf.constant(panoptic), tf.constant([s, 0]))
             for s in range(20)]
  outcomes = set()
  for out_image, out_panoptic in flipped:
    is_flipped = np.array_equal(out_panoptic.numpy(), panoptic[:, ::-1])
    assert is_flipped or np.array_equal(out_panoptic.numpy(), panoptic)
    np.testing.assert_array_equal(out_image.numpy(), image[:, ::-1] if is_flipped else image)
    outcomes.add(is_flipped)
  assert outcomes == {True, False}


def test_scale_uses_nearest_for_labels_and_bilinear_for_the_image():
  image = np.array([[[0, 0, 0], [200, 200, 200]]], np.uint8)  # 1 x 2
  panoptic = np.array([[1001, 2002]], np.int32)
  out_image, out_panoptic = augment.scale(tf.constant(image), tf.constant(panoptic), 2.0)
  np.testing.assert_array_equal(out_panoptic.numpy(), [[1001, 1001, 2002, 2002]] * 2)
  # Half-pixel centres: output x = 0.5 -> input x = -0.25 (clamped: 0), 1.5 -> 0.25 -> 50.
  np.testing.assert_allclose(out_image.numpy()[0, :, 0], [0, 50, 150, 200])


def test_pad_uses_void_and_the_pad_value_at_bottom_right():
  image = tf.fill([3, 4, 3], tf.constant(9, tf.uint8))
  panoptic = tf.fill([3, 4], 3001)
  out_image, out_panoptic = augment.pad_to_size(image, panoptic, 5, 6, label_pad_value=VOID,
                                                image_pad_value=127)
  expected = np.full((5, 6), VOID)
  expected[:3, :4] = 3001
  np.testing.assert_array_equal(out_panoptic.numpy(), expected)
  assert out_image.numpy()[4, 5, 0] == 127 and out_image.numpy()[0, 0, 0] == 9
  # Larger than the target: unchanged.
  same_image, _ = augment.pad_to_size(image, panoptic, 2, 2, label_pad_value=VOID)
  assert same_image.shape == (3, 4, 3)


def test_small_image_is_padded_with_ignore_in_the_crop():
  image = tf.fill([24, 24, 3], tf.constant(10, tf.uint8))
  panoptic = tf.fill([24, 24], 2000)
  out_image, out_panoptic = augment.augment_panoptic(
      image, panoptic, tf.constant([3, 3]), crop_size=(40, 40), ignore_label=255, label_divisor=1000,
      flip=False)
  out_panoptic = out_panoptic.numpy()
  assert np.sum(out_panoptic == 2000) == 24 * 24 and np.sum(out_panoptic == VOID) == 40 * 40 - 24 * 24
  assert np.all(out_panoptic[:24, :24] == 2000)
  np.testing.assert_array_equal(out_image.numpy()[24:], 127.5)


def test_same_seed_same_output_other_seed_other_output():
  image, panoptic, _ = _colour_coded_example()
  run = lambda seed: augment.augment_panoptic(  # noqa: E731
      tf.constant(image), tf.constant(panoptic), tf.constant(seed), crop_size=(32, 32), ignore_label=255,
      label_divisor=1000, min_scale=0.5, max_scale=2.0)[1].numpy()
  np.testing.assert_array_equal(run([1, 2]), run([1, 2]))
  assert not np.array_equal(run([1, 2]), run([1, 3]))


def test_works_in_a_dataset_map_with_unknown_sizes():
  image, panoptic, _ = _colour_coded_example()
  dataset = tf.data.Dataset.from_tensors((image, panoptic)).repeat(3).enumerate()

  def augment_one(index, example):
    return augment.augment_panoptic(example[0], example[1], tf.stack([index, index]), crop_size=(32, 40),
                                    ignore_label=255, label_divisor=1000, min_scale=0.5, max_scale=1.5)

  dataset = dataset.map(augment_one, num_parallel_calls=2)
  assert dataset.element_spec[0].shape == (32, 40, 3)
  assert dataset.element_spec[1].shape == (32, 40)
  assert len(list(dataset)) == 3


def test_crop_larger_than_image_fails_with_the_crop_size():
  with pytest.raises(tf.errors.InvalidArgumentError, match='8x8'):
    augment.random_crop(tf.zeros([4, 4, 3]), tf.zeros([4, 4], tf.int32), tf.constant([0, 0]), height=8,
                        width=8)


def test_bad_scale_range_is_rejected():
  with pytest.raises(ValueError, match='min_scale=2.0'):
    augment.random_scale(tf.zeros([4, 4, 3]), tf.zeros([4, 4], tf.int32), tf.constant([0, 0]),
                         min_scale=2.0, max_scale=1.0)
