"""The semantic segmentation task: per-pixel softmax cross-entropy and mIoU.

It reads the same panoptic TFDS datasets and input pipeline as `PanopticTask` (semantic labels are the
panoptic ids divided by the label divisor) and trains any model returning 'semantic_logits', e.g.
`SemanticSegmentation` (DeepLabV3 head or the Wide-ResNet-38 classifiers).
"""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from widescale.data import pipeline
from widescale.data.datasets import class_tables
from widescale.evaluation import miou
from widescale.evaluation import visualize
from widescale.tasks import optimization
from widescale.tasks import panoptic_losses


class SemanticTask:
  """Semantic segmentation on a panoptic dataset's semantic labels.

  Args:
    dataset: name of the dataset's class table (widescale/data/datasets/class_tables.py), e.g. 'shapes'.
    tfds_name: TFDS name (with config) to read, e.g. 'shapes/tiny'; defaults to `dataset`.
    data_dir: TFDS data dir; None uses widescale's default cache (or $WIDESCALE_DATA_DIR).
    manual_dir: where the official release lies, for builders that read one (Cityscapes, COCO); the
      first run prepares the TFDS dataset from it (see the builder's MANUAL_DOWNLOAD_INSTRUCTIONS).
    train_batch_size: global training batch size (over all replicas and hosts).
    eval_batch_size: global evaluation batch size.
    crop_size: (height, width) of training crops and of the padded evaluation images.
    min_scale, max_scale: range of the random scale augmentation.
    top_k_percent: fraction of the hardest pixels the loss averages (1.0: all valid pixels, DeepLab;
      deeplab2's Panoptic-DeepLab semantic branch uses 0.2).
    small_instance_area, small_instance_weight: pixels of thing instances smaller than the area get this
      loss weight (1.0, off, by default; Panoptic-DeepLab uses 3 under 4096 pixels).
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
               top_k_percent: float = 1.0,
               small_instance_area: int = 4096,
               small_instance_weight: float = 1.0,
               shuffle_seed: int = 0):
    self.dataset_info = class_tables.get_dataset_info(dataset, class_tables.DatasetInfo)
    self.tfds_name = tfds_name or dataset
    self.data_dir = data_dir
    self.manual_dir = manual_dir
    for name, value in (('train_batch_size', train_batch_size), ('eval_batch_size', eval_batch_size)):
      if not (isinstance(value, int) and value >= 1):
        raise ValueError(f'SemanticTask.{name} must be an int >= 1, got {name}={value!r}.')
    if len(crop_size) != 2 or min(crop_size) < 1:
      raise ValueError(f'SemanticTask.crop_size must be (height, width) > 0, got crop_size={tuple(crop_size)!r}.')
    if not 0 < min_scale <= max_scale:
      raise ValueError(f'SemanticTask needs 0 < min_scale <= max_scale, got min_scale={min_scale!r}, '
                       f'max_scale={max_scale!r}.')
    if not 0.0 < top_k_percent <= 1.0:
      raise ValueError(f'SemanticTask.top_k_percent must be in (0, 1], got top_k_percent={top_k_percent!r}.')
    self.train_batch_size = train_batch_size
    self.eval_batch_size = eval_batch_size
    self.crop_size = tuple(int(x) for x in crop_size)
    self.min_scale = min_scale
    self.max_scale = max_scale
    self.top_k_percent = top_k_percent
    self.small_instance_area = small_instance_area
    self.small_instance_weight = small_instance_weight
    self.shuffle_seed = shuffle_seed

  @property
  def num_classes(self) -> int:
    return self.dataset_info.num_classes

  @property
  def input_size(self) -> Tuple[int, int]:
    return self.crop_size

  @property
  def loss_names(self) -> Tuple[str, ...]:
    return ('total_loss', 'semantic_loss')

  def build_inputs(self, split: str, is_training: bool,
                   input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """The dataset one input pipeline (host) feeds, batched per replica."""
    tfds_name, _, builder_config = self.tfds_name.partition('/')
    return pipeline.build_panoptic_dataset(
        self.dataset_info,
        split,
        tfds_name=tfds_name,
        builder_config=builder_config or None,
        is_training=is_training,
        batch_size=self.train_batch_size if is_training else self.eval_batch_size,
        crop_size=self.crop_size,
        min_scale=self.min_scale,
        max_scale=self.max_scale,
        small_instance_area=self.small_instance_area,
        small_instance_weight=self.small_instance_weight,
        data_dir=self.data_dir,
        manual_dir=self.manual_dir,
        seed=self.shuffle_seed,
        input_context=input_context)

  def compute_losses(self, outputs: Dict[str, tf.Tensor], batch: Dict[str, tf.Tensor],
                     global_batch_size: int) -> Dict[str, tf.Tensor]:
    """Per image, weight x cross-entropy averaged over its pixels (the hardest `top_k_percent`; void pixels
    have weight 0), summed over this replica's images and divided by the global batch size."""
    per_image = panoptic_losses.semantic_loss_per_image(
        outputs['semantic_logits'], batch['semantic'], batch['semantic_weights'], self.num_classes,
        self.top_k_percent)
    semantic = tf.reduce_sum(per_image) / float(global_batch_size)
    return {'semantic_loss': semantic, 'total_loss': semantic}

  def train_step(self, model, optimizer, batch: Dict[str, tf.Tensor],
                 global_batch_size: int) -> Dict[str, tf.Tensor]:
    """One optimisation step on this replica's share of the batch; returns its loss terms."""
    return optimization.train_step(model, optimizer, batch['image'],
                                   lambda outputs: self.compute_losses(outputs, batch, global_batch_size))

  def eval_step(self, model, batch: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Predicts one replica's batch; returns ground truth and predicted semantic maps."""
    outputs = model(batch['image'], training=False)
    return {
        'image': tf.cast(batch['image'], tf.uint8),
        'gt_semantic': batch['panoptic'] // self.dataset_info.label_divisor,
        'pred_semantic': tf.argmax(outputs['semantic_logits'], axis=-1, output_type=tf.int32),
        'is_padding': pipeline.is_padding_example(batch['panoptic'], self.dataset_info),
    }

  @staticmethod
  def real_examples(step_outputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Drops the all-void padding examples from a host-side batch of `eval_step` outputs."""
    keep = ~step_outputs['is_padding']
    return {name: value[keep] for name, value in step_outputs.items() if name != 'is_padding'}

  def build_metrics(self):
    return {'miou': miou.MeanIoU(self.dataset_info)}

  def update_metrics(self, metrics, step_outputs: Dict[str, np.ndarray]) -> None:
    metrics['miou'].update_state(step_outputs['gt_semantic'], step_outputs['pred_semantic'])

  def metric_results(self, metrics) -> Dict:
    """{'miou', 'pixel_accuracy', 'semantic': the full per-class results}."""
    semantic = metrics['miou'].result()
    return {'miou': float(semantic['miou']), 'pixel_accuracy': float(semantic['pixel_accuracy']),
            'semantic': semantic}

  def prediction_picture(self, step_outputs: Dict[str, np.ndarray]) -> np.ndarray:
    """image | ground truth | prediction overlays, one row per image."""
    # A semantic map is a panoptic map without instances: class * label_divisor.
    divisor = self.dataset_info.label_divisor
    return visualize.prediction_grid(step_outputs['image'], step_outputs['gt_semantic'] * divisor,
                                     step_outputs['pred_semantic'] * divisor, self.dataset_info,
                                     max_rows=len(step_outputs['image']))
