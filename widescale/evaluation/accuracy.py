"""Top-k classification accuracy accumulated over a whole dataset on the host (numpy)."""

from typing import Dict, Sequence

import numpy as np


class TopKAccuracy:
  """Counts how often the label is among the k best predictions, for several k at once.

  Args:
    ks: the k's to report, e.g. (1, 5); each must be >= 1.

  `update_state(labels [B], ranked_predictions [B, K])` takes the predictions sorted best first
  (K >= max(ks), or the number of classes when that is smaller); `merge` adds another instance's counts
  (another host's), `result()` gives {'top1_accuracy': ..., 'top5_accuracy': ..., 'num_examples': n}.
  """

  def __init__(self, ks: Sequence[int] = (1, 5)):
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
      raise ValueError(f'TopKAccuracy: ks must be a non-empty list of k >= 1, got ks={ks!r}.')
    self.ks = ks
    self.reset_state()

  def reset_state(self) -> None:
    self.correct = np.zeros(len(self.ks), np.int64)
    self.count = 0

  def update_state(self, labels, ranked_predictions) -> None:
    labels = np.asarray(labels, np.int64).reshape(-1)
    ranked_predictions = np.asarray(ranked_predictions, np.int64)
    if ranked_predictions.ndim != 2 or ranked_predictions.shape[0] != labels.shape[0]:
      raise ValueError(f'TopKAccuracy: expected labels [B] and ranked_predictions [B, K]; got '
                       f'{labels.shape} and {ranked_predictions.shape}.')
    hits = ranked_predictions == labels[:, None]  # [B, K]; at most one True per row
    for i, k in enumerate(self.ks):
      self.correct[i] += int(hits[:, :k].any(axis=1).sum())
    self.count += labels.shape[0]

  def merge(self, other: 'TopKAccuracy') -> None:
    if other.ks != self.ks:
      raise ValueError(f'TopKAccuracy.merge: ks differ ({self.ks} vs {other.ks}).')
    self.correct += other.correct
    self.count += other.count

  def result(self) -> Dict[str, float]:
    results = {f'top{k}_accuracy': float(correct / self.count) if self.count else float('nan')
               for k, correct in zip(self.ks, self.correct)}
    results['num_examples'] = int(self.count)
    return results
