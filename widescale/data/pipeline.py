"""TFDS -> decoded, augmented, target-annotated, batched `tf.data.Dataset` for Panoptic-DeepLab.

    def dataset_fn(input_context):
      return build_panoptic_dataset(SHAPES, 'train', is_training=True, batch_size=GLOBAL_BATCH,
                                    input_context=input_context)
    dataset = strategy.distribute_datasets_from_function(dataset_fn)

Batch size convention: callers pass the GLOBAL batch size; with an `input_context` the dataset is batched
by `input_context.get_per_replica_batch_size(batch_size)` (what `distribute_datasets_from_function`
expects: each input pipeline yields per-replica batches), without one by `batch_size` itself.

Sharding: with an `input_context`, input pipeline i of n reads only its slice `tfds.even_splits(split, n)[i]`
of the split (by example, not by file, so it works with single-file datasets too); the slices are
disjoint and cover the split.

Every element is a dict with exactly the keys of docs/architecture.md "Training examples" (`image` float32
0..255, `panoptic`, and the targets of `widescale.data.targets`), with static shapes
[batch, crop_h, crop_w(, 2 | 3)].

Training: shuffle (of encoded records, so the buffer is cheap) -> repeat -> per-example seed -> decode,
augment (random scale, pad with void, random crop, flip), targets -> batch (drop_remainder) -> prefetch.
Evaluation: decode -> pad to crop_size with void (no resizing: crop_size must be at least the image size)
-> targets -> pad the dataset with all-void examples to a whole number of steps -> batch -> prefetch.
The all-void padding examples (image = pad value, panoptic = ignore_label * label_divisor, all weights 0)
count for nothing in losses, PQ (their predictions fall on void) and mIoU; code that counts images or
computes AP must skip them: `is_padding_example(panoptic, dataset_info)` tells them apart. Every input
pipeline yields the same number of steps, so multi-host evaluation does not hang on a short host.

Determinism: file order, shuffle and augmentation all derive from `seed`; the augmentation seed of an
example is (seed, input pipeline id, example counter), so parallel map does not change results and a
restored iterator checkpoint replays the same augmentations.
"""

import math
import os
from typing import Optional, Sequence, Union

import tensorflow as tf
import tensorflow_datasets as tfds

from widescale.data import augment
from widescale.data import targets as targets_lib
# Imported for their side effect: they register widescale's builders with TFDS.
import widescale.data.datasets.cityscapes_panoptic  # noqa: F401  pylint: disable=unused-import
import widescale.data.datasets.coco_panoptic  # noqa: F401  pylint: disable=unused-import
import widescale.data.datasets.shapes  # noqa: F401  pylint: disable=unused-import
from widescale.data.datasets.class_tables import DatasetInfo

DATA_DIR_ENV_VAR = 'WIDESCALE_DATA_DIR'
DEFAULT_DATA_DIR = os.path.join('~', '.cache', 'widescale', 'tensorflow_datasets')
DEFAULT_SHUFFLE_BUFFER = 1024


def default_data_dir() -> str:
  """$WIDESCALE_DATA_DIR if set, else ~/.cache/widescale/tensorflow_datasets."""
  return os.path.expanduser(os.environ.get(DATA_DIR_ENV_VAR) or DEFAULT_DATA_DIR)


def prepare_builder(name: str, *, data_dir: Optional[str] = None, builder_config: Optional[str] = None,
                    manual_dir: Optional[str] = None) -> tfds.core.DatasetBuilder:
  """Returns the TFDS builder `name[/builder_config]`, building the dataset first if it is missing.

  Args:
    name: registered TFDS name, e.g. 'shapes'.
    data_dir: TFDS data directory; default `default_data_dir()`. `gs://` paths work.
    builder_config: config name, e.g. 'tiny' for 'shapes/tiny'; default the builder's default config.
    manual_dir: where a manually downloaded release lies (datasets that need one, e.g. Cityscapes).

  Building is a no-op when the data directory already holds the dataset. On a multi-host job, build
  once before starting (two hosts preparing the same directory at once race).
  """
  full_name = f'{name}/{builder_config}' if builder_config else name
  builder = tfds.builder(full_name, data_dir=data_dir or default_data_dir())
  # try_download_gcs=False: never look for a prebuilt copy on the network.
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=manual_dir, try_download_gcs=False))
  return builder


