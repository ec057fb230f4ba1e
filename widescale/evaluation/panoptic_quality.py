"""Panoptic quality (PQ = SQ x RQ; Kirillov et al., "Panoptic Segmentation", CVPR 2019).

Computed exactly as the COCO panopticapi `pq_compute` does (Cityscapes' own script is a copy of it),
on int panoptic maps `semantic * label_divisor + instance` instead of PNG + JSON:
  - a segment is the set of pixels sharing one panoptic id, connected or not;
  - ground-truth void = semantic == ignore_label (any instance part); a prediction with semantic ==
    ignore_label (e.g. ignore_label * label_divisor from the post-processing) is void too, not a segment
    (an ignore_label inside 0..num_classes-1, as in COCO-style tables with class 0 = void, works: that
    class never gets statistics and so never enters a mean);
  - a ground-truth thing segment with instance 0 is a crowd region: never matched, never a false negative;
  - a gt and a predicted segment of the same class match when IoU > 0.5 (strictly), with
    union = gt area + pred area - intersection - (pixels of the prediction on gt void);
  - an unmatched prediction is not a false positive when more than half of it lies on gt void plus the
    gt crowd region of its own class;
  - tp, fp, fn and the IoU sum of matches are summed per class over the whole dataset, then
    PQ_c = iou_sum / (tp + fp/2 + fn/2), SQ_c = iou_sum / tp, RQ_c = tp / (tp + fp/2 + fn/2), and
    all/things/stuff averages are means over the classes with tp + fp + fn > 0.
All results are fractions in [0, 1] (the CLI prints percent). Intersections come from one `np.unique`
over int64 pair ids gt_id * OFFSET + pred_id per image; no Python loop over pixels or segments.
"""

from typing import Dict, Optional, Sequence, Union

import numpy as np

# Pair ids are gt_id * OFFSET + pred_id (panopticapi's 256**3). Panoptic ids must be below it:
# 255 * 1000 + 999 (Cityscapes, COCO-style label divisors) is far below 16.7 million.
OFFSET = 256 ** 3

# Rows of the accumulator state.
_TP, _FP, _FN, _IOU = range(4)


def _as_batch(array, name: str) -> np.ndarray:
  array = np.asarray(array)
  if array.ndim == 2:
    array = array[np.newaxis]
  if array.ndim != 3:
    raise ValueError(f'{name} must be [H, W] or [B, H, W], got shape {array.shape}.')
  if not np.issubdtype(array.dtype, np.integer):
    raise ValueError(f'{name} must hold integer panoptic ids, got dtype {array.dtype}.')
  return array.astype(np.int64)


