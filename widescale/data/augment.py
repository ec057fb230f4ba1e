"""Geometric augmentation that moves an image and its panoptic map together: scale, pad, crop, flip.

All functions take one example (image [H, W, 3], panoptic int32 [H, W]) and are pure TF ops, so they run
inside `tf.data.Dataset.map` (and trace in graph mode).

Randomness is *stateless*: every random function takes a `seed`, an int32/int64 tensor of shape [2], and
returns the same result for the same seed. The pipeline derives one seed per example from (run seed,
input pipeline id, example counter). We prefer this to a `tf.random.Generator` because a generator's state
is shared by the parallel calls of `Dataset.map`, so which example gets which random numbers would depend
on thread scheduling; with per-example seeds the output is deterministic whatever the parallelism, and
resuming from a checkpointed iterator (which stores the counter) reproduces the same augmentations.

Resizing uses TF2's `tf.image.resize` for both the image (bilinear) and the labels (nearest neighbour);
both use half-pixel centres, so an image pixel and its label stay on the same spot at every scale.
"""

from typing import Sequence, Tuple

import tensorflow as tf

# Padding value of the image: the model normalises with x / 127.5 - 1, so padded pixels become exactly 0,
# i.e. they look like the zero padding of the convolutions instead of a black (-1) frame with a strong
# artificial edge. deeplab2 pads with the mean pixel for the same reason. Labels are padded with void.
DEFAULT_IMAGE_PAD_VALUE = 127.5


def _split_seed(seed: tf.Tensor, num: int) -> tf.Tensor:
  return tf.random.experimental.stateless_split(tf.convert_to_tensor(seed), num)


def scale(image: tf.Tensor, panoptic: tf.Tensor, factor: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """Resizes image (bilinear, float32 out) and panoptic map (nearest, dtype kept) by `factor`.

  The new size is round(size * factor), at least 1 pixel.
  """
  size = tf.cast(tf.shape(image)[:2], tf.float32)
  new_size = tf.maximum(tf.cast(tf.round(size * tf.cast(factor, tf.float32)), tf.int32), 1)
  image = tf.image.resize(tf.cast(image, tf.float32), new_size, method='bilinear')
  panoptic = tf.image.resize(panoptic[..., tf.newaxis], new_size, method='nearest')[..., 0]
  return image, panoptic


def random_scale(image: tf.Tensor, panoptic: tf.Tensor, seed: tf.Tensor, *, min_scale: float,
                 max_scale: float) -> Tuple[tf.Tensor, tf.Tensor]:
  """Scales by a factor drawn uniformly from [min_scale, max_scale] (see `scale`).

  Returns the image as float32 in all cases; with min_scale == max_scale == 1 nothing is resized.
  """
  if not 0 < min_scale <= max_scale:
    raise ValueError(f'Need 0 < min_scale <= max_scale; got min_scale={min_scale}, max_scale={max_scale}.')
  if min_scale == max_scale == 1.0:
    return tf.cast(image, tf.float32), panoptic
  factor = tf.random.stateless_uniform([], seed, minval=min_scale, maxval=max_scale)
  return scale(image, panoptic, factor)


def pad_to_size(image: tf.Tensor, panoptic: tf.Tensor, height: int, width: int, *,
                label_pad_value: int,
                image_pad_value: float = DEFAULT_IMAGE_PAD_VALUE) -> Tuple[tf.Tensor, tf.Tensor]:
  """Pads at the bottom and right to at least [height, width]; larger inputs are left as they are.

  Padding at the bottom-right keeps pixel (0, 0) in place, so an evaluator can cut the original image
  back out of a prediction with [:h, :w].

  Args:
    image: [H, W, 3] image (any numeric dtype; kept).
    panoptic: [H, W] panoptic map.
    height, width: minimum output size.
    label_pad_value: panoptic id of padded pixels; use `ignore_label * label_divisor` (void).
    image_pad_value: image value of padded pixels.

  Returns:
    (image, panoptic) of size [max(H, height), max(W, width)].
  """
  shape = tf.shape(panoptic)
  pad_bottom = tf.maximum(height - shape[0], 0)
  pad_right = tf.maximum(width - shape[1], 0)
  image = tf.pad(image, [[0, pad_bottom], [0, pad_right], [0, 0]],
                 constant_values=tf.cast(image_pad_value, image.dtype))
  panoptic = tf.pad(panoptic, [[0, pad_bottom], [0, pad_right]],
                    constant_values=tf.cast(label_pad_value, panoptic.dtype))
  return image, panoptic


def random_crop(image: tf.Tensor, panoptic: tf.Tensor, seed: tf.Tensor, *, height: int,
                width: int) -> Tuple[tf.Tensor, tf.Tensor]:
  """Crops a random [height, width] window (uniform over all positions); the input must be large enough.

  Call `pad_to_size` first. The output has the static shape [height, width(, 3)].
  """
  shape = tf.shape(panoptic)
  tf.debugging.assert_greater_equal(
      shape, tf.constant([height, width]),
      message=f'random_crop: image smaller than the crop size {height}x{width}; pad it first.')
  seed_y, seed_x = tf.unstack(_split_seed(seed, 2))
  top = tf.random.stateless_uniform([], seed_y, minval=0, maxval=shape[0] - height + 1, dtype=tf.int32)
  left = tf.random.stateless_uniform([], seed_x, minval=0, maxval=shape[1] - width + 1, dtype=tf.int32)
  image = tf.slice(image, tf.stack([top, left, 0]), [height, width, 3])
  panoptic = tf.slice(panoptic, tf.stack([top, left]), [height, width])
  return image, panoptic


def random_flip(image: tf.Tensor, panoptic: tf.Tensor, seed: tf.Tensor, *,
                probability: float = 0.5) -> Tuple[tf.Tensor, tf.Tensor]:
  """Mirrors image and panoptic map left-right together with the given probability."""
  flip = tf.random.stateless_uniform([], seed) < probability
  image = tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)
  panoptic = tf.cond(flip, lambda: tf.reverse(panoptic, axis=[1]), lambda: panoptic)
  return image, panoptic