def load_or_build(name: str = 'shapes', split: str = 'train', *, data_dir: Optional[str] = None,
                  builder_config: Optional[str] = None, manual_dir: Optional[str] = None,
                  **as_dataset_kwargs) -> tf.data.Dataset:
  """Builds the TFDS dataset if needed (see `prepare_builder`) and returns `builder.as_dataset(split)`.

  Elements are the raw features (for `shapes`: image, panoptic as RGB, image_id); extra keyword
  arguments (shuffle_files, read_config, decoders, ...) go to `as_dataset`.
  """
  builder = prepare_builder(name, data_dir=data_dir, builder_config=builder_config, manual_dir=manual_dir)
  return builder.as_dataset(split=split, **as_dataset_kwargs)


def decode_panoptic_rgb(rgb: tf.Tensor) -> tf.Tensor:
  """uint8 [..., 3] COCO-encoded panoptic pixels -> int32 [...] ids = R + 256 G + 256^2 B."""
  rgb = tf.cast(rgb, tf.int32)
  return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def is_padding_example(panoptic: tf.Tensor, dataset_info: DatasetInfo) -> tf.Tensor:
  """bool [B]: which examples of a batch [B, H, W] are the all-void padding of an evaluation dataset."""
  void = tf.equal(panoptic, dataset_info.ignore_label * dataset_info.label_divisor)
  return tf.reduce_all(void, axis=[-2, -1])


def host_split(split: str, input_context: Optional[tf.distribute.InputContext]):
  """The part of `split` that the input pipeline of `input_context` reads (all of it without one)."""
  if input_context is None or input_context.num_input_pipelines == 1:
    return split
  return tfds.even_splits(split, n=input_context.num_input_pipelines)[input_context.input_pipeline_id]