class PanopticQuality:
  """Accumulates per-class PQ statistics over a dataset; mergeable across replicas and hosts.

  Usage:
    pq = PanopticQuality(CITYSCAPES_PANOPTIC)
    for batch in data:
      pq.update_state(batch['panoptic'], predictions['panoptic'])
    pq.result()['all']['pq']
  """

  def __init__(self, dataset_info=None, *, num_classes: Optional[int] = None,
               thing_class_ids: Sequence[int] = (), ignore_label: int = 255, label_divisor: int = 1000,
               class_names: Optional[Sequence[str]] = None):
    """Either a `DatasetInfo`, or its fields given one by one.

    Args:
      dataset_info: a `widescale.data.datasets.class_tables.DatasetInfo`; the other arguments are
        ignored when it is given.
      num_classes: number of semantic classes 0..num_classes-1 (ignore_label excluded).
      thing_class_ids: semantic ids of thing classes.
      ignore_label: semantic id of void.
      label_divisor: panoptic = semantic * label_divisor + instance.
      class_names: names used as keys of `result()['per_class']`; default 'class_<id>'.
    """
    if dataset_info is not None:
      num_classes = dataset_info.num_classes
      thing_class_ids = dataset_info.thing_class_ids
      ignore_label = dataset_info.ignore_label
      label_divisor = dataset_info.label_divisor
      class_names = dataset_info.class_names
    if num_classes is None or num_classes < 1:
      raise ValueError(f'PanopticQuality needs a DatasetInfo or num_classes >= 1, got {num_classes}.')
    if class_names is None:
      class_names = tuple(f'class_{i}' for i in range(num_classes))
    if len(class_names) != num_classes:
      raise ValueError(f'PanopticQuality: {len(class_names)} class names for {num_classes} classes.')
    bad = [i for i in thing_class_ids if not 0 <= i < num_classes]
    if bad:
      raise ValueError(f'PanopticQuality: thing_class_ids {bad} outside 0..{num_classes - 1}.')
    if (max(ignore_label, num_classes) + 1) * label_divisor > OFFSET:
      raise ValueError(f'PanopticQuality: panoptic ids up to ({max(ignore_label, num_classes)} + 1) * '
                       f'{label_divisor} do not fit below the pair-id offset {OFFSET}.')
    self.num_classes = int(num_classes)
    self.thing_class_ids = tuple(int(i) for i in thing_class_ids)
    self.ignore_label = int(ignore_label)
    self.label_divisor = int(label_divisor)
    self.class_names = tuple(class_names)
    self._is_thing = np.zeros(self.num_classes, bool)
    self._is_thing[list(self.thing_class_ids)] = True
    self.reset_state()

  def reset_state(self) -> None:
    """Forgets everything accumulated."""
    self._state = np.zeros([4, self.num_classes], np.float64)

  def state(self) -> np.ndarray:
    """A copy of the accumulated state, float64 [4, num_classes] (tp, fp, fn, IoU sum per class).

    Summing these arrays over replicas or hosts (e.g. an all-gather then a sum) and passing the sum to
    `merge` on one accumulator is the same as accumulating everything in one place.
    """
    return self._state.copy()

  def merge(self, other: Union['PanopticQuality', np.ndarray]) -> None:
    """Adds the statistics of another accumulator (or a `state()` array) into this one."""
    if isinstance(other, PanopticQuality):
      if (other.num_classes, other.thing_class_ids, other.ignore_label, other.label_divisor) != (
          self.num_classes, self.thing_class_ids, self.ignore_label, self.label_divisor):
        raise ValueError('PanopticQuality.merge: the two accumulators describe different datasets.')
      other = other._state
    other = np.asarray(other, np.float64)
    if other.shape != self._state.shape:
      raise ValueError(f'PanopticQuality.merge: state of shape {other.shape}, expected {self._state.shape}.')
    self._state += other

  def update_state(self, gt_panoptic, pred_panoptic) -> None:
    """Adds the statistics of one image [H, W] or a batch [B, H, W] (numpy or eager tensors)."""
    gt_panoptic = _as_batch(gt_panoptic, 'gt_panoptic')
    pred_panoptic = _as_batch(pred_panoptic, 'pred_panoptic')
    if gt_panoptic.shape != pred_panoptic.shape:
      raise ValueError(f'PanopticQuality.update_state: gt_panoptic {gt_panoptic.shape} and pred_panoptic '
                       f'{pred_panoptic.shape} differ in shape.')
    for gt_image, pred_image in zip(gt_panoptic, pred_panoptic):
      self._state += self._image_statistics(gt_image.ravel(), pred_image.ravel())

  def _canonical(self, panoptic: np.ndarray, name: str) -> np.ndarray:
    """Maps every void id to ignore_label * label_divisor and checks the class ids."""
    semantic = panoptic // self.label_divisor
    is_void = semantic == self.ignore_label
    bad = (panoptic < 0) | (~is_void & (semantic >= self.num_classes))
    if bad.any():
      values = np.unique(panoptic[bad])[:10]
      raise ValueError(f'{name} holds ids {values.tolist()} whose class (id // {self.label_divisor}) is '
                       f'neither in 0..{self.num_classes - 1} nor the ignore label {self.ignore_label}.')
    return np.where(is_void, self.ignore_label * self.label_divisor, panoptic)

  def _image_statistics(self, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """[4, num_classes] statistics of one image given flat int64 panoptic ids."""
    divisor, num_classes = self.label_divisor, self.num_classes
    gt = self._canonical(gt, 'gt_panoptic')
    pred = self._canonical(pred, 'pred_panoptic')

    # Intersection table: one row per (gt id, pred id) pair present in the image.
    pair_ids, intersection = np.unique(gt * OFFSET + pred, return_counts=True)
    gt_ids, row_gt = np.unique(pair_ids // OFFSET, return_inverse=True)
    pred_ids, row_pred = np.unique(pair_ids % OFFSET, return_inverse=True)
    gt_area = np.bincount(row_gt, weights=intersection, minlength=len(gt_ids))
    pred_area = np.bincount(row_pred, weights=intersection, minlength=len(pred_ids))

    gt_class = gt_ids // divisor
    pred_class = pred_ids // divisor
    gt_void = gt_class == self.ignore_label
    pred_void = pred_class == self.ignore_label
    gt_class = np.where(gt_void, 0, gt_class)  # safe as an index; void rows are masked below
    pred_class = np.where(pred_void, 0, pred_class)
    gt_crowd = ~gt_void & self._is_thing[gt_class] & (gt_ids % divisor == 0)

    row_gt_class = gt_class[row_gt]
    same_class = ~pred_void[row_pred] & (row_gt_class == pred_class[row_pred])
    on_void = gt_void[row_gt]
    void_in_pred = np.bincount(row_pred[on_void], weights=intersection[on_void], minlength=len(pred_ids))
    on_crowd = gt_crowd[row_gt] & same_class
    crowd_in_pred = np.bincount(row_pred[on_crowd], weights=intersection[on_crowd],
                                minlength=len(pred_ids))

    # Matches: IoU > 0.5 (as 2 * intersection > union, exact in integers); each gt segment matches at
    # most one prediction and vice versa because two IoUs above 0.5 cannot share a segment.
    candidate = same_class & ~on_void & ~gt_crowd[row_gt]
    union = gt_area[row_gt] + pred_area[row_pred] - intersection - void_in_pred[row_pred]
    matched = candidate & (2 * intersection > union)
    iou = intersection[matched] / union[matched]

    statistics = np.zeros([4, num_classes], np.float64)
    statistics[_TP] = np.bincount(row_gt_class[matched], minlength=num_classes)
    statistics[_IOU] = np.bincount(row_gt_class[matched], weights=iou, minlength=num_classes)

    gt_matched = np.zeros(len(gt_ids), bool)
    gt_matched[row_gt[matched]] = True
    pred_matched = np.zeros(len(pred_ids), bool)
    pred_matched[row_pred[matched]] = True

    false_negative = ~gt_void & ~gt_crowd & ~gt_matched
    statistics[_FN] = np.bincount(gt_class[false_negative], minlength=num_classes)
    # Unmatched predictions more than half on void + same-class crowd are ignored, not false positives.
    ignored = 2 * (void_in_pred + crowd_in_pred) > pred_area
    false_positive = ~pred_void & ~pred_matched & ~ignored
    statistics[_FP] = np.bincount(pred_class[false_positive], minlength=num_classes)
    return statistics

  def result(self) -> Dict[str, dict]:
    """PQ, SQ, RQ as fractions in [0, 1].

    Returns:
      {'all' | 'things' | 'stuff': {'pq', 'sq', 'rq', 'num_classes'}, 'per_class': {class_name: {'pq',
      'sq', 'rq', 'tp', 'fp', 'fn'}}}. Group means run over the classes of the group with
      tp + fp + fn > 0 ('num_classes' of them); a group without any is reported as 0. A class without
      any segment reports pq = sq = rq = 0 and tp = fp = fn = 0 (as panopticapi does).
    """
    tp, fp, fn, iou = self._state
    denominator = tp + 0.5 * fp + 0.5 * fn
    present = denominator > 0
    safe = lambda num, den: np.divide(num, den, out=np.zeros_like(num), where=den > 0)  # noqa: E731
    pq, sq, rq = safe(iou, denominator), safe(iou, tp), safe(tp, denominator)

    def group(mask: np.ndarray) -> Dict[str, float]:
      mask = mask & present
      count = int(mask.sum())
      mean = lambda values: float(values[mask].mean()) if count else 0.0  # noqa: E731
      return {'pq': mean(pq), 'sq': mean(sq), 'rq': mean(rq), 'num_classes': count}

    per_class = {
        name: {'pq': float(pq[c]), 'sq': float(sq[c]), 'rq': float(rq[c]),
               'tp': int(tp[c]), 'fp': int(fp[c]), 'fn': int(fn[c])}
        for c, name in enumerate(self.class_names)}
    return {'all': group(np.ones(self.num_classes, bool)), 'things': group(self._is_thing),
            'stuff': group(~self._is_thing), 'per_class': per_class}