def augment_panoptic(image: tf.Tensor, panoptic: tf.Tensor, seed: tf.Tensor, *,
                     crop_size: Sequence[int], ignore_label: int, label_divisor: int,
                     min_scale: float = 1.0, max_scale: float = 1.0, flip: bool = True,
                     image_pad_value: float = DEFAULT_IMAGE_PAD_VALUE) -> Tuple[tf.Tensor, tf.Tensor]:
  """Training augmentation of one example: random scale, pad with void, random crop, random flip.

  Args:
    image: [H, W, 3] image, uint8 or float in 0..255.
    panoptic: int32 [H, W] panoptic map.
    seed: int tensor [2]; the same seed gives the same output.
    crop_size: (height, width) of the output.
    ignore_label, label_divisor: from the DatasetInfo; padded pixels get `ignore_label * label_divisor`.
    min_scale, max_scale: range of the random scale factor.
    flip: whether to flip left-right with probability 0.5.
    image_pad_value: image value of padded pixels (see DEFAULT_IMAGE_PAD_VALUE).

  Returns:
    (image float32 [crop_h, crop_w, 3] in 0..255, panoptic int32 [crop_h, crop_w]).
  """
  crop_height, crop_width = crop_size
  scale_seed, crop_seed, flip_seed = tf.unstack(_split_seed(seed, 3))
  image, panoptic = random_scale(image, panoptic, scale_seed, min_scale=min_scale, max_scale=max_scale)
  image, panoptic = pad_to_size(image, panoptic, crop_height, crop_width,
                                label_pad_value=ignore_label * label_divisor,
                                image_pad_value=image_pad_value)
  image, panoptic = random_crop(image, panoptic, crop_seed, height=crop_height, width=crop_width)
  if flip:
    image, panoptic = random_flip(image, panoptic, flip_seed)
  return image, panoptic
