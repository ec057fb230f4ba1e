"""Panoptic-DeepLab training targets from a panoptic map, vectorised over instances.

`panoptic_targets` turns one int32 panoptic map [H, W] (`semantic * label_divisor + instance`, see
docs/architecture.md) into the target keys of a training example:

  semantic          int32 [H, W]     panoptic // label_divisor (void pixels hold ignore_label)
  semantic_weights  float32 [H, W]   0 on void, small_instance_weight on pixels of thing instances with
                                     area < small_instance_area, else 1 (crowd and stuff: 1)
  center_heatmap    float32 [H, W]   max over instances of exp(-d^2 / (2 sigma^2)), d = distance to the
                                     instance center; 1 at each center
  center_weights    float32 [H, W]   0 on void and crowd pixels, else 1
  center_offsets    float32 [H, W, 2] (dy, dx) = center - pixel on instance pixels, 0 elsewhere
  offset_weights    float32 [H, W]   1 on instance pixels, else 0
  panoptic          int32 [H, W]     the input, passed through

An *instance* is a pixel set with one panoptic id whose class is a thing and whose instance number is
> 0. A thing pixel with instance 0 is *crowd*: no center, no offsets, no center loss. Stuff classes never
have instances, even if their instance number is not 0.

Everything is computed at the resolution of the map it is given (full resolution; no output-stride
subsampling), and areas are counted in those pixels: in the pipeline that is the augmented crop, as in
deeplab2, so `small_instance_area` (4096) refers to instance sizes as the model sees them.

How it avoids a loop over instances: `tf.unique` numbers the instances of the map, and
`tf.math.unsorted_segment_sum` gives every instance's area and coordinate sums in one pass, hence the
centers (rounded means, round-half-to-even as numpy and deeplab2 do). The heatmap renders one
(2r+1) x (2r+1) Gaussian patch (r = round(3 sigma)) per instance at its center and scatter-maxes all of
them with one `tf.tensor_scatter_nd_max`; memory is N x patch, never N x H x W. Patch pixels outside the
image get value 0 at a clipped (valid) index, which a max-scatter onto a map >= 0 ignores.
"""

from typing import Dict

import tensorflow as tf

from widescale.data.datasets.class_tables import DatasetInfo

DEFAULT_SIGMA = 8.0
DEFAULT_SMALL_INSTANCE_AREA = 4096
DEFAULT_SMALL_INSTANCE_WEIGHT = 3.0

TARGET_KEYS = ('semantic', 'semantic_weights', 'center_heatmap', 'center_weights', 'center_offsets',
               'offset_weights', 'panoptic')


def gaussian_patch(sigma: float) -> tf.Tensor:
  """float32 [2r+1, 2r+1] Gaussian with peak 1 at the centre, r = round(3 sigma)."""
  radius = int(round(3 * sigma))
  offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
  squared_distance = offsets[:, tf.newaxis] ** 2 + offsets[tf.newaxis, :] ** 2
  return tf.exp(-squared_distance / (2.0 * sigma * sigma))


