"""Tests of widescale.evaluation.miou."""

import math

import numpy as np
import pytest

from widescale.evaluation.miou import MeanIoU


def test_hand_case_with_void_gt_and_a_void_prediction():
  # 4 classes (class 3 never appears), ignore 255.
  gt = np.array([[0, 0, 0, 1, 1, 2, 255, 255]])
  pred = np.array([[0, 0, 1, 1, 255, 0, 2, 0]])
  metric = MeanIoU(num_classes=4, ignore_label=255)
  metric.update_state(gt, pred)
  result = metric.result()
  # Pixels 6 and 7 have void gt: skipped (so the class-2 prediction at 6 is not counted).
  # class 0: tp 2 (px 0, 1); gt 3 (0, 1, 2); pred 3 (0, 1, 5) -> 2 / (3 + 3 - 2) = 0.5
  # class 1: tp 1 (px 3); gt 2 (3, 4; px 4 predicted void is a miss); pred 2 (2, 3) -> 1 / 3
  # class 2: tp 0; gt 1 (px 5); pred 0 -> 0 / 1 = 0
  # class 3: absent from gt and pred -> NaN, not in the mean.
  assert result['per_class']['class_0'] == pytest.approx(0.5)
  assert result['per_class']['class_1'] == pytest.approx(1 / 3)
  assert result['per_class']['class_2'] == 0.0
  assert math.isnan(result['per_class']['class_3'])
  assert result['miou'] == pytest.approx((0.5 + 1 / 3 + 0.0) / 3)
  assert result['pixel_accuracy'] == pytest.approx(3 / 6)
  assert metric.confusion_matrix[1, 4] == 1  # the void prediction, in the extra column


def test_merge_equals_one_pass_and_batches_work():
  rng = np.random.default_rng(0)
  gt = rng.choice([0, 1, 2, 255], size=(4, 5, 6))
  pred = rng.choice([0, 1, 2, 255, 7], size=(4, 5, 6))  # 7 is out of range: a miss as well
  one_pass = MeanIoU(num_classes=3)
  one_pass.update_state(gt, pred)
  first, second = MeanIoU(num_classes=3), MeanIoU(num_classes=3)
  first.update_state(gt[:1], pred[:1])
  second.update_state(gt[1:], pred[1:])
  first.merge(second)
  np.testing.assert_array_equal(first.confusion_matrix, one_pass.confusion_matrix)
  assert one_pass.confusion_matrix.sum() == (gt != 255).sum()
  one_pass.reset_state()
  assert one_pass.confusion_matrix.sum() == 0


def test_errors():
  with pytest.raises(ValueError, match='neither in 0..2'):
    MeanIoU(num_classes=3).update_state(np.array([5]), np.array([0]))
  with pytest.raises(ValueError, match='differ in shape'):
    MeanIoU(num_classes=3).update_state(np.zeros([2, 2], int), np.zeros([4], int))
