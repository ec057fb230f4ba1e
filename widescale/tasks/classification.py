"""The image classification task: inputs, softmax cross-entropy, top-1/top-5 accuracy.

Like every task, it knows its data, losses and metrics and nothing about strategies, loops or
checkpoints; `train_step` and `eval_step` are written from one replica's point of view.
"""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from widescale.data import classification_pipeline
from widescale.data import pipeline
from widescale.data.datasets import class_tables
from widescale.evaluation import accuracy
from widescale.evaluation import visualize
from widescale.tasks import optimization


class ClassificationTask:
  """Image classification (ImageNet, the embedded `shapes_classification`).

  Args:
    dataset: name of the class table (widescale/data/datasets/class_tables.py): 'imagenet2012' or
      'shapes_classification'.
    tfds_name: TFDS name (with config) to read, e.g. 'shapes_classification/tiny'; defaults to the class
      table's `tfds_name`.
    data_dir: TFDS data dir; None uses widescale's default cache (or $WIDESCALE_DATA_DIR).
    manual_dir: where a manually downloaded release lies (ImageNet's tar files for `imagenet2012`).
    train_batch_size: global training batch size (over all replicas and hosts).
    eval_batch_size: global evaluation batch size.
    image_size: (height, width) of the images fed to the model, in training and evaluation.
    label_smoothing: mass moved from the true label to all labels uniformly (0.1 in ResNet-RS).
    crop_area_range: (min, max) fraction of the image area of a training crop (Inception-style crops,
      (0.08, 1) for ImageNet; objects that fill little of the image need a larger minimum).
    eval_crop_fraction: evaluation takes the central crop of this fraction of the shorter side.
    shuffle_seed: seed of the training input order and augmentation.
  """

  def __init__(self,
               dataset: str,
               tfds_name: Optional[str] = None,
               data_dir: Optional[str] = None,
               manual_dir: Optional[str] = None,
               train_batch_size: int = 8,
               eval_batch_size: int = 8,
               image_size: Sequence[int] = (224, 224),
               label_smoothing: float = 0.0,
               crop_area_range: Sequence[float] = classification_pipeline.CROP_AREA_RANGE,
               eval_crop_fraction: float = classification_pipeline.DEFAULT_EVAL_CROP_FRACTION,
               shuffle_seed: int = 0):
    self.dataset_info = class_tables.get_dataset_info(dataset, class_tables.ClassificationInfo)
    self.tfds_name = tfds_name or self.dataset_info.tfds_name
    self.data_dir = data_dir
    self.manual_dir = manual_dir
    for name, value in (('train_batch_size', train_batch_size), ('eval_batch_size', eval_batch_size)):
      if not (isinstance(value, int) and value >= 1):
        raise ValueError(f'ClassificationTask.{name} must be an int >= 1, got {name}={value!r}.')
    if len(image_size) != 2 or min(image_size) < 1:
      raise ValueError(f'ClassificationTask.image_size must be (height, width) > 0, got '
                       f'image_size={tuple(image_size)!r}.')
    if not 0.0 <= label_smoothing < 1.0:
      raise ValueError(f'ClassificationTask.label_smoothing must be in [0, 1), got '
                       f'label_smoothing={label_smoothing!r}.')
    if len(crop_area_range) != 2 or not 0.0 < crop_area_range[0] <= crop_area_range[1] <= 1.0:
      raise ValueError(f'ClassificationTask.crop_area_range must be (min, max) with 0 < min <= max <= 1, '
                       f'got crop_area_range={tuple(crop_area_range)!r}.')
    if not 0.0 < eval_crop_fraction <= 1.0:
      raise ValueError(f'ClassificationTask.eval_crop_fraction must be in (0, 1], got '
                       f'eval_crop_fraction={eval_crop_fraction!r}.')
    self.train_batch_size = train_batch_size
    self.eval_batch_size = eval_batch_size
    self.image_size = tuple(int(size) for size in image_size)
    self.label_smoothing = label_smoothing
    self.crop_area_range = tuple(float(x) for x in crop_area_range)
    self.eval_crop_fraction = eval_crop_fraction
    self.shuffle_seed = shuffle_seed
    self._class_names = self.dataset_info.class_names

  @property
  def num_classes(self) -> int:
    return self.dataset_info.num_classes

  @property
  def input_size(self) -> Tuple[int, int]:
    return self.image_size

  @property
  def loss_names(self) -> Tuple[str, ...]:
    return ('total_loss', 'cross_entropy_loss')

  # ----------------------------------------------------------------------------------------------
  # Inputs.

  def build_inputs(self, split: str, is_training: bool,
                   input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """The dataset one input pipeline (host) feeds, batched per replica.

    `split` is 'train' or 'validation' as the loop names them; the class table maps them to the
    dataset's own split names.
    """
    tfds_split = {'train': self.dataset_info.train_split,
                  'validation': self.dataset_info.eval_split}.get(split, split)
    tfds_name, _, builder_config = self.tfds_name.partition('/')
    return classification_pipeline.build_classification_dataset(
        self.dataset_info,
        tfds_split,
        is_training=is_training,
        batch_size=self.train_batch_size if is_training else self.eval_batch_size,
        image_size=self.image_size,
        crop_area_range=self.crop_area_range,
        eval_crop_fraction=self.eval_crop_fraction,
        data_dir=self.data_dir,
        tfds_name=tfds_name,
        builder_config=builder_config or None,
        manual_dir=self.manual_dir,
        seed=self.shuffle_seed,
        input_context=input_context)

  # ----------------------------------------------------------------------------------------------
  # Losses and steps.

  def compute_losses(self, outputs: Dict[str, tf.Tensor], batch: Dict[str, tf.Tensor],
                     global_batch_size: int) -> Dict[str, tf.Tensor]:
    """Softmax cross-entropy (with label smoothing) summed over this replica's images / global batch."""
    logits = tf.cast(outputs['logits'], tf.float32)
    targets = tf.one_hot(batch['label'], self.num_classes, dtype=tf.float32)
    if self.label_smoothing:
      targets = targets * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
    per_image = tf.nn.softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    cross_entropy = tf.reduce_sum(per_image) / float(global_batch_size)
    return {'cross_entropy_loss': cross_entropy, 'total_loss': cross_entropy}

  def train_step(self, model, optimizer, batch: Dict[str, tf.Tensor],
                 global_batch_size: int) -> Dict[str, tf.Tensor]:
    """One optimisation step on this replica's share of the batch; returns its loss terms."""
    return optimization.train_step(model, optimizer, batch['image'],
                                   lambda outputs: self.compute_losses(outputs, batch, global_batch_size))

  def eval_step(self, model, batch: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Predicts one replica's batch: the labels ranked best first (up to 5) for the host metrics."""
    logits = tf.cast(model(batch['image'], training=False)['logits'], tf.float32)
    _, ranked = tf.math.top_k(logits, k=min(5, self.num_classes))
    return {
        'image': tf.cast(batch['image'], tf.uint8),
        'label': batch['label'],
        'ranked_predictions': ranked,
        'is_padding': classification_pipeline.is_padding_label(batch['label']),
    }

  @staticmethod
  def real_examples(step_outputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Drops the padding examples (label -1) from a host-side batch of `eval_step` outputs."""
    keep = ~step_outputs['is_padding']
    return {name: value[keep] for name, value in step_outputs.items() if name != 'is_padding'}

  # ----------------------------------------------------------------------------------------------
  # Metrics and pictures.

  def build_metrics(self):
    return {'accuracy': accuracy.TopKAccuracy(ks=(1, 5))}

  def update_metrics(self, metrics, step_outputs: Dict[str, np.ndarray]) -> None:
    metrics['accuracy'].update_state(step_outputs['label'], step_outputs['ranked_predictions'])

  def metric_results(self, metrics) -> Dict:
    """{'top1_accuracy', 'top5_accuracy' (fractions), 'num_examples'}."""
    return metrics['accuracy'].result()

  def class_names(self) -> Optional[Sequence[str]]:
    """Label names from the class table, else from the TFDS ClassLabel feature (ImageNet's synsets)."""
    if self._class_names is None:
      # The builder exists once build_inputs has run; its ClassLabel feature holds the names.
      builder = tfds.builder(self.tfds_name, data_dir=self.data_dir or pipeline.default_data_dir())
      self._class_names = tuple(builder.info.features['label'].names)
    return self._class_names

  def prediction_picture(self, step_outputs: Dict[str, np.ndarray]) -> np.ndarray:
    """Images framed green (right) or red (wrong), captioned `predicted/true`."""
    return visualize.classification_grid(step_outputs['image'], step_outputs['label'],
                                         step_outputs['ranked_predictions'][:, 0], self.class_names())
