"""TFDS -> decoded, augmented, batched `tf.data.Dataset` for image classification.

Reads any TFDS builder whose examples hold `image` (encoded JPEG or PNG) and `label` (int): TFDS's
`imagenet2012` and the embedded `shapes_classification`. The batch size, sharding, padding and
determinism conventions are those of `widescale.data.pipeline` (GLOBAL batch size in; per-replica batches
out under `distribute_datasets_from_function`; input pipeline i of n reads slice i of the split).

Training: shuffle encoded records -> repeat -> per-example seed -> decode, Inception-style random crop
(area 8-100% of the image, aspect ratio 3/4-4/3; Szegedy et al. 2015) resized to `image_size`, random
horizontal flip -> batch (drop_remainder) -> prefetch.
Evaluation: decode -> central crop of `eval_crop_fraction` of the shorter side (0.875, the usual ImageNet
protocol: 224 of 256) resized to `image_size` -> pad to a whole number of steps with examples of label
-1 -> batch -> prefetch. Metrics skip label -1 (`is_padding_label`).

Elements: {'image': float32 [H, W, 3] in 0..255, 'label': int32}.
"""

from typing import Optional, Sequence, Union

import tensorflow as tf
import tensorflow_datasets as tfds

from widescale.data import pipeline
from widescale.data.datasets.class_tables import ClassificationInfo

PADDING_LABEL = -1
DEFAULT_EVAL_CROP_FRACTION = 0.875
# Inception-style crop ranges (the ones ResNet and ResNet-RS ImageNet pipelines use).
CROP_AREA_RANGE = (0.08, 1.0)
CROP_ASPECT_RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)


def is_padding_label(label):
  """bool: which labels mark the padding examples of an evaluation dataset."""
  return label < 0


def inception_crop(image: tf.Tensor, seed: tf.Tensor, size: Sequence[int],
                   area_range: Sequence[float] = CROP_AREA_RANGE) -> tf.Tensor:
  """A random crop of `area_range` of the area with aspect ratio 3/4-4/3, resized (bilinear) to `size`.

  Falls back to the whole image when no crop is found in 10 attempts (TF's own fallback).
  """
  begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.shape(image), bounding_boxes=tf.zeros([1, 0, 4], tf.float32), seed=seed,
      min_object_covered=0.0, aspect_ratio_range=CROP_ASPECT_RATIO_RANGE, area_range=tuple(area_range),
      max_attempts=10, use_image_if_no_bounding_boxes=True)
  crop = tf.slice(image, begin, crop_size)
  return tf.image.resize(tf.cast(crop, tf.float32), size, method='bilinear')


def central_crop(image: tf.Tensor, size: Sequence[int], crop_fraction: float) -> tf.Tensor:
  """The central square of `crop_fraction` of the shorter side, resized (bilinear) to `size`."""
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  side = tf.cast(tf.cast(tf.minimum(height, width), tf.float32) * crop_fraction, tf.int32)
  side = tf.maximum(side, 1)
  top, left = (height - side) // 2, (width - side) // 2
  crop = image[top:top + side, left:left + side]
  return tf.image.resize(tf.cast(crop, tf.float32), size, method='bilinear')


