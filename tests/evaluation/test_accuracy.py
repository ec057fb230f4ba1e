"""Top-k accuracy against counts made by hand."""

import math

import numpy as np
import pytest

from widescale.evaluation import accuracy


def test_top1_and_top5_by_hand():
  metric = accuracy.TopKAccuracy(ks=(1, 5))
  ranked = np.array([[3, 1, 2, 0, 4, 5],   # label 3: top-1 hit
                     [0, 1, 2, 3, 4, 5],   # label 4: top-5 hit only
                     [5, 4, 3, 2, 1, 0],   # label 0: miss (6th)
                     [2, 0, 1, 3, 4, 5]])  # label 2: top-1 hit
  metric.update_state([3, 4, 0, 2], ranked)
  assert metric.result() == {'top1_accuracy': 0.5, 'top5_accuracy': 0.75, 'num_examples': 4}


def test_counts_accumulate_over_batches_and_merge_over_hosts():
  host_a, host_b = accuracy.TopKAccuracy(ks=(1,)), accuracy.TopKAccuracy(ks=(1,))
  host_a.update_state([0, 1], [[0], [0]])
  host_a.update_state([2], [[2]])
  host_b.update_state([1], [[1]])
  host_a.merge(host_b)
  assert host_a.result() == {'top1_accuracy': 0.75, 'num_examples': 4}


def test_fewer_ranked_predictions_than_k_use_what_there_is():
  metric = accuracy.TopKAccuracy(ks=(1, 5))
  metric.update_state([2, 1], [[0, 1, 2], [0, 2, 1]])  # 3 classes: top-5 = all of them
  assert metric.result()['top5_accuracy'] == 1.0 and metric.result()['top1_accuracy'] == 0.0


def test_empty_metric_is_nan_and_bad_input_is_named():
  assert math.isnan(accuracy.TopKAccuracy().result()['top1_accuracy'])
  with pytest.raises(ValueError, match='ks'):
    accuracy.TopKAccuracy(ks=(0,))
  with pytest.raises(ValueError, match='ranked_predictions'):
    accuracy.TopKAccuracy().update_state([1, 2], [1, 2])
