"""Panoptic-DeepLab post-processing: semantic logits + center heatmap + center offsets -> panoptic maps.

Batched, pure TensorFlow, static shapes (fixed `top_k`, invalid centers masked rather than dropped), so it
runs inside a `tf.function`, under XLA and in a SavedModel serving signature with batch > 1.

The steps (Cheng et al., "Panoptic-DeepLab", CVPR 2020; Yang et al., "DeeperLab", arXiv 1902.05093):
  1. semantic = argmax of the logits.
  2. centers = heatmap values > `center_threshold` that survive a `nms_kernel` x `nms_kernel` max-pool
     NMS, the `top_k` highest (sorted, so center k has the k-th highest score).
  3. every thing pixel (semantic class in `thing_class_ids`) goes to the center nearest to
     pixel + offset; instance ids are 1..top_k per image (center index + 1, unique across classes).
  4. the class of an instance is the majority vote of the semantic labels of its pixels (ties -> the
     lowest class id); all its pixels take that class.
  5. stuff classes whose area in the image is < `stuff_area_limit` become void.
  6. panoptic = semantic * label_divisor + instance; void = ignore_label * label_divisor.

Conventions followed from deeplab2 (`model/post_processor/panoptic_deeplab.py` and its merge op):
  - NMS keeps a pixel whose thresholded heatmap value equals the max of its window (plateaus keep every
    tied pixel); the window is zero padded, which equals -inf padding here because only values above a
    positive threshold can be centers.
  - thing pixels when no center passes the threshold are void (deeplab2 leaves them with instance 0 and
    never pastes them into the panoptic map).
  - stuff area counted per class over the whole image (not per connected component); an area equal to the
    limit is kept.
  - thing instances have no area threshold (deeplab2's Panoptic-DeepLab has none either).
Differences from deeplab2:
  - exactly `top_k` centers are kept; deeplab2 keeps those strictly above the k-th score (fewer on ties).
  - instance ids are center index + 1 (unique in the image) instead of renumbered 1..n per class; both are
    valid panoptic encodings and PQ does not depend on the numbering.
  - nearest-center search never builds a K x H x W distance tensor: it loops over chunks of centers,
    keeping a running (min distance, argmin), and stops after the last valid center of the batch.
"""

from typing import Dict, Optional, Sequence

import tensorflow as tf

# Default budget of one [B, H*W, chunk] distance tensor: 2**25 float32 = 128 MiB. At 1025 x 2049 and
# batch 1 this is 16 centers a chunk; smaller budgets trade speed for memory.
_MAX_DISTANCE_ELEMENTS = 2 ** 25
# Chunk size when H, W or B are unknown when the graph is traced.
_DEFAULT_CENTER_CHUNK = 8
# Coordinates of masked (invalid) centers: farther than any sane pixel + offset (1e36 still fits float32).
_FAR_AWAY = 1e18


def _static_or_dynamic_shape(tensor: tf.Tensor):
  static = tensor.shape.as_list()
  dynamic = tf.shape(tensor)
  return [d if d is not None else dynamic[i] for i, d in enumerate(static)]


