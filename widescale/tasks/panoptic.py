"""The Panoptic-DeepLab task: what one training or evaluation step computes.

A task knows its data, its losses and its metrics, and nothing about strategies, loops or checkpoints
(those live in widescale/training). `train_step` and `eval_step` are written from one replica's point of
view and run under `strategy.run`.
"""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from widescale.data import pipeline
from widescale.data.datasets import class_tables
from widescale.evaluation import miou
from widescale.evaluation import panoptic_quality
from widescale.evaluation import visualize
from widescale.postprocess import panoptic as panoptic_postprocess
from widescale.tasks import optimization
from widescale.tasks import panoptic_losses


class PanopticTask:
  """Panoptic segmentation with Panoptic-DeepLab targets, losses and post-processing.

  Args:
    dataset: name of the dataset's class table (widescale/data/datasets/class_tables.py), e.g. 'shapes'.
    tfds_name: TFDS name (with config) to read, e.g. 'shapes' or 'shapes/tiny'; defaults to `dataset`.
    data_dir: TFDS data dir; None uses widescale's default cache (or $WIDESCALE_DATA_DIR).
    manual_dir: where the official release lies, for builders that read one (Cityscapes, COCO); the
      first run prepares the TFDS dataset from it (see the builder's MANUAL_DOWNLOAD_INSTRUCTIONS).
    train_batch_size: global training batch size (over all replicas and hosts).
    eval_batch_size: global evaluation batch size.
    crop_size: (height, width) of training crops and of the padded evaluation images.
    min_scale, max_scale: range of the random scale augmentation.
    center_sigma: standard deviation in pixels of the Gaussian put at each instance center.
    small_instance_area: instances with fewer pixels get `small_instance_weight` in the semantic loss.
    small_instance_weight: see above.
    semantic_loss_weight, center_loss_weight, offset_loss_weight: loss weights (1, 200, 0.01 in the paper).
    semantic_top_k_percent: fraction of the hardest pixels averaged by the semantic loss.
    center_threshold, nms_kernel, top_k, stuff_area_limit: post-processing options.
    shuffle_seed: seed of the training input order and augmentation.
  """

  def __init__(self,
               dataset: str,
               tfds_name: Optional[str] = None,
               data_dir: Optional[str] = None,
               manual_dir: Optional[str] = None,
               train_batch_size: int = 8,
               eval_batch_size: int = 8,
               crop_size: Sequence[int] = (128, 128),
               min_scale: float = 0.5,
               max_scale: float = 2.0,
               center_sigma: float = 8.0,
               small_instance_area: int = 4096,
               small_instance_weight: float = 3.0,
               semantic_loss_weight: float = 1.0,
               center_loss_weight: float = 200.0,
               offset_loss_weight: float = 0.01,
               semantic_top_k_percent: float = 0.2,
               center_threshold: float = 0.1,
               nms_kernel: int = 13,
               top_k: int = 200,
               stuff_area_limit: int = 2048,
               shuffle_seed: int = 0):
    self.dataset_info = class_tables.get_dataset_info(dataset, class_tables.DatasetInfo)
    self.tfds_name = tfds_name or dataset
    self.data_dir = data_dir
    self.manual_dir = manual_dir
    for name, value in (('train_batch_size', train_batch_size), ('eval_batch_size', eval_batch_size)):
      if value < 1:
        raise ValueError(f'PanopticTask.{name} must be >= 1, got {value}.')
    if len(crop_size) != 2 or min(crop_size) < 1:
      raise ValueError(f'PanopticTask.crop_size must be (height, width) > 0, got {crop_size}.')
    if not 0 < min_scale <= max_scale:
      raise ValueError(f'PanopticTask needs 0 < min_scale <= max_scale, got {min_scale}, {max_scale}.')
    self.train_batch_size = train_batch_size
    self.eval_batch_size = eval_batch_size
    self.crop_size = tuple(int(x) for x in crop_size)
    self.min_scale = min_scale
    self.max_scale = max_scale
    self.center_sigma = center_sigma
    self.small_instance_area = small_instance_area
    self.small_instance_weight = small_instance_weight
    self.semantic_loss_weight = semantic_loss_weight
    self.center_loss_weight = center_loss_weight
    self.offset_loss_weight = offset_loss_weight
    self.semantic_top_k_percent = semantic_top_k_percent
    self.center_threshold = center_threshold
    self.nms_kernel = nms_kernel
    self.top_k = top_k
    self.stuff_area_limit = stuff_area_limit
    self.shuffle_seed = shuffle_seed

  @property
  def num_classes(self) -> int:
    return self.dataset_info.num_classes

  @property
  def input_size(self) -> Tuple[int, int]:
    """(height, width) of the images the model is fed (training crops and padded evaluation images)."""
    return self.crop_size

  @property
  def loss_names(self) -> Tuple[str, ...]:
    return ('total_loss', 'semantic_loss', 'center_loss', 'offset_loss')

  # ----------------------------------------------------------------------------------------------
  # Inputs.

  def build_inputs(self, split: str, is_training: bool,
                   input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """The dataset one input pipeline (host) feeds, batched per replica."""
    global_batch = self.train_batch_size if is_training else self.eval_batch_size
    tfds_name, _, builder_config = self.tfds_name.partition('/')
    return pipeline.build_panoptic_dataset(
        self.dataset_info,
        split,
        tfds_name=tfds_name,
        builder_config=builder_config or None,
        is_training=is_training,
        batch_size=global_batch,
        crop_size=self.crop_size,
        min_scale=self.min_scale,
        max_scale=self.max_scale,
        sigma=self.center_sigma,
        small_instance_area=self.small_instance_area,
        small_instance_weight=self.small_instance_weight,
        data_dir=self.data_dir,
        manual_dir=self.manual_dir,
        seed=self.shuffle_seed,
        input_context=input_context)

  # ----------------------------------------------------------------------------------------------
  # Losses and steps.

  def compute_losses(self, outputs: Dict[str, tf.Tensor], batch: Dict[str, tf.Tensor],
                     global_batch_size: int) -> Dict[str, tf.Tensor]:
    """Weighted losses of this replica's images, each divided by the global batch size.

    Summed over replicas they give the mean loss per image of the global batch.
    """
    semantic = panoptic_losses.semantic_loss_per_image(
        outputs['semantic_logits'], batch['semantic'], batch['semantic_weights'], self.num_classes,
        self.semantic_top_k_percent)
    center = panoptic_losses.center_loss_per_image(
        outputs['center_heatmap'], batch['center_heatmap'], batch['center_weights'])
    offset = panoptic_losses.offset_loss_per_image(
        outputs['center_offsets'], batch['center_offsets'], batch['offset_weights'])
    scale = 1.0 / float(global_batch_size)
    losses = {
        'semantic_loss': self.semantic_loss_weight * tf.reduce_sum(semantic) * scale,
        'center_loss': self.center_loss_weight * tf.reduce_sum(center) * scale,
        'offset_loss': self.offset_loss_weight * tf.reduce_sum(offset) * scale,
    }
    losses['total_loss'] = tf.add_n(list(losses.values()))
    return losses

  def train_step(self, model, optimizer, batch: Dict[str, tf.Tensor],
                 global_batch_size: int) -> Dict[str, tf.Tensor]:
    """One optimisation step on this replica's share of the batch; returns its loss terms."""
    return optimization.train_step(model, optimizer, batch['image'],
                                   lambda outputs: self.compute_losses(outputs, batch, global_batch_size))

  def postprocess(self, outputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    info = self.dataset_info
    return panoptic_postprocess.panoptic_postprocess(
        outputs['semantic_logits'], outputs['center_heatmap'], outputs['center_offsets'],
        thing_class_ids=info.thing_class_ids, label_divisor=info.label_divisor,
        ignore_label=info.ignore_label, center_threshold=self.center_threshold,
        nms_kernel=self.nms_kernel, top_k=self.top_k, stuff_area_limit=self.stuff_area_limit)

  def eval_step(self, model, batch: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Predicts one replica's batch; returns what the host-side metrics and pictures need."""
    outputs = model(batch['image'], training=False)
    predictions = self.postprocess(outputs)
    return {
        'image': tf.cast(batch['image'], tf.uint8),
        'gt_panoptic': batch['panoptic'],
        'pred_panoptic': predictions['panoptic'],
        'pred_semantic': tf.argmax(outputs['semantic_logits'], axis=-1, output_type=tf.int32),
        # The evaluation dataset is padded with all-void images to whole batches; they are dropped
        # on the host (see `real_examples`).
        'is_padding': pipeline.is_padding_example(batch['panoptic'], self.dataset_info),
    }

  @staticmethod
  def real_examples(step_outputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Drops the all-void padding examples from a host-side batch of `eval_step` outputs."""
    keep = ~step_outputs['is_padding']
    return {name: value[keep] for name, value in step_outputs.items() if name != 'is_padding'}

  # ----------------------------------------------------------------------------------------------
  # Metrics (accumulated on the host, in numpy, at dataset level).

  def build_metrics(self):
    return {
        'panoptic_quality': panoptic_quality.PanopticQuality(self.dataset_info),
        'miou': miou.MeanIoU(self.dataset_info),
    }

  def update_metrics(self, metrics, step_outputs: Dict[str, np.ndarray]) -> None:
    info = self.dataset_info
    metrics['panoptic_quality'].update_state(step_outputs['gt_panoptic'], step_outputs['pred_panoptic'])
    gt_semantic = step_outputs['gt_panoptic'] // info.label_divisor
    metrics['miou'].update_state(gt_semantic, step_outputs['pred_semantic'])

  def prediction_picture(self, step_outputs: Dict[str, np.ndarray]) -> np.ndarray:
    """image | ground truth | prediction, one row per image, as uint8 [rows * H, 3 W, 3]."""
    return visualize.prediction_grid(step_outputs['image'], step_outputs['gt_panoptic'],
                                     step_outputs['pred_panoptic'], self.dataset_info,
                                     max_rows=len(step_outputs['image']))

  def metric_results(self, metrics) -> Dict:
    """Flat headline numbers (fractions) plus the full per-class tables.

    Keys: pq, sq, rq (all classes), pq_things, sq_things, rq_things, pq_stuff, ..., miou,
    pixel_accuracy, and 'panoptic_quality' / 'semantic' holding the complete results.
    """
    panoptic = metrics['panoptic_quality'].result()
    semantic = metrics['miou'].result()
    results = {}
    for group, suffix in (('all', ''), ('things', '_things'), ('stuff', '_stuff')):
      for name in ('pq', 'sq', 'rq'):
        results[name + suffix] = float(panoptic[group][name])
    results['miou'] = float(semantic['miou'])
    results['pixel_accuracy'] = float(semantic['pixel_accuracy'])
    results['panoptic_quality'] = panoptic
    results['semantic'] = semantic
    return results
