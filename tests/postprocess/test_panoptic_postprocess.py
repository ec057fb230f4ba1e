"""Tests of widescale.postprocess.panoptic on hand-made maps and against a plain numpy reference."""

import numpy as np
import pytest
import tensorflow as tf

from widescale.data.datasets.class_tables import SHAPES
from widescale.postprocess.panoptic import PanopticPostProcessor, find_instance_centers, panoptic_postprocess

# Hand cases use 3 classes: 0 = stuff, 1 and 2 = things; label divisor 1000, ignore 255.
THINGS = (1, 2)
DIVISOR = 1000
IGNORE = 255
VOID = IGNORE * DIVISOR


def one_hot_logits(semantic, num_classes=3, value=5.0):
  """Logits whose argmax is `semantic` ([H, W] or [B, H, W])."""
  return (np.eye(num_classes, dtype=np.float32)[np.asarray(semantic)] * value).astype(np.float32)


def offsets_to(center_of_pixel):
  """(dy, dx) offsets [H, W, 2] from each pixel to center_of_pixel[y, x] = (cy, cx)."""
  height, width = center_of_pixel.shape[:2]
  grid = np.stack(np.mgrid[:height, :width], axis=-1)
  return (center_of_pixel - grid).astype(np.float32)


def run(semantic_logits, center_heatmap, center_offsets, **options):
  options = {'thing_class_ids': THINGS, 'label_divisor': DIVISOR, 'ignore_label': IGNORE,
             'nms_kernel': 3, 'top_k': 4, 'stuff_area_limit': 1, **options}
  result = panoptic_postprocess(tf.constant(semantic_logits), tf.constant(center_heatmap),
                                tf.constant(center_offsets), **options)
  return {key: value.numpy() for key, value in result.items()}


def two_blob_image():
  """6 x 8: rows 0-1 stuff (16 px); rows 2-5 class 1, left block cols 0-3 and right block cols 4-7.

  Centers: (3, 1) with score 0.9 and (4, 6) with score 0.7; offsets point every pixel of a block
  exactly to its block's center.
  """
  semantic = np.zeros([6, 8], np.int64)
  semantic[2:, :] = 1
  heatmap = np.zeros([6, 8], np.float32)
  heatmap[3, 1] = 0.9
  heatmap[4, 6] = 0.7
  centers = np.zeros([6, 8, 2], np.float32)
  centers[:, :4] = (3, 1)
  centers[:, 4:] = (4, 6)
  return one_hot_logits(semantic), heatmap, offsets_to(centers)


def test_two_centers_give_instances_1_and_2():
  logits, heatmap, offsets = two_blob_image()
  out = run(logits[None], heatmap[None], offsets[None], stuff_area_limit=10)
  expected_instance = np.zeros([6, 8], np.int32)
  expected_instance[2:, :4] = 1  # the higher-scoring center (0.9) gets id 1
  expected_instance[2:, 4:] = 2
  np.testing.assert_array_equal(out['instance'][0], expected_instance)
  # stuff: 0 * 1000 + 0 = 0 (area 16 >= limit 10); things 1 * 1000 + id.
  expected_panoptic = np.where(expected_instance > 0, 1000 + expected_instance, 0)
  np.testing.assert_array_equal(out['panoptic'][0], expected_panoptic)
  np.testing.assert_array_equal(out['semantic'][0], np.where(expected_instance > 0, 1, 0))
  np.testing.assert_allclose(out['center_scores'][0], [0.9, 0.7, 0.0, 0.0])
  np.testing.assert_array_equal(out['center_yx'][0], [[3, 1], [4, 6], [-1, -1], [-1, -1]])
  np.testing.assert_array_equal(out['instance_classes'][0], [1, 1, IGNORE, IGNORE])
  # logits (0, 5, 0): p(class 1) = e^5 / (e^5 + 2) = 0.986707; score = center score x that.
  p = np.exp(5.0) / (np.exp(5.0) + 2.0)
  np.testing.assert_allclose(out['instance_scores'][0], [0.9 * p, 0.7 * p, 0.0, 0.0], rtol=1e-5)
  for key in ('semantic', 'instance', 'panoptic'):
    assert out[key].dtype == np.int32, key


