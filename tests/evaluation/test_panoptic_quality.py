"""Tests of widescale.evaluation.panoptic_quality: hand cases worked out in comments, and a plain
per-segment reference written after panopticapi's pq_compute on random maps."""

import numpy as np
import pytest

from widescale.data.datasets.class_tables import SHAPES
from widescale.evaluation.panoptic_quality import PanopticQuality

# SHAPES: 0 sky, 1 ground, 2 water (stuff); 3 circle, 4 square, 5 triangle (things); divisor 1000.
SKY, CIRCLE, SQUARE = 0, 3000, 4000  # panoptic id of the class with instance 0
VOID = 255000


def row(*values):
  """A 1 x N image from a list of panoptic ids."""
  return np.array([values], np.int64)


def pq_of(gt, pred):
  metric = PanopticQuality(SHAPES)
  metric.update_state(gt, pred)
  return metric.result()


def test_perfect_prediction_scores_one():
  gt = np.array([[SKY, SKY, CIRCLE + 1, CIRCLE + 1],
                 [1000, 1000, CIRCLE + 2, SQUARE + 1]])
  result = pq_of(gt, gt.copy())
  for group in ('all', 'things', 'stuff'):
    assert result[group]['pq'] == result[group]['sq'] == result[group]['rq'] == 1.0
  assert result['all']['num_classes'] == 4  # sky, ground, circle, square
  assert result['per_class']['circle'] == {'pq': 1.0, 'sq': 1.0, 'rq': 1.0, 'tp': 2, 'fp': 0, 'fn': 0}
  assert result['per_class']['triangle']['tp'] + result['per_class']['triangle']['fp'] == 0


def test_iou_exactly_half_is_not_a_match():
  gt = row(CIRCLE + 1, CIRCLE + 1, CIRCLE + 1, CIRCLE + 1, SKY, SKY, SKY, SKY)
  pred = row(CIRCLE + 1, CIRCLE + 1, SKY, SKY, SKY, SKY, SKY, SKY)
  result = pq_of(gt, pred)
  # Circle: intersection 2, union 4 + 2 - 2 = 4 -> IoU 0.5, not > 0.5: fp 1, fn 1, PQ 0.
  assert result['per_class']['circle'] == {'pq': 0.0, 'sq': 0.0, 'rq': 0.0, 'tp': 0, 'fp': 1, 'fn': 1}
  # Sky: intersection 4, union 4 + 6 - 4 = 6 -> IoU 2/3, matched: PQ = SQ = 2/3, RQ 1.
  assert result['per_class']['sky']['pq'] == pytest.approx(2 / 3)
  # all: PQ (2/3 + 0) / 2 = 1/3, SQ (2/3 + 0) / 2 = 1/3, RQ (1 + 0) / 2 = 0.5.
  assert result['all']['pq'] == pytest.approx(1 / 3)
  assert result['all']['sq'] == pytest.approx(1 / 3)
  assert result['all']['rq'] == pytest.approx(0.5)
  assert result['things']['pq'] == 0.0 and result['stuff']['pq'] == pytest.approx(2 / 3)


def test_iou_just_above_half_is_a_match_and_predicted_void_is_no_segment():
  # gt: circle on pixels 0..100 (101 px), sky on 101..127 (27 px).
  # pred: circle on 0..50 (51 px), void on 51..100, sky on 101..127.
  gt = np.full([1, 128], SKY)
  gt[0, :101] = CIRCLE + 1
  pred = np.full([1, 128], SKY)
  pred[0, :51] = CIRCLE + 1
  pred[0, 51:101] = VOID
  result = pq_of(gt, pred)
  # Circle: intersection 51, union 101 + 51 - 51 = 101 -> IoU 51/101 = 0.50495 > 0.5: tp.
  circle = result['per_class']['circle']
  assert (circle['tp'], circle['fp'], circle['fn']) == (1, 0, 0)
  assert circle['pq'] == pytest.approx(51 / 101)
  assert result['per_class']['sky']['pq'] == 1.0  # 27 / 27; the void prediction is not a sky fp
  assert result['all']['pq'] == pytest.approx((51 / 101 + 1) / 2)
  # One pixel less (50/101 < 0.5) and it is an fp + fn.
  pred[0, 50] = VOID
  circle = pq_of(gt, pred)['per_class']['circle']
  assert (circle['tp'], circle['fp'], circle['fn']) == (0, 1, 1)


def test_gt_void_inside_a_prediction_leaves_the_union():
  # gt: circle 0..2 (3 px), void 3..5, sky 6..7. pred: circle 0..5 (6 px), sky 6..7.
  gt = row(CIRCLE + 1, CIRCLE + 1, CIRCLE + 1, VOID, VOID, VOID, SKY, SKY)
  pred = row(CIRCLE + 1, CIRCLE + 1, CIRCLE + 1, CIRCLE + 1, CIRCLE + 1, CIRCLE + 1, SKY, SKY)
  # Without the void term: union 3 + 6 - 3 = 6 -> IoU 0.5, no match. With it: 6 - 3 = 3 -> IoU 1.
  circle = pq_of(gt, pred)['per_class']['circle']
  assert circle == {'pq': 1.0, 'sq': 1.0, 'rq': 1.0, 'tp': 1, 'fp': 0, 'fn': 0}