def panoptic_targets(panoptic: tf.Tensor, dataset_info: DatasetInfo, *, sigma: float = DEFAULT_SIGMA,
                     small_instance_area: int = DEFAULT_SMALL_INSTANCE_AREA,
                     small_instance_weight: float = DEFAULT_SMALL_INSTANCE_WEIGHT) -> Dict[str, tf.Tensor]:
  """Computes the Panoptic-DeepLab targets of one panoptic map (see the module docstring).

  Args:
    panoptic: int32 [H, W] panoptic map of one image (not batched).
    dataset_info: gives thing_class_ids, ignore_label and label_divisor.
    sigma: standard deviation of the center Gaussian, in pixels.
    small_instance_area: instances with fewer pixels than this get `small_instance_weight`.
    small_instance_weight: semantic loss weight on pixels of small instances.

  Returns:
    A dict with the keys TARGET_KEYS, each [H, W] (center_offsets [H, W, 2]); static shapes are kept.
  """
  if sigma <= 0:
    raise ValueError(f'sigma must be > 0; got {sigma}.')
  panoptic = tf.convert_to_tensor(panoptic)
  if panoptic.shape.rank != 2:
    raise ValueError(f'panoptic_targets takes one [H, W] map; got shape {panoptic.shape}.')
  panoptic = tf.cast(panoptic, tf.int32)
  map_shape = tf.shape(panoptic)
  width = map_shape[1]

  flat = tf.reshape(panoptic, [-1])
  semantic = flat // dataset_info.label_divisor
  instance = flat % dataset_info.label_divisor
  void = tf.equal(semantic, dataset_info.ignore_label)
  thing_ids = tf.constant(dataset_info.thing_class_ids or (-1,), tf.int32)  # (-1,): no class matches
  is_thing = tf.reduce_any(tf.equal(semantic[:, tf.newaxis], thing_ids[tf.newaxis, :]), axis=1)
  is_instance = is_thing & (instance > 0)
  is_crowd = is_thing & tf.equal(instance, 0)

  # Segment 0..N-1 per distinct key; all non-instance pixels share the key -1 (panoptic ids are >= 0).
  keys = tf.where(is_instance, flat, -1)
  segment_keys, segment = tf.unique(keys)
  num_segments = tf.size(segment_keys)
  is_instance_segment = segment_keys >= 0
  pixel = tf.range(tf.size(flat))
  pixel_y = tf.cast(pixel // width, tf.float32)
  pixel_x = tf.cast(pixel % width, tf.float32)
  area = tf.math.unsorted_segment_sum(tf.ones_like(pixel_y), segment, num_segments)
  sum_yx = tf.math.unsorted_segment_sum(tf.stack([pixel_y, pixel_x], axis=1), segment, num_segments)
  center = tf.round(sum_yx / area[:, tf.newaxis])  # [N, 2] (y, x); every segment has area >= 1

  # Offsets and weights, per pixel, by gathering its segment's values.
  pixel_center = tf.gather(center, segment)
  center_offsets = tf.where(is_instance[:, tf.newaxis],
                            pixel_center - tf.stack([pixel_y, pixel_x], axis=1), 0.0)
  is_small = is_instance & (tf.gather(area, segment) < small_instance_area)
  semantic_weights = tf.where(void, 0.0, tf.where(is_small, small_instance_weight, 1.0))
  center_weights = tf.where(void | is_crowd, 0.0, 1.0)
  offset_weights = tf.cast(is_instance, tf.float32)

  # Heatmap: one Gaussian patch per instance segment, scatter-maxed into the map.
  patch = gaussian_patch(sigma)
  radius = (patch.shape[0] - 1) // 2
  patch_offsets = tf.stack(tf.meshgrid(tf.range(-radius, radius + 1), tf.range(-radius, radius + 1),
                                       indexing='ij'), axis=-1)
  patch_offsets = tf.reshape(patch_offsets, [-1, 2])  # [P, 2] (dy, dx)
  indices = tf.cast(center, tf.int32)[:, tf.newaxis, :] + patch_offsets[tf.newaxis]  # [N, P, 2]
  inside = tf.reduce_all((indices >= 0) & (indices < map_shape[tf.newaxis, tf.newaxis, :]), axis=-1)
  values = tf.where(inside & is_instance_segment[:, tf.newaxis], tf.reshape(patch, [1, -1]), 0.0)
  indices = tf.clip_by_value(indices, 0, map_shape[tf.newaxis, tf.newaxis, :] - 1)
  center_heatmap = tf.tensor_scatter_nd_max(
      tf.zeros(map_shape, tf.float32), tf.reshape(indices, [-1, 2]), tf.reshape(values, [-1]))

  def to_map(values: tf.Tensor, channels: int = 0) -> tf.Tensor:
    shape = tf.concat([map_shape, [channels]], 0) if channels else map_shape
    values = tf.reshape(values, shape)
    return tf.ensure_shape(values, panoptic.shape.concatenate([channels] if channels else []))

  return {
      'semantic': to_map(semantic),
      'semantic_weights': to_map(semantic_weights),
      'center_heatmap': tf.ensure_shape(center_heatmap, panoptic.shape),
      'center_weights': to_map(center_weights),
      'center_offsets': to_map(center_offsets, channels=2),
      'offset_weights': to_map(offset_weights),
      'panoptic': panoptic,
  }