def test_majority_vote_sets_the_class_of_every_instance_pixel():
  # 4 x 4: rows 0-1 stuff; rows 2-3 one instance of 8 pixels: 5 of class 1, 3 of class 2.
  semantic = np.array([[0, 0, 0, 0],
                       [0, 0, 0, 0],
                       [1, 1, 1, 2],
                       [1, 1, 2, 2]])
  log2 = np.log(2.0)
  logits = one_hot_logits(semantic, value=log2)  # class-1 pixel: (0, ln2, 0), class-2: (0, 0, ln2)
  heatmap = np.zeros([4, 4], np.float32)
  heatmap[2, 1] = 0.8
  centers = np.broadcast_to(np.array([2.0, 1.0], np.float32), (4, 4, 2))
  out = run(logits[None], heatmap[None], offsets_to(centers)[None])
  # Votes: class 1 -> 5, class 2 -> 3, so all 8 pixels become class 1 instance 1 (panoptic 1001).
  expected = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1001] * 4, [1001] * 4])
  np.testing.assert_array_equal(out['panoptic'][0], expected)
  np.testing.assert_array_equal(out['semantic'][0], expected // DIVISOR)
  np.testing.assert_array_equal(out['semantic_argmax'][0], semantic)  # the plain argmax is kept
  # Mean p(class 1) over the instance: class-1 pixels 2 / (2 + 1 + 1) = 0.5, class-2 pixels
  # 1 / (1 + 1 + 2) = 0.25 -> (5 * 0.5 + 3 * 0.25) / 8 = 0.40625; score = 0.8 * 0.40625 = 0.325.
  np.testing.assert_allclose(out['instance_scores'][0, 0], 0.325, rtol=1e-5)


def test_stuff_below_the_area_limit_becomes_void():
  # 4 x 4, classes 0 and 1 stuff, 2 a thing (absent): class 0 covers 12 pixels, class 1 covers 4.
  semantic = np.zeros([4, 4], np.int64)
  semantic[3, :] = 1
  logits = one_hot_logits(semantic)[None]
  heatmap = np.zeros([1, 4, 4], np.float32)
  offsets = np.zeros([1, 4, 4, 2], np.float32)
  # limit 5: class 1 (4 < 5) -> void 255000; class 0 (12) stays 0.
  out = run(logits, heatmap, offsets, thing_class_ids=(2,), stuff_area_limit=5)
  np.testing.assert_array_equal(out['panoptic'][0], np.where(semantic == 1, VOID, 0))
  np.testing.assert_array_equal(out['semantic'][0], np.where(semantic == 1, IGNORE, 0))
  # limit 4: an area equal to the limit is kept.
  out = run(logits, heatmap, offsets, thing_class_ids=(2,), stuff_area_limit=4)
  np.testing.assert_array_equal(out['panoptic'][0], semantic * DIVISOR)


def test_thing_pixels_without_a_center_are_void():
  logits, heatmap, offsets = two_blob_image()
  # Heatmap peaks 0.1 and 0.05 are not strictly above the threshold 0.1: no center at all.
  heatmap = heatmap / 9.0
  out = run(logits[None], heatmap[None], offsets[None])
  expected = np.zeros([6, 8], np.int32)
  expected[2:, :] = VOID  # every class-1 pixel; the stuff rows stay 0
  np.testing.assert_array_equal(out['panoptic'][0], expected)
  np.testing.assert_array_equal(out['instance'][0], np.zeros([6, 8]))
  np.testing.assert_array_equal(out['center_scores'][0], np.zeros(4))
  np.testing.assert_array_equal(out['instance_scores'][0], np.zeros(4))


def test_batch_of_two_different_images():
  logits_a, heatmap_a, offsets_a = two_blob_image()
  # Image b: all class 2 except column 0 (stuff, 6 px); one center at (1, 5) for every class-2 pixel.
  semantic_b = np.full([6, 8], 2)
  semantic_b[:, 0] = 0
  heatmap_b = np.zeros([6, 8], np.float32)
  heatmap_b[1, 5] = 0.5
  offsets_b = offsets_to(np.broadcast_to(np.array([1.0, 5.0], np.float32), (6, 8, 2)))
  out = run(np.stack([logits_a, one_hot_logits(semantic_b)]), np.stack([heatmap_a, heatmap_b]),
            np.stack([offsets_a, offsets_b]))
  single_a = run(logits_a[None], heatmap_a[None], offsets_a[None])
  np.testing.assert_array_equal(out['panoptic'][0], single_a['panoptic'][0])
  # Ids restart at 1 in every image: image b is 2 * 1000 + 1 = 2001 on things, 0 on column 0.
  np.testing.assert_array_equal(out['panoptic'][1], np.where(semantic_b == 2, 2001, 0))
  np.testing.assert_allclose(out['center_scores'], [[0.9, 0.7, 0, 0], [0.5, 0, 0, 0]])


@pytest.mark.parametrize('max_distance_elements', [48, 2 ** 20])  # 1 center a chunk (6 x 8 px), or all
def test_equidistant_pixel_goes_to_the_higher_scoring_center(max_distance_elements):
  logits, heatmap, offsets = two_blob_image()
  # Pixel (2, 3) points at (3.5, 3.5): squared distance 0.5^2 + 2.5^2 = 6.5 to (3, 1) and
  # 0.5^2 + 2.5^2 = 6.5 to (4, 6). The tie goes to center 0 (score 0.9), i.e. instance 1.
  offsets[2, 3] = (3.5 - 2, 3.5 - 3)
  offsets[2, 4] = (3.5 - 2, 3.5 - 4)  # same for a pixel of the right block
  out = run(logits[None], heatmap[None], offsets[None], max_distance_elements=max_distance_elements)
  assert out['instance'][0, 2, 3] == 1 and out['instance'][0, 2, 4] == 1
  assert out['instance'][0, 2, 5] == 2


def test_nms_keeps_local_maxima_only():
  heatmap = np.zeros([1, 5, 9], np.float32)
  heatmap[0, 2, 2] = 0.5
  heatmap[0, 2, 3] = 0.4  # inside the 3 x 3 window of 0.5: suppressed
  heatmap[0, 2, 7] = 0.3  # 5 columns away: kept
  yx, scores, valid = find_instance_centers(tf.constant(heatmap), center_threshold=0.1, nms_kernel=3, top_k=3)
  np.testing.assert_array_equal(yx.numpy()[0], [[2, 2], [2, 7], [-1, -1]])
  np.testing.assert_allclose(scores.numpy()[0], [0.5, 0.3, 0.0])
  np.testing.assert_array_equal(valid.numpy()[0], [True, True, False])
  # With a 5 x 5 window the 0.4 is still suppressed and top_k = 1 keeps only the best.
  yx, _, _ = find_instance_centers(tf.constant(heatmap), center_threshold=0.1, nms_kernel=5, top_k=1)
  np.testing.assert_array_equal(yx.numpy()[0], [[2, 2]])


def reference_postprocess(logits, heatmap, offsets, thing_ids, threshold, kernel, top_k, area_limit):
  """Straightforward numpy version of the documented algorithm, one image at a time."""
  height, width, num_classes = logits.shape
  semantic = logits.argmax(-1)
  h = np.where(heatmap > threshold, heatmap, 0.0)
  r = kernel // 2
  pooled = np.array([[h[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].max() for x in range(width)]
                     for y in range(height)])
  keep = (h == pooled) & (h > 0)
  order = np.argsort(-h[keep], kind='stable')[:top_k]
  centers = np.argwhere(keep)[order]
  instance = np.zeros([height, width], np.int64)
  panoptic_class = semantic.copy()
  is_thing = np.isin(semantic, thing_ids)
  if len(centers):
    grid = np.stack(np.mgrid[:height, :width], -1).astype(np.float64)
    target = grid + offsets
    distance = ((target[:, :, None, :] - centers[None, None]) ** 2).sum(-1)
    instance = np.where(is_thing, distance.argmin(-1) + 1, 0)
  for i in range(1, len(centers) + 1):
    pixels = instance == i
    if pixels.any():
      panoptic_class[pixels] = np.bincount(semantic[pixels], minlength=num_classes).argmax()
  areas = np.bincount(semantic.ravel(), minlength=num_classes)
  void = (is_thing & (instance == 0)) | (~is_thing & (areas[semantic] < area_limit))
  return np.where(void, VOID, panoptic_class * DIVISOR + instance)


@pytest.mark.parametrize('threshold', [0.5, 0.97])
def test_matches_numpy_reference_with_center_chunks(threshold):
  rng = np.random.default_rng(7)
  logits = rng.normal(size=[2, 12, 16, 4]).astype(np.float32)
  heatmap = rng.uniform(size=[2, 12, 16]).astype(np.float32)
  offsets = rng.normal(scale=4.0, size=[2, 12, 16, 2]).astype(np.float32)
  options = dict(thing_class_ids=(2, 3), label_divisor=DIVISOR, ignore_label=IGNORE,
                 center_threshold=threshold, nms_kernel=3, top_k=8, stuff_area_limit=45)
  # Budget 2 * 192 * 3 -> 3 centers a chunk: 3 chunks, the last one padded.
  chunked = run(logits, heatmap, offsets, max_distance_elements=2 * 192 * 3, **options)
  whole = run(logits, heatmap, offsets, **options)
  np.testing.assert_array_equal(chunked['panoptic'], whole['panoptic'])
  for b in range(2):
    expected = reference_postprocess(logits[b], heatmap[b], offsets[b], (2, 3), threshold, 3, 8, 45)
    np.testing.assert_array_equal(whole['panoptic'][b], expected)
  assert (whole['panoptic'] == VOID).any() and (whole['instance'] > 0).any()  # the case is not trivial


def test_processor_under_xla_and_dynamic_shapes_matches_eager():
  logits, heatmap, offsets = two_blob_image()
  batch = (np.stack([logits] * 2), np.stack([heatmap] * 2), np.stack([offsets] * 2))
  eager = run(*batch)
  options = dict(thing_class_ids=THINGS, label_divisor=DIVISOR, ignore_label=IGNORE, nms_kernel=3, top_k=4,
                 stuff_area_limit=1)
  xla = PanopticPostProcessor(jit_compile=True, **options)(*map(tf.constant, batch))
  for key in eager:
    np.testing.assert_allclose(xla[key].numpy(), eager[key], rtol=1e-5, err_msg=key)
  # A serving signature with unknown batch and size.
  processor = PanopticPostProcessor(**options)
  serving = tf.function(processor.__call__, input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.float32), tf.TensorSpec([None, None, None], tf.float32),
      tf.TensorSpec([None, None, None, 2], tf.float32)])
  dynamic = serving(*map(tf.constant, batch))
  np.testing.assert_array_equal(dynamic['panoptic'].numpy(), eager['panoptic'])


def test_from_dataset_info_and_argument_errors():
  processor = PanopticPostProcessor.from_dataset_info(SHAPES, top_k=10)
  assert processor.get_config()['thing_class_ids'] == SHAPES.thing_class_ids
  with pytest.raises(ValueError, match='label_divisor'):
    PanopticPostProcessor(thing_class_ids=(1,), label_divisor=100, ignore_label=255, top_k=200)
  with pytest.raises(ValueError, match='nms_kernel'):
    PanopticPostProcessor(thing_class_ids=(1,), label_divisor=1000, ignore_label=255, nms_kernel=4)
  with pytest.raises(ValueError, match='center_threshold'):
    PanopticPostProcessor(thing_class_ids=(1,), label_divisor=1000, ignore_label=255, center_threshold=-1.0)
  logits, heatmap, offsets = two_blob_image()
  with pytest.raises(ValueError, match='thing_class_ids'):
    run(logits[None], heatmap[None], offsets[None], thing_class_ids=(7,))