def test_unmatched_prediction_mostly_on_void_is_not_a_false_positive():
  # gt: sky 0..5, void 6..9. pred: sky 0..4, circle 5..9 (1 px on sky, 4 on void).
  gt = row(*[SKY] * 6, *[VOID] * 4)
  pred = row(*[SKY] * 5, *[CIRCLE + 1] * 5)
  result = pq_of(gt, pred)
  # Circle: 4 / 5 = 0.8 > 0.5 on void -> ignored: no tp, fp or fn, so circle is left out of the mean.
  assert result['per_class']['circle']['fp'] == 0
  assert result['things']['num_classes'] == 0 and result['things']['pq'] == 0.0
  # Sky: intersection 5, union 6 + 5 - 5 = 6 -> IoU 5/6; all = sky only.
  assert result['all']['pq'] == pytest.approx(5 / 6) and result['all']['num_classes'] == 1
  # Exactly half on void (gt sky 0..7, void 8..9; pred circle 6..9 = 2 sky + 2 void) is an fp.
  gt = row(*[SKY] * 8, VOID, VOID)
  pred = row(*[SKY] * 6, *[CIRCLE + 1] * 4)
  assert pq_of(gt, pred)['per_class']['circle']['fp'] == 1


def test_unmatched_prediction_mostly_in_same_class_crowd_is_not_a_false_positive():
  # gt: sky 0..3, a circle crowd region (3000, instance 0) on 4..9. pred: sky 0..2, one circle 3..9.
  gt = row(*[SKY] * 4, *[CIRCLE] * 6)
  pred = row(*[SKY] * 3, *[CIRCLE + 1] * 7)
  result = pq_of(gt, pred)
  # Crowd is never matched nor an fn; the circle lies 6/7 on circle crowd -> not an fp.
  assert result['per_class']['circle'] == {'pq': 0.0, 'sq': 0.0, 'rq': 0.0, 'tp': 0, 'fp': 0, 'fn': 0}
  assert result['per_class']['sky']['pq'] == pytest.approx(3 / 4)  # intersection 3, union 4
  # Crowd of another class does not excuse it: a square there is an fp.
  pred = row(*[SKY] * 3, *[SQUARE + 1] * 7)
  assert pq_of(gt, pred)['per_class']['square']['fp'] == 1
  # Void and crowd add up: gt sky 0..2, void 3..4, crowd 5..6; pred circle 0..6 has 4/7 > 0.5 ignored.
  gt = row(SKY, SKY, SKY, VOID, VOID, CIRCLE, CIRCLE)
  pred = row(*[CIRCLE + 2] * 7)
  circle = pq_of(gt, pred)['per_class']['circle']
  assert (circle['tp'], circle['fp'], circle['fn']) == (0, 0, 0)


def test_a_class_only_predicted_counts_in_the_mean():
  gt = row(*[SKY] * 8)
  pred = row(*[SKY] * 6, SQUARE + 1, SQUARE + 1)
  result = pq_of(gt, pred)
  # Sky: 6 / 8 = 0.75 (tp). Square: fp 1 -> tp + fp + fn = 1 > 0, so it counts with PQ 0.
  assert result['per_class']['square']['fp'] == 1
  assert result['all']['pq'] == pytest.approx((0.75 + 0.0) / 2)
  assert result['things'] == {'pq': 0.0, 'sq': 0.0, 'rq': 0.0, 'num_classes': 1}
  assert result['stuff']['pq'] == pytest.approx(0.75)


def test_counts_are_summed_over_the_dataset_before_dividing():
  metric = PanopticQuality(SHAPES)
  # Image 1: gt circle 0..4 (5 px), pred circle 0..2 -> IoU 3/5 = 0.6, tp. The rest is ground (2).
  metric.update_state(row(*[CIRCLE + 1] * 5, 1000, 1000), row(*[CIRCLE + 7] * 3, *[1000] * 4))
  # Image 2: two gt circles, one predicted exactly (IoU 1), the other missed (fn, its pixels ground).
  metric.update_state(row(CIRCLE + 1, CIRCLE + 1, CIRCLE + 2, CIRCLE + 2, 1000),
                      row(CIRCLE + 5, CIRCLE + 5, 1000, 1000, 1000))
  circle = metric.result()['per_class']['circle']
  # tp 2, fn 1, IoU sum 1.6 -> PQ 1.6 / (2 + 0.5) = 0.64 (the mean of per-image PQs would be
  # (0.6 + 1 / 1.5) / 2 = 0.633); SQ 1.6 / 2 = 0.8; RQ 2 / 2.5 = 0.8.
  assert (circle['tp'], circle['fp'], circle['fn']) == (2, 0, 1)
  assert circle['pq'] == pytest.approx(0.64)
  assert circle['sq'] == pytest.approx(0.8) and circle['rq'] == pytest.approx(0.8)
  # Ground: image 1 intersection 2, union 2 + 4 - 2 = 4 -> 0.5, no match: fp 1, fn 1.
  # Image 2: intersection 1, union 1 + 3 - 1 = 3 -> 1/3: fp 1, fn 1. PQ 0, RQ 0.
  ground = metric.result()['per_class']['ground']
  assert (ground['tp'], ground['fp'], ground['fn'], ground['pq']) == (0, 2, 2, 0.0)