def find_instance_centers(center_heatmap: tf.Tensor, *, center_threshold: float, nms_kernel: int,
                          top_k: int):
  """Selects up to `top_k` instance centers per image by max-pool NMS.

  Args:
    center_heatmap: float [B, H, W] (raw values, no sigmoid).
    center_threshold: a center needs a heatmap value strictly above this.
    nms_kernel: odd window size of the max-pool NMS.
    top_k: number of center slots per image.

  Returns:
    (center_yx int32 [B, top_k, 2], center_scores float32 [B, top_k], center_valid bool [B, top_k]),
    sorted by decreasing score; slots past the number of centers found are invalid (score 0, yx -1).
  """
  batch, height, width = _static_or_dynamic_shape(center_heatmap)
  heatmap = tf.cast(center_heatmap, tf.float32)
  heatmap = tf.where(heatmap > center_threshold, heatmap, tf.zeros_like(heatmap))
  # A square max-pool is separable: a column pass then a row pass is exact and ~5x faster at 13 x 13.
  pooled = tf.nn.max_pool2d(heatmap[..., tf.newaxis], ksize=(nms_kernel, 1), strides=1, padding='SAME')
  pooled = tf.nn.max_pool2d(pooled, ksize=(1, nms_kernel), strides=1, padding='SAME')
  heatmap = tf.where(tf.equal(pooled[..., 0], heatmap), heatmap, tf.zeros_like(heatmap))
  flat = tf.reshape(heatmap, [batch, -1])
  # top_k needs k <= H*W; tiny maps keep H*W slots and are padded back to top_k below.
  num_pixels = height * width if isinstance(height, int) and isinstance(width, int) else None
  k = min(top_k, num_pixels) if num_pixels is not None else top_k
  scores, flat_index = tf.math.top_k(flat, k=k, sorted=True)
  if k < top_k:
    scores = tf.pad(scores, [[0, 0], [0, top_k - k]])
    flat_index = tf.pad(flat_index, [[0, 0], [0, top_k - k]])
  center_yx = tf.stack([flat_index // width, flat_index % width], axis=-1)
  valid = scores > center_threshold
  center_yx = tf.where(valid[..., tf.newaxis], center_yx, -tf.ones_like(center_yx))
  return center_yx, tf.where(valid, scores, tf.zeros_like(scores)), valid


def _nearest_center(target_yx: tf.Tensor, center_yx: tf.Tensor, center_valid: tf.Tensor,
                    chunk: int) -> tf.Tensor:
  """Index of the nearest valid center for every point, without a [B, P, K] tensor.

  Args:
    target_yx: float32 [B, P, 2] points (pixel + offset).
    center_yx: float32 [B, K, 2]; valid centers form a prefix (they are sorted by score).
    center_valid: bool [B, K].
    chunk: centers compared per loop iteration; peak memory is about 3 x B x P x chunk floats.

  Returns:
    int32 [B, P]; ties go to the lower index (the higher-scoring center). Meaningless for images
    without any valid center (the caller masks those).
  """
  batch, num_points, _ = _static_or_dynamic_shape(target_yx)
  top_k = center_yx.shape[1]
  num_chunks = -(-top_k // chunk)
  padded = num_chunks * chunk
  center_yx = tf.where(center_valid[..., tf.newaxis], center_yx, tf.fill(tf.shape(center_yx), _FAR_AWAY))
  center_yx = tf.pad(center_yx, [[0, 0], [0, padded - top_k], [0, 0]], constant_values=_FAR_AWAY)
  center_chunks = tf.reshape(center_yx, [batch, num_chunks, chunk, 2])
  # Valid centers are a prefix, so chunks after the last valid center of the batch can be skipped.
  max_valid = tf.reduce_max(tf.reduce_sum(tf.cast(center_valid, tf.int32), axis=1))
  chunks_needed = (max_valid + chunk - 1) // chunk
  target_y = target_yx[:, :, 0:1]
  target_x = target_yx[:, :, 1:2]

  def body(i, best_distance, best_index):
    centers = center_chunks[:, i]  # [B, chunk, 2]
    distance = (tf.math.squared_difference(target_y, centers[:, tf.newaxis, :, 0]) +
                tf.math.squared_difference(target_x, centers[:, tf.newaxis, :, 1]))  # [B, P, chunk]
    chunk_min = tf.reduce_min(distance, axis=-1)
    chunk_argmin = tf.argmin(distance, axis=-1, output_type=tf.int32) + i * chunk
    better = chunk_min < best_distance  # strict: earlier chunks win ties
    return [i + 1, tf.where(better, chunk_min, best_distance),
            tf.where(better, chunk_argmin, best_index)]

  _, _, best_index = tf.while_loop(
      lambda i, *_: i < chunks_needed, body,
      [tf.constant(0), tf.fill([batch, num_points], float('inf')), tf.zeros([batch, num_points], tf.int32)],
      maximum_iterations=num_chunks)
  return best_index


def panoptic_postprocess(semantic_logits: tf.Tensor,
                         center_heatmap: tf.Tensor,
                         center_offsets: tf.Tensor,
                         *,
                         thing_class_ids: Sequence[int],
                         label_divisor: int,
                         ignore_label: int,
                         center_threshold: float = 0.1,
                         nms_kernel: int = 13,
                         top_k: int = 200,
                         stuff_area_limit: int = 2048,
                         compute_instance_scores: bool = True,
                         max_distance_elements: int = _MAX_DISTANCE_ELEMENTS) -> Dict[str, tf.Tensor]:
  """Turns Panoptic-DeepLab outputs into semantic, instance and panoptic maps (see the module docstring).

  Args:
    semantic_logits: [B, H, W, C] logits (any float dtype).
    center_heatmap: [B, H, W] (or [B, H, W, 1]) center heatmap, no sigmoid.
    center_offsets: [B, H, W, 2] (dy, dx) from each pixel to its instance center, in pixels.
    thing_class_ids: semantic ids of thing classes.
    label_divisor: panoptic = semantic * label_divisor + instance; must exceed `top_k`.
    ignore_label: semantic id of void.
    center_threshold: centers need a heatmap value strictly above this.
    nms_kernel: max-pool NMS window (13 for Cityscapes, 41 for COCO).
    top_k: center slots per image (200-400).
    stuff_area_limit: stuff classes covering fewer pixels than this in an image become void.
    compute_instance_scores: whether to return `instance_scores` (one more pass over the logits, about
      twice the cost of the argmax); PQ does not need them, instance AP does.
    max_distance_elements: memory budget (elements) of one distance tensor in the nearest-center search.

  Returns:
    A dict of
      semantic: int32 [B, H, W], the class of each pixel after the instance majority vote, ignore_label
        on void (so that panoptic == semantic * label_divisor + instance holds everywhere);
      semantic_argmax: int32 [B, H, W], the plain argmax (what semantic mIoU is computed on);
      instance: int32 [B, H, W], 1..top_k on thing instances, 0 on stuff and void;
      panoptic: int32 [B, H, W];
      instance_scores (if compute_instance_scores): float32 [B, top_k], score of instance id k + 1 =
        center score x mean probability of the instance's class over its pixels; 0 for empty slots and
        instances without pixels;
      instance_classes: int32 [B, top_k], class of instance id k + 1, ignore_label if it has no pixels;
      center_yx: int32 [B, top_k, 2] and center_scores: float32 [B, top_k] (-1 and 0 in invalid slots).

  Raises:
    ValueError: on inconsistent shapes or options.
  """
  if top_k < 1:
    raise ValueError(f'panoptic_postprocess: top_k must be >= 1, got {top_k}.')
  if label_divisor <= top_k:
    raise ValueError(f'panoptic_postprocess: label_divisor ({label_divisor}) must be larger than top_k '
                     f'({top_k}), or instance ids would spill into the class part of panoptic ids.')
  if nms_kernel < 1 or nms_kernel % 2 == 0:
    raise ValueError(f'panoptic_postprocess: nms_kernel must be a positive odd number, got {nms_kernel}.')
  if center_threshold < 0:
    # Suppressed pixels are set to 0, so a negative threshold would turn them all into centers.
    raise ValueError(f'panoptic_postprocess: center_threshold must be >= 0, got {center_threshold}.')
  if center_heatmap.shape.rank == 4:
    center_heatmap = tf.squeeze(center_heatmap, axis=-1)
  if semantic_logits.shape.rank != 4 or center_heatmap.shape.rank != 3 or center_offsets.shape.rank != 4:
    raise ValueError('panoptic_postprocess expects semantic_logits [B,H,W,C], center_heatmap [B,H,W] and '
                     f'center_offsets [B,H,W,2]; got shapes {semantic_logits.shape}, '
                     f'{center_heatmap.shape}, {center_offsets.shape}.')

  batch, height, width, num_classes = _static_or_dynamic_shape(semantic_logits)
  if not isinstance(num_classes, int):
    raise ValueError('panoptic_postprocess needs a static number of classes (last axis of '
                     f'semantic_logits), got shape {semantic_logits.shape}.')
  bad = [i for i in thing_class_ids if not 0 <= i < num_classes]
  if bad:
    raise ValueError(f'panoptic_postprocess: thing_class_ids {bad} outside 0..{num_classes - 1}.')
  num_pixels = height * width
  num_slots = top_k + 1  # instance ids 0 (none) .. top_k

  semantic = tf.argmax(semantic_logits, axis=-1, output_type=tf.int32)
  flat_semantic = tf.reshape(semantic, [batch, -1])
  is_thing_table = tf.constant([c in set(thing_class_ids) for c in range(num_classes)], tf.bool)
  is_thing = tf.gather(is_thing_table, flat_semantic)

  # Centers and nearest-center assignment.
  center_yx, center_scores, center_valid = find_instance_centers(
      center_heatmap, center_threshold=center_threshold, nms_kernel=nms_kernel, top_k=top_k)
  has_center = tf.reduce_any(center_valid, axis=1, keepdims=True)  # [B, 1]
  grid_y, grid_x = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32),
                               indexing='ij')
  target_yx = tf.stack([grid_y, grid_x], axis=-1)[tf.newaxis] + tf.cast(center_offsets, tf.float32)
  target_yx = tf.reshape(target_yx, [batch, -1, 2])
  if all(isinstance(d, int) for d in (batch, height, width)):
    chunk = max(1, min(top_k, max_distance_elements // max(1, batch * height * width)))
  else:
    chunk = _DEFAULT_CENTER_CHUNK
  nearest = _nearest_center(target_yx, tf.cast(center_yx, tf.float32), center_valid, chunk)
  instance = tf.where(is_thing & has_center, nearest + 1, 0)  # [B, P]

  # Majority vote: votes[b, id, class] counted with one segment sum over (image, instance, class).
  image_index = tf.range(batch)[:, tf.newaxis]
  vote_segment = (image_index * num_slots + instance) * num_classes + flat_semantic
  votes = tf.math.unsorted_segment_sum(tf.cast(instance > 0, tf.int32), vote_segment,
                                       batch * num_slots * num_classes)
  votes = tf.reshape(votes, [batch, num_slots, num_classes])
  instance_class = tf.argmax(votes, axis=-1, output_type=tf.int32)  # first max: lowest class on ties
  instance_area = tf.reduce_sum(votes, axis=-1)  # [B, top_k + 1]
  voted_semantic = tf.where(instance > 0, tf.gather(instance_class, instance, batch_dims=1), flat_semantic)

  # Stuff areas per (image, class); thing pixels are counted too but never looked up.
  area_segment = image_index * num_classes + flat_semantic
  class_area = tf.math.unsorted_segment_sum(tf.ones_like(flat_semantic), area_segment, batch * num_classes)
  class_area = tf.reshape(class_area, [batch, num_classes])
  small_stuff = ~is_thing & (tf.gather(class_area, flat_semantic, batch_dims=1) < stuff_area_limit)
  orphan_thing = is_thing & (instance == 0)
  void = small_stuff | orphan_thing

  panoptic_semantic = tf.where(void, ignore_label, voted_semantic)
  instance = tf.where(void, 0, instance)
  panoptic = tf.where(void, ignore_label * label_divisor, voted_semantic * label_divisor + instance)

  as_map = lambda t: tf.reshape(t, [batch, height, width])  # noqa: E731
  outputs = {
      'semantic': as_map(panoptic_semantic),
      'semantic_argmax': semantic,
      'instance': as_map(instance),
      'panoptic': as_map(panoptic),
      'instance_classes': tf.where(instance_area[:, 1:] > 0, instance_class[:, 1:], ignore_label),
      'center_yx': center_yx,
      'center_scores': center_scores,
  }
  if not compute_instance_scores:
    return outputs

  # Instance score = center score x mean probability of the instance's class over its pixels.
  # p(class) = exp(logit[class] - logsumexp(logits)) avoids materialising a [B, H, W, C] softmax.
  logits = tf.reshape(tf.cast(semantic_logits, tf.float32), [batch, num_pixels, num_classes])
  log_normaliser = tf.reduce_logsumexp(logits, axis=-1)
  class_logit = tf.gather(logits, voted_semantic, batch_dims=2)
  probability = tf.where(instance > 0, tf.exp(class_logit - log_normaliser), 0.0)
  probability_sum = tf.math.unsorted_segment_sum(tf.reshape(probability, [-1]),
                                                 tf.reshape(image_index * num_slots + instance, [-1]),
                                                 batch * num_slots)
  probability_sum = tf.reshape(probability_sum, [batch, num_slots])[:, 1:]
  mean_probability = tf.math.divide_no_nan(probability_sum, tf.cast(instance_area[:, 1:], tf.float32))
  outputs['instance_scores'] = center_scores * mean_probability
  return outputs


class PanopticPostProcessor:
  """Stores post-processing options once; calls `panoptic_postprocess` inside a `tf.function`.

  Usage:
    post = PanopticPostProcessor.from_dataset_info(CITYSCAPES_PANOPTIC, nms_kernel=13, top_k=200)
    maps = post(outputs['semantic_logits'], outputs['center_heatmap'], outputs['center_offsets'])
  """

  def __init__(self, *, thing_class_ids: Sequence[int], label_divisor: int, ignore_label: int,
               center_threshold: float = 0.1, nms_kernel: int = 13, top_k: int = 200,
               stuff_area_limit: int = 2048, compute_instance_scores: bool = True,
               max_distance_elements: int = _MAX_DISTANCE_ELEMENTS, jit_compile: Optional[bool] = None):
    """Args are those of `panoptic_postprocess`; `jit_compile` is passed to `tf.function`."""
    if label_divisor <= top_k:
      raise ValueError(f'PanopticPostProcessor: label_divisor ({label_divisor}) must be larger than top_k '
                       f'({top_k}).')
    if nms_kernel < 1 or nms_kernel % 2 == 0:
      raise ValueError(f'PanopticPostProcessor: nms_kernel must be a positive odd number, got {nms_kernel}.')
    if center_threshold < 0:
      raise ValueError(f'PanopticPostProcessor: center_threshold must be >= 0, got {center_threshold}.')
    self.thing_class_ids = tuple(int(i) for i in thing_class_ids)
    self.label_divisor = label_divisor
    self.ignore_label = ignore_label
    self.center_threshold = center_threshold
    self.nms_kernel = nms_kernel
    self.top_k = top_k
    self.stuff_area_limit = stuff_area_limit
    self.compute_instance_scores = compute_instance_scores
    self.max_distance_elements = max_distance_elements
    self.jit_compile = jit_compile
    self._function = tf.function(self._postprocess, jit_compile=jit_compile, reduce_retracing=True)

  @classmethod
  def from_dataset_info(cls, dataset_info, **kwargs) -> 'PanopticPostProcessor':
    """Takes thing ids, label divisor and ignore label from a `DatasetInfo`; kwargs set the rest."""
    return cls(thing_class_ids=dataset_info.thing_class_ids, label_divisor=dataset_info.label_divisor,
               ignore_label=dataset_info.ignore_label, **kwargs)

  def get_config(self) -> dict:
    return dict(thing_class_ids=self.thing_class_ids, label_divisor=self.label_divisor,
                ignore_label=self.ignore_label, center_threshold=self.center_threshold,
                nms_kernel=self.nms_kernel, top_k=self.top_k, stuff_area_limit=self.stuff_area_limit,
                compute_instance_scores=self.compute_instance_scores,
                max_distance_elements=self.max_distance_elements, jit_compile=self.jit_compile)

  def _postprocess(self, semantic_logits, center_heatmap, center_offsets):
    return panoptic_postprocess(
        semantic_logits, center_heatmap, center_offsets, thing_class_ids=self.thing_class_ids,
        label_divisor=self.label_divisor, ignore_label=self.ignore_label,
        center_threshold=self.center_threshold, nms_kernel=self.nms_kernel, top_k=self.top_k,
        stuff_area_limit=self.stuff_area_limit, compute_instance_scores=self.compute_instance_scores,
        max_distance_elements=self.max_distance_elements)

  def __call__(self, semantic_logits, center_heatmap, center_offsets) -> Dict[str, tf.Tensor]:
    """Returns the dict of `panoptic_postprocess` for one batch of model outputs."""
    return self._function(semantic_logits, center_heatmap, center_offsets)
