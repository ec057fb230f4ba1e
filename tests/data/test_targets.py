"""Panoptic-DeepLab targets on tiny hand-made maps whose answers are worked out by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from widescale.data import targets
from widescale.data.datasets.class_tables import SHAPES

VOID = 255 * 1000
SKY, GROUND, CIRCLE, SQUARE = 0, 1000, 3000, 4000  # panoptic ids of sky/ground stuff, circle/square things


def _targets(panoptic, **kwargs):
  return {key: value.numpy() for key, value in
          targets.panoptic_targets(tf.constant(panoptic, tf.int32), SHAPES, **kwargs).items()}


def _square_map():
  """8 x 10 sky; circle instance 1 on the 3 x 3 square rows 1-3, cols 2-4 (center (2, 3))."""
  panoptic = np.full((8, 10), SKY)
  panoptic[1:4, 2:5] = CIRCLE + 1
  return panoptic


def test_keys_dtypes_and_shapes():
  result = targets.panoptic_targets(tf.constant(_square_map(), tf.int32), SHAPES)
  assert set(result) == set(targets.TARGET_KEYS)
  for key in targets.TARGET_KEYS:
    expected_shape = (8, 10, 2) if key == 'center_offsets' else (8, 10)
    assert result[key].shape == expected_shape, key
    assert result[key].dtype == (tf.int32 if key in ('semantic', 'panoptic') else tf.float32), key


def test_center_of_a_3x3_square_and_its_offsets():
  result = _targets(_square_map(), sigma=2.0)
  heatmap = result['center_heatmap']
  assert heatmap[2, 3] == pytest.approx(1.0)
  assert np.unravel_index(np.argmax(heatmap), heatmap.shape) == (2, 3)
  # A neighbour at distance 1: exp(-1 / (2 sigma^2)); a diagonal one at distance^2 = 2; (5, 3): d^2 = 9.
  assert heatmap[2, 4] == pytest.approx(math.exp(-1 / 8))
  assert heatmap[3, 4] == pytest.approx(math.exp(-2 / 8))
  assert heatmap[5, 3] == pytest.approx(math.exp(-9 / 8))
  offsets = result['center_offsets']
  np.testing.assert_array_equal(offsets[1, 2], [1, 1])     # top-left pixel -> center: down 1, right 1
  np.testing.assert_array_equal(offsets[3, 4], [-1, -1])   # bottom-right pixel
  np.testing.assert_array_equal(offsets[2, 3], [0, 0])     # the center itself
  np.testing.assert_array_equal(offsets[0, 0], [0, 0])     # stuff
  expected_offset_weights = np.zeros((8, 10))
  expected_offset_weights[1:4, 2:5] = 1
  np.testing.assert_array_equal(result['offset_weights'], expected_offset_weights)
  np.testing.assert_array_equal(result['center_weights'], np.ones((8, 10)))
  np.testing.assert_array_equal(result['semantic'], _square_map() // 1000)
  np.testing.assert_array_equal(result['panoptic'], _square_map())


def test_default_sigma_is_8():
  heatmap = _targets(_square_map())['center_heatmap']
  assert heatmap[2, 3] == pytest.approx(1.0)
  assert heatmap[2, 4] == pytest.approx(math.exp(-1 / 128))


def test_center_is_the_rounded_mean_half_to_even():
  panoptic = np.full((4, 6), SKY)
  panoptic[0, 0:2] = CIRCLE + 1   # mean x 0.5 -> 0
  panoptic[2, 1:3] = CIRCLE + 2   # mean x 1.5 -> 2
  panoptic[3, 3:6] = SQUARE + 3   # mean x 4 -> 4
  offsets = _targets(panoptic, sigma=1.0)['center_offsets']
  np.testing.assert_array_equal(offsets[0, 0:2, 1], [0, -1])
  np.testing.assert_array_equal(offsets[2, 1:3, 1], [1, 0])
  np.testing.assert_array_equal(offsets[3, 3:6, 1], [1, 0, -1])


def test_crowd_gets_no_center_no_center_weight_no_offsets():
  panoptic = np.full((6, 6), GROUND)
  panoptic[1:5, 1:5] = SQUARE  # thing class, instance 0: crowd
  result = _targets(panoptic, sigma=1.0)
  np.testing.assert_array_equal(result['center_heatmap'], 0)
  np.testing.assert_array_equal(result['center_offsets'], 0)
  np.testing.assert_array_equal(result['offset_weights'], 0)
  expected_center_weights = np.ones((6, 6))
  expected_center_weights[1:5, 1:5] = 0
  np.testing.assert_array_equal(result['center_weights'], expected_center_weights)
  np.testing.assert_array_equal(result['semantic_weights'], 1)  # crowd keeps its semantic class
  np.testing.assert_array_equal(result['semantic'][1:5, 1:5], 4)


def test_void_pixels_get_no_semantic_or_center_weight():
  panoptic = _square_map()
  panoptic[7, :] = VOID
  result = _targets(panoptic)
  np.testing.assert_array_equal(result['semantic'][7], 255)
  np.testing.assert_array_equal(result['semantic_weights'][7], 0)
  np.testing.assert_array_equal(result['center_weights'][7], 0)
  np.testing.assert_array_equal(result['offset_weights'][7], 0)
  assert result['center_weights'][:7].min() == 1


def test_small_instance_weight():
  result = _targets(_square_map())  # area 9 < 4096
  expected = np.ones((8, 10))
  expected[1:4, 2:5] = 3
  np.testing.assert_array_equal(result['semantic_weights'], expected)
  # Area 9 is not < 9: weight 1; a custom weight is used as given.
  np.testing.assert_array_equal(_targets(_square_map(), small_instance_area=9)['semantic_weights'], 1)
  assert _targets(_square_map(), small_instance_weight=5.0)['semantic_weights'][2, 3] == 5.0


def test_stuff_with_an_instance_number_is_still_stuff():
  panoptic = np.full((5, 5), GROUND + 7)
  result = _targets(panoptic)
  np.testing.assert_array_equal(result['offset_weights'], 0)
  np.testing.assert_array_equal(result['center_heatmap'], 0)
  np.testing.assert_array_equal(result['semantic'], 1)


def test_overlapping_gaussians_take_the_max_and_clip_at_borders():
  panoptic = np.full((5, 7), SKY)
  panoptic[0, 0] = CIRCLE + 1       # a corner instance: its patch mostly falls outside
  panoptic[0, 4] = SQUARE + 1       # same instance number, other class: another instance
  result = _targets(panoptic, sigma=1.0)
  heatmap = result['center_heatmap']
  assert heatmap[0, 0] == pytest.approx(1.0) and heatmap[0, 4] == pytest.approx(1.0)
  # (0, 2) is 2 from both centers; (0, 3) is 3 from the first and 1 from the second.
  assert heatmap[0, 2] == pytest.approx(math.exp(-4 / 2))
  assert heatmap[0, 3] == pytest.approx(math.exp(-1 / 2))
  assert heatmap[3, 6] == pytest.approx(math.exp(-(9 + 4) / 2))
  assert heatmap[4, 6] == 0  # 4 rows away: outside the 3-sigma patch of both


def _reference_heatmap(panoptic, sigma):
  """Brute force: per instance, the Gaussian on its (2r+1)^2 window around the rounded mean center."""
  radius = int(round(3 * sigma))
  yy, xx = np.mgrid[0:panoptic.shape[0], 0:panoptic.shape[1]]
  heatmap = np.zeros(panoptic.shape)
  for id_ in np.unique(panoptic):
    if id_ // 1000 not in SHAPES.thing_class_ids or id_ % 1000 == 0:
      continue
    cy, cx = np.round(yy[panoptic == id_].mean()), np.round(xx[panoptic == id_].mean())
    inside = (np.abs(yy - cy) <= radius) & (np.abs(xx - cx) <= radius)
    gaussian = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
    heatmap = np.maximum(heatmap, np.where(inside, gaussian, 0))
  return heatmap


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_heatmap_matches_a_brute_force_reference(seed):
  rng = np.random.default_rng(seed)
  panoptic = rng.choice([SKY, GROUND, CIRCLE, VOID], size=(30, 40), p=[0.4, 0.4, 0.1, 0.1])
  for instance in range(1, 6):
    top, left = rng.integers(0, 25), rng.integers(0, 35)
    panoptic[top:top + rng.integers(1, 6), left:left + rng.integers(1, 6)] = (
        rng.choice([CIRCLE, SQUARE, 5000]) + instance)
  result = _targets(panoptic, sigma=2.0)
  np.testing.assert_allclose(result['center_heatmap'], _reference_heatmap(panoptic, 2.0), atol=1e-6)


def test_unknown_size_inside_tf_function():
  compute = tf.function(lambda panoptic: targets.panoptic_targets(panoptic, SHAPES),
                        input_signature=[tf.TensorSpec([None, None], tf.int32)])
  result = compute(tf.constant(_square_map(), tf.int32))
  assert result['center_heatmap'].shape == (8, 10)
  assert result['center_heatmap'].numpy()[2, 3] == pytest.approx(1.0)


def test_only_instance_count_times_patch_memory():
  """A 512 x 512 map with 200 instances works (an N x H x W approach would hold 52M floats)."""
  panoptic = np.full((512, 512), SKY)
  for instance in range(200):
    row, col = divmod(instance, 20)
    panoptic[row * 25:row * 25 + 10, col * 25:col * 25 + 10] = CIRCLE + instance + 1
  result = _targets(panoptic)
  assert np.isclose(result['center_heatmap'], 1.0).sum() == 200


def test_rejects_batched_input():
  with pytest.raises(ValueError, match='one \\[H, W\\] map'):
    targets.panoptic_targets(tf.zeros([2, 4, 4], tf.int32), SHAPES)