def random_panoptic(rng, shape):
  """Random maps with stuff, things, crowd and void, in blocks so segments overlap in many ways."""
  semantic = rng.choice([0, 1, 3, 3, 4, 5, 255], size=shape)
  instance = rng.integers(0, 3, size=shape)
  instance = np.where(np.isin(semantic, (3, 4, 5)), instance, 0)
  panoptic = semantic * 1000 + instance
  return np.repeat(np.repeat(panoptic, 3, axis=-1), 3, axis=-2)


def reference_statistics(gt, pred):
  """Per-segment loops after panopticapi's pq_compute_single_core, on one image."""
  stats = {c: [0, 0, 0, 0.0] for c in range(6)}  # tp, fp, fn, iou
  def segments(panoptic):
    ids, areas = np.unique(panoptic, return_counts=True)
    return {i: a for i, a in zip(ids, areas) if i // 1000 != 255}
  gt_segments, pred_segments = segments(gt), segments(pred)
  is_crowd = lambda i: i // 1000 >= 3 and i % 1000 == 0  # noqa: E731
  void_in = {p: int(((gt // 1000 == 255) & (pred == p)).sum()) for p in pred_segments}
  gt_matched, pred_matched = set(), set()
  for g, g_area in gt_segments.items():
    for p, p_area in pred_segments.items():
      if is_crowd(g) or g // 1000 != p // 1000:
        continue
      intersection = int(((gt == g) & (pred == p)).sum())
      iou = intersection / (g_area + p_area - intersection - void_in[p])
      if iou > 0.5:
        stats[g // 1000][0] += 1
        stats[g // 1000][3] += iou
        gt_matched.add(g)
        pred_matched.add(p)
  for g in gt_segments:
    if g not in gt_matched and not is_crowd(g):
      stats[g // 1000][2] += 1
  for p, p_area in pred_segments.items():
    if p in pred_matched:
      continue
    ignored = void_in[p]
    if is_crowd((p // 1000) * 1000):  # the gt crowd region of the prediction's class, if a thing
      ignored += int(((gt == (p // 1000) * 1000) & (pred == p)).sum())
    if not ignored / p_area > 0.5:
      stats[p // 1000][1] += 1
  return np.array([[stats[c][k] for c in range(6)] for k in range(4)], np.float64)


def test_matches_a_per_segment_reference_and_merge_equals_one_pass():
  rng = np.random.default_rng(3)
  gts = np.stack([random_panoptic(rng, (4, 5)) for _ in range(6)])
  # Predictions: the gt with some blocks changed, so there are matches as well as misses.
  preds = np.where(rng.uniform(size=gts.shape) < 0.25, np.roll(gts, 3, axis=-1), gts)
  preds = np.where(preds // 1000 == 3, preds + 1, preds)  # pred instance ids need not equal gt ones
  one_pass = PanopticQuality(SHAPES)
  one_pass.update_state(gts, preds)  # batched [B, H, W]
  expected = sum(reference_statistics(g, p) for g, p in zip(gts, preds))
  np.testing.assert_allclose(one_pass.state(), expected)
  assert expected[0].sum() > 0 and expected[1].sum() > 0 and expected[2].sum() > 0

  first, second = PanopticQuality(SHAPES), PanopticQuality(SHAPES)
  for g, p in zip(gts[:2], preds[:2]):
    first.update_state(g, p)  # single [H, W] images
  second.update_state(gts[2:], preds[2:])
  first.merge(second)
  assert first.result() == one_pass.result()
  from_arrays = PanopticQuality(SHAPES)
  from_arrays.merge(first.state())
  assert from_arrays.result() == one_pass.result()
  one_pass.reset_state()
  assert not one_pass.state().any()


def test_constructor_fields_and_errors():
  metric = PanopticQuality(num_classes=2, thing_class_ids=(1,), ignore_label=255, label_divisor=256)
  metric.update_state(np.array([[256 + 1, 0]]), np.array([[256 + 1, 0]]))
  assert metric.result()['per_class']['class_1']['tp'] == 1
  with pytest.raises(ValueError, match='neither in 0..5'):
    PanopticQuality(SHAPES).update_state(row(SKY), row(9001))
  with pytest.raises(ValueError, match='differ in shape'):
    PanopticQuality(SHAPES).update_state(row(SKY, SKY), row(SKY))
  with pytest.raises(ValueError, match='different datasets'):
    PanopticQuality(SHAPES).merge(metric)