def build_classification_dataset(
    info: ClassificationInfo,
    split: str,
    *,
    is_training: bool,
    batch_size: int,
    image_size: Sequence[int] = (224, 224),
    flip: bool = True,
    crop_area_range: Sequence[float] = CROP_AREA_RANGE,
    eval_crop_fraction: float = DEFAULT_EVAL_CROP_FRACTION,
    data_dir: Optional[str] = None,
    tfds_name: Optional[str] = None,
    builder_config: Optional[str] = None,
    manual_dir: Optional[str] = None,
    seed: int = 0,
    input_context: Optional[tf.distribute.InputContext] = None,
    shuffle_buffer: int = pipeline.DEFAULT_SHUFFLE_BUFFER,
    num_parallel_calls: Union[int, None] = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
  """Builds the batched classification dataset of one split (see the module docstring).

  Args:
    info: the dataset's class table (TFDS name, number of classes).
    split: TFDS split, e.g. 'train', 'validation', 'train[:10%]'.
    is_training: augment, shuffle and repeat forever (True) or one pass, central crop (False).
    batch_size: GLOBAL batch size; divided by the number of replicas when `input_context` is given.
    image_size: (height, width) of every image fed to the model.
    flip: random horizontal flips in training.
    crop_area_range: (min, max) fraction of the image area a training crop covers.
    eval_crop_fraction: evaluation crops this fraction of the shorter side before resizing.
    data_dir, builder_config, manual_dir: see `pipeline.prepare_builder`.
    tfds_name: TFDS builder name; default `info.tfds_name`.
    seed: seed of the file order, the shuffle and the augmentation.
    input_context: from `distribute_datasets_from_function`, or None.
    shuffle_buffer: number of encoded examples in the shuffle buffer.
    num_parallel_calls: parallelism of the decode/augment map.
  """
  image_size = tuple(int(size) for size in image_size)
  if len(image_size) != 2 or min(image_size) <= 0:
    raise ValueError(f'image_size must be (height, width) with positive sizes; got {image_size}.')
  if batch_size <= 0:
    raise ValueError(f'batch_size must be positive; got {batch_size}.')
  if not 0.0 < eval_crop_fraction <= 1.0:
    raise ValueError(f'eval_crop_fraction must be in (0, 1]; got {eval_crop_fraction}.')
  if len(crop_area_range) != 2 or not 0.0 < crop_area_range[0] <= crop_area_range[1] <= 1.0:
    raise ValueError(f'crop_area_range must be (min, max) with 0 < min <= max <= 1; got {crop_area_range}.')
  per_replica_batch, pipeline_id = pipeline.replica_batch_and_pipeline(batch_size, input_context)

  builder = pipeline.prepare_builder(tfds_name or info.tfds_name, data_dir=data_dir,
                                     builder_config=builder_config, manual_dir=manual_dir)
  _check_features(builder, info)
  examples = builder.as_dataset(
      split=pipeline.host_split(split, input_context), shuffle_files=is_training,
      read_config=tfds.ReadConfig(shuffle_seed=seed),
      decoders={'image': tfds.decode.SkipDecoding()})  # decoded in our parallel map, after the shuffle
  examples = examples.map(lambda example: (example['image'], example['label']))

  def decode(encoded):
    return tf.io.decode_image(encoded, channels=3, expand_animations=False)

  def output(image, label):
    return {'image': tf.ensure_shape(image, image_size + (3,)), 'label': tf.cast(label, tf.int32)}

  if is_training:
    base_seed = tf.constant([seed, pipeline_id], tf.int64)

    def train_example(index, encoded_and_label):
      encoded, label = encoded_and_label
      crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(
          tf.random.experimental.stateless_fold_in(base_seed, index), num=2))
      image = inception_crop(decode(encoded), crop_seed, image_size, crop_area_range)
      if flip:
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
      return output(image, label)

    examples = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    examples = examples.enumerate().map(train_example, num_parallel_calls=num_parallel_calls,
                                        deterministic=True)
  else:
    examples = examples.map(
        lambda encoded, label: output(central_crop(decode(encoded), image_size, eval_crop_fraction), label),
        num_parallel_calls=num_parallel_calls, deterministic=True)
    num_padding = pipeline.eval_padding_count(builder, split, per_replica_batch, input_context)
    if num_padding:
      padding = tf.data.Dataset.range(num_padding).map(
          lambda _: output(tf.zeros(image_size + (3,), tf.float32), PADDING_LABEL))
      examples = examples.concatenate(padding)

  return pipeline.batch_deterministically(examples, per_replica_batch)


def _check_features(builder: tfds.core.DatasetBuilder, info: ClassificationInfo) -> None:
  features = builder.info.features
  missing = [key for key in ('image', 'label') if key not in features]
  if missing:
    raise ValueError(f'TFDS dataset {builder.info.full_name} lacks the features {missing}; a '
                     f'classification builder needs `image` and `label`. It has {list(features)}.')
  num_labels = features['label'].num_classes
  if num_labels != info.num_classes:
    raise ValueError(f'TFDS dataset {builder.info.full_name} has {num_labels} labels but the class table '
                     f'{info.name!r} (widescale/data/datasets/class_tables.py) says {info.num_classes}.')
