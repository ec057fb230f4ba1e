"""Semantic mean IoU from a confusion matrix accumulated over the whole dataset.

Conventions:
  - pixels whose ground truth is `ignore_label` are skipped;
  - a prediction outside 0..num_classes-1 (void, e.g. `ignore_label` from the panoptic post-processing)
    on a valid ground-truth pixel is a miss: a false negative of the ground-truth class and a false
    positive of nobody (it lands in an extra "void" column of the confusion matrix);
  - IoU_c = tp_c / (gt_c + pred_c - tp_c), counted over the dataset; mIoU is the mean over the classes
    present in the ground truth or the predictions (gt_c + pred_c > 0), which is what Keras' MeanIoU and
    deeplab2 do. Absent classes report NaN and are left out of the mean.
All results are fractions in [0, 1].
"""

from typing import Dict, Optional, Sequence, Union

import numpy as np


def _as_int_array(array, name: str) -> np.ndarray:
  array = np.asarray(array)
  if not np.issubdtype(array.dtype, np.integer):
    raise ValueError(f'{name} must hold integer class ids, got dtype {array.dtype}.')
  return array.astype(np.int64)


class MeanIoU:
  """Accumulates a [num_classes, num_classes + 1] confusion matrix; mergeable across replicas and hosts.

  Rows are ground-truth classes, columns predicted classes; the last column counts void/out-of-range
  predictions.
  """

  def __init__(self, dataset_info=None, *, num_classes: Optional[int] = None, ignore_label: int = 255,
               class_names: Optional[Sequence[str]] = None):
    """Either a `DatasetInfo` or num_classes/ignore_label/class_names (names default to 'class_<id>')."""
    if dataset_info is not None:
      num_classes = dataset_info.num_classes
      ignore_label = dataset_info.ignore_label
      class_names = dataset_info.class_names
    if num_classes is None or num_classes < 1:
      raise ValueError(f'MeanIoU needs a DatasetInfo or num_classes >= 1, got {num_classes}.')
    if class_names is None:
      class_names = tuple(f'class_{i}' for i in range(num_classes))
    if len(class_names) != num_classes:
      raise ValueError(f'MeanIoU: {len(class_names)} class names for {num_classes} classes.')
    self.num_classes = int(num_classes)
    self.ignore_label = int(ignore_label)
    self.class_names = tuple(class_names)
    self.reset_state()

  def reset_state(self) -> None:
    """Forgets everything accumulated."""
    self.confusion_matrix = np.zeros([self.num_classes, self.num_classes + 1], np.int64)

  def merge(self, other: Union['MeanIoU', np.ndarray]) -> None:
    """Adds another accumulator's confusion matrix (or such a matrix, e.g. summed over hosts)."""
    if isinstance(other, MeanIoU):
      other = other.confusion_matrix
    other = np.asarray(other)
    if other.shape != self.confusion_matrix.shape:
      raise ValueError(f'MeanIoU.merge: confusion matrix of shape {other.shape}, expected '
                       f'{self.confusion_matrix.shape}.')
    self.confusion_matrix += other.astype(np.int64)

  def update_state(self, gt_semantic, pred_semantic) -> None:
    """Adds the pixels of gt/pred semantic maps of any equal shape ([H, W] or [B, H, W])."""
    gt = _as_int_array(gt_semantic, 'gt_semantic').ravel()
    pred = _as_int_array(pred_semantic, 'pred_semantic').ravel()
    if np.shape(gt_semantic) != np.shape(pred_semantic):
      raise ValueError(f'MeanIoU.update_state: gt_semantic {np.shape(gt_semantic)} and pred_semantic '
                       f'{np.shape(pred_semantic)} differ in shape.')
    valid = gt != self.ignore_label
    gt, pred = gt[valid], pred[valid]
    bad = (gt < 0) | (gt >= self.num_classes)
    if bad.any():
      raise ValueError(f'gt_semantic holds ids {np.unique(gt[bad])[:10].tolist()} that are neither in '
                       f'0..{self.num_classes - 1} nor the ignore label {self.ignore_label}.')
    columns = self.num_classes + 1
    pred = np.where((pred < 0) | (pred >= self.num_classes) | (pred == self.ignore_label),
                    self.num_classes, pred)
    self.confusion_matrix += np.bincount(gt * columns + pred, minlength=self.num_classes * columns).reshape(
        self.num_classes, columns)

  def result(self) -> Dict[str, Union[float, Dict[str, float]]]:
    """{'miou': mean IoU, 'pixel_accuracy': correct / valid gt pixels, 'per_class': {name: IoU or NaN}}."""
    matrix = self.confusion_matrix.astype(np.float64)
    true_positive = np.diag(matrix[:, :self.num_classes])
    gt_total = matrix.sum(axis=1)
    pred_total = matrix[:, :self.num_classes].sum(axis=0)
    union = gt_total + pred_total - true_positive
    present = union > 0
    iou = np.full(self.num_classes, np.nan)
    iou[present] = true_positive[present] / union[present]
    total = matrix.sum()
    return {
        'miou': float(iou[present].mean()) if present.any() else 0.0,
        'pixel_accuracy': float(true_positive.sum() / total) if total else 0.0,
        'per_class': {name: float(iou[c]) for c, name in enumerate(self.class_names)},
    }