def build_panoptic_dataset(
    dataset_info: DatasetInfo,
    split: str,
    *,
    is_training: bool,
    batch_size: int,
    crop_size: Sequence[int] = (128, 128),
    min_scale: float = 0.5,
    max_scale: float = 2.0,
    flip: bool = True,
    sigma: float = targets_lib.DEFAULT_SIGMA,
    small_instance_area: int = targets_lib.DEFAULT_SMALL_INSTANCE_AREA,
    small_instance_weight: float = targets_lib.DEFAULT_SMALL_INSTANCE_WEIGHT,
    image_pad_value: float = augment.DEFAULT_IMAGE_PAD_VALUE,
    data_dir: Optional[str] = None,
    builder_config: Optional[str] = None,
    manual_dir: Optional[str] = None,
    tfds_name: Optional[str] = None,
    seed: int = 0,
    input_context: Optional[tf.distribute.InputContext] = None,
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
    num_parallel_calls: Union[int, None] = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
  """Builds the batched panoptic dataset of one split (see the module docstring for the conventions).

  Args:
    dataset_info: the dataset's class table (thing ids, ignore label, label divisor, TFDS name).
    split: TFDS split, e.g. 'train', 'validation', 'train[:10%]'.
    is_training: augment, shuffle and repeat forever (True) or one pass, no augmentation (False).
    batch_size: GLOBAL batch size; divided by the number of replicas when `input_context` is given.
    crop_size: (height, width) of every example. Evaluation pads to it and requires images no larger.
    min_scale, max_scale: random scale range (training only).
    flip: random left-right flip (training only).
    sigma: standard deviation of the center heatmap Gaussian, pixels.
    small_instance_area, small_instance_weight: semantic weight of instances under that many pixels.
    image_pad_value: image value of padded pixels (127.5 becomes 0 after the model's normalisation).
    data_dir: TFDS data directory; default `default_data_dir()` ($WIDESCALE_DATA_DIR or ~/.cache/...).
    builder_config: TFDS builder config, e.g. 'tiny' for shapes; default the builder's default.
    manual_dir: manual download directory, for datasets that need one.
    tfds_name: TFDS builder name if it differs from `dataset_info.name`.
    seed: seeds file order, shuffling and augmentation.
    input_context: `tf.distribute.InputContext` from `distribute_datasets_from_function`, or None.
    shuffle_buffer: number of (encoded) examples in the shuffle buffer.
    num_parallel_calls: parallelism of the decode/augment/targets map.

  Returns:
    A `tf.data.Dataset` of dicts (keys `targets.TARGET_KEYS` + 'image'), batched by the per-replica
    batch size, with static shapes.
  """
  crop_size = tuple(int(size) for size in crop_size)
  if len(crop_size) != 2 or min(crop_size) <= 0:
    raise ValueError(f'crop_size must be (height, width) with positive sizes; got {crop_size}.')
  if batch_size <= 0:
    raise ValueError(f'batch_size must be positive; got {batch_size}.')
  if shuffle_buffer <= 0:
    raise ValueError(f'shuffle_buffer must be positive; got {shuffle_buffer}.')
  per_replica_batch, pipeline_id = replica_batch_and_pipeline(batch_size, input_context)

  builder = prepare_builder(tfds_name or dataset_info.name, data_dir=data_dir,
                            builder_config=builder_config, manual_dir=manual_dir)
  _check_features(builder)
  examples = builder.as_dataset(
      split=host_split(split, input_context), shuffle_files=is_training,
      read_config=tfds.ReadConfig(shuffle_seed=seed),
      # Decoded later, in our parallel map: this way the shuffle buffer holds encoded PNGs only.
      decoders={'image': tfds.decode.SkipDecoding(), 'panoptic': tfds.decode.SkipDecoding()})
  examples = examples.map(lambda example: {'image': example['image'], 'panoptic': example['panoptic']})

  def with_targets(image, panoptic):
    example = targets_lib.panoptic_targets(panoptic, dataset_info, sigma=sigma,
                                           small_instance_area=small_instance_area,
                                           small_instance_weight=small_instance_weight)
    example['image'] = tf.ensure_shape(tf.cast(image, tf.float32), crop_size + (3,))
    return example

  if is_training:
    base_seed = tf.constant([seed, pipeline_id], tf.int64)

    def train_example(index, example):
      image, panoptic = _decode(example)
      image, panoptic = augment.augment_panoptic(
          image, panoptic, tf.random.experimental.stateless_fold_in(base_seed, index),
          crop_size=crop_size, ignore_label=dataset_info.ignore_label,
          label_divisor=dataset_info.label_divisor, min_scale=min_scale, max_scale=max_scale,
          flip=flip, image_pad_value=image_pad_value)
      return with_targets(image, panoptic)

    examples = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    examples = examples.enumerate().map(train_example, num_parallel_calls=num_parallel_calls,
                                        deterministic=True)
  else:
    def eval_example(example):
      image, panoptic = _decode(example)
      return with_targets(*_pad_for_eval(image, panoptic, dataset_info, crop_size, image_pad_value))

    def void_example(_):
      image = tf.zeros(crop_size + (3,), tf.uint8)
      panoptic = tf.zeros(crop_size, tf.int32)
      return with_targets(*_pad_for_eval(image[:0, :0], panoptic[:0, :0], dataset_info, crop_size,
                                         image_pad_value))

    examples = examples.map(eval_example, num_parallel_calls=num_parallel_calls, deterministic=True)
    num_padding = eval_padding_count(builder, split, per_replica_batch, input_context)
    if num_padding:
      examples = examples.concatenate(tf.data.Dataset.range(num_padding).map(void_example))

  return batch_deterministically(examples, per_replica_batch)


def replica_batch_and_pipeline(batch_size: int, input_context: Optional[tf.distribute.InputContext]):
  """(per-replica batch size, input pipeline id) of the pipeline `input_context` describes (or the one)."""
  if input_context is None:
    return batch_size, 0
  # get_per_replica_batch_size raises if the global batch does not divide over the replicas.
  return input_context.get_per_replica_batch_size(batch_size), input_context.input_pipeline_id


def eval_padding_count(builder: tfds.core.DatasetBuilder, split: str, per_replica_batch: int,
                       input_context: Optional[tf.distribute.InputContext]) -> int:
  """How many padding examples make this pipeline's slice of `split` a whole number of steps.

  Every pipeline is padded to the step count of the largest slice, so all hosts run the same number of
  evaluation steps (a host that ran out early would hang the others' collectives).
  """
  num_pipelines = input_context.num_input_pipelines if input_context is not None else 1
  replicas_per_pipeline = (max(input_context.num_replicas_in_sync // num_pipelines, 1)
                           if input_context is not None else 1)
  examples_per_step = per_replica_batch * replicas_per_pipeline
  largest_slice = max(builder.info.splits[part].num_examples for part in (
      tfds.even_splits(split, n=num_pipelines) if num_pipelines > 1 else [split]))
  num_examples = builder.info.splits[host_split(split, input_context)].num_examples
  return math.ceil(largest_slice / examples_per_step) * examples_per_step - num_examples


def batch_deterministically(examples: tf.data.Dataset, per_replica_batch: int) -> tf.data.Dataset:
  """Static-shape batches (drop_remainder, as TPUs need), deterministic order, prefetch last."""
  examples = examples.batch(per_replica_batch, drop_remainder=True)
  options = tf.data.Options()
  options.deterministic = True
  return examples.with_options(options).prefetch(tf.data.AUTOTUNE)


def _check_features(builder: tfds.core.DatasetBuilder) -> None:
  features = builder.info.features
  missing = [key for key in ('image', 'panoptic') if key not in features]
  if missing:
    raise ValueError(f'TFDS dataset {builder.info.full_name} lacks the features {missing}; a panoptic '
                     f'builder needs `image` and `panoptic` (RGB-encoded PNG). It has {list(features)}.')
  panoptic_shape = features['panoptic'].shape
  if len(panoptic_shape) != 3 or panoptic_shape[-1] != 3:
    raise ValueError(f'TFDS dataset {builder.info.full_name}: `panoptic` must be an RGB image holding '
                     f'id = R + 256 G + 256^2 B (docs/architecture.md); got shape {panoptic_shape}.')


def _decode(example):
  """Encoded record -> (uint8 image [H, W, 3], int32 panoptic [H, W])."""
  image = tf.io.decode_image(example['image'], channels=3, expand_animations=False)
  panoptic = decode_panoptic_rgb(tf.io.decode_png(example['panoptic'], channels=3))
  return image, panoptic


def _pad_for_eval(image, panoptic, dataset_info, crop_size, image_pad_value):
  """Pads to exactly crop_size with void; fails, naming crop_size, if the image is larger."""
  shape = tf.shape(panoptic)
  tf.debugging.assert_less_equal(
      shape, tf.constant(crop_size),
      message=f'Evaluation image larger than crop_size={crop_size}; evaluation does not resize or crop, '
              f'so set crop_size to at least the largest image size (e.g. 1025x2049 for Cityscapes).')
  image, panoptic = augment.pad_to_size(
      tf.cast(image, tf.float32), panoptic, *crop_size,
      label_pad_value=dataset_info.ignore_label * dataset_info.label_divisor,
      image_pad_value=image_pad_value)
  return tf.ensure_shape(image, crop_size + (3,)), tf.ensure_shape(panoptic, crop_size)
