"""Pictures of predictions: colourised panoptic maps, overlays on the image, image | gt | prediction grids,
and framed, captioned grids of classified images.

Colours come from `DatasetInfo.colors`. Each thing instance gets its own shade of its class colour
(mixed towards white or black by an amount taken from the instance id), so two cars differ but both
read as cars; crowd regions (thing class, instance 0) keep the plain class colour; void is black;
segment boundaries are drawn in white. Everything is numpy on the host; `save_png` writes through
`tf.io.gfile`, so `gs://` paths work.
"""

import io
import os
from typing import Optional, Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw
import tensorflow as tf

BOUNDARY_COLOR = (255, 255, 255)
VOID_COLOR = (0, 0, 0)
# Instance k is shaded by frac(k * golden ratio) mapped to [-_MAX_SHADE, _MAX_SHADE]: consecutive ids
# land far apart, and a thing never turns black (void) or white (boundary).
_GOLDEN_RATIO = 0.6180339887498949
_MAX_SHADE = 0.45


def _split(panoptic: np.ndarray, dataset_info):
  panoptic = np.asarray(panoptic).astype(np.int64)
  return panoptic // dataset_info.label_divisor, panoptic % dataset_info.label_divisor


def panoptic_boundaries(panoptic: np.ndarray) -> np.ndarray:
  """bool [H, W]: True on pixels whose panoptic id differs from a 4-neighbour's."""
  panoptic = np.asarray(panoptic)
  boundary = np.zeros(panoptic.shape, bool)
  vertical = panoptic[1:, :] != panoptic[:-1, :]
  horizontal = panoptic[:, 1:] != panoptic[:, :-1]
  boundary[1:, :] |= vertical
  boundary[:-1, :] |= vertical
  boundary[:, 1:] |= horizontal
  boundary[:, :-1] |= horizontal
  return boundary


def colorize_panoptic(panoptic: np.ndarray, dataset_info, draw_boundaries: bool = True) -> np.ndarray:
  """Colours a panoptic map.

  Args:
    panoptic: int [H, W], semantic * label_divisor + instance.
    dataset_info: the `DatasetInfo` giving colours, thing ids, ignore label and label divisor.
    draw_boundaries: draw segment boundaries in white (never over void, which stays black).

  Returns:
    uint8 [H, W, 3].
  """
  semantic, instance = _split(panoptic, dataset_info)
  num_classes = dataset_info.num_classes
  void = (semantic < 0) | (semantic >= num_classes) | (semantic == dataset_info.ignore_label)
  palette = np.asarray(dataset_info.colors, np.float64)
  color = palette[np.where(void, 0, semantic)]
  is_thing = np.zeros(num_classes, bool)
  is_thing[list(dataset_info.thing_class_ids)] = True
  shaded = ~void & is_thing[np.where(void, 0, semantic)] & (instance > 0)
  shade = (np.modf(instance * _GOLDEN_RATIO)[0] * 2.0 - 1.0) * _MAX_SHADE  # in [-0.45, 0.45]
  shade = np.where(shaded, shade, 0.0)[..., np.newaxis]
  color = np.where(shade > 0, color + shade * (255.0 - color), color * (1.0 + shade))
  color[void] = VOID_COLOR
  if draw_boundaries:
    color[panoptic_boundaries(panoptic) & ~void] = BOUNDARY_COLOR
  return np.clip(np.round(color), 0, 255).astype(np.uint8)


def _as_uint8_image(image: np.ndarray) -> np.ndarray:
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f'Expected an RGB image [H, W, 3], got shape {image.shape}.')
  return np.clip(np.round(image.astype(np.float64)), 0, 255).astype(np.uint8)


def overlay_panoptic(image: np.ndarray, panoptic: np.ndarray, dataset_info, alpha: float = 0.5) -> np.ndarray:
  """Blends the colourised map over an RGB image and draws boundaries opaque.

  Args:
    image: [H, W, 3], uint8 or float in 0..255.
    panoptic: int [H, W].
    dataset_info: a `DatasetInfo`.
    alpha: weight of the colours (0 = image only, 1 = colours only); void darkens the image.

  Returns:
    uint8 [H, W, 3].
  """
  if not 0.0 <= alpha <= 1.0:
    raise ValueError(f'overlay_panoptic: alpha must be in [0, 1], got {alpha}.')
  image = _as_uint8_image(image)
  if image.shape[:2] != np.shape(panoptic):
    raise ValueError(f'overlay_panoptic: image {image.shape} and panoptic {np.shape(panoptic)} differ.')
  colors = colorize_panoptic(panoptic, dataset_info, draw_boundaries=False).astype(np.float64)
  blended = (1.0 - alpha) * image + alpha * colors
  semantic, _ = _split(panoptic, dataset_info)
  void = (semantic < 0) | (semantic >= dataset_info.num_classes) | (semantic == dataset_info.ignore_label)
  blended[panoptic_boundaries(panoptic) & ~void] = BOUNDARY_COLOR
  return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def prediction_grid(images: np.ndarray, gt_panoptic: np.ndarray, pred_panoptic: np.ndarray, dataset_info,
                    max_rows: int = 4, alpha: float = 0.5) -> np.ndarray:
  """One row per image: image | ground-truth overlay | prediction overlay.

  Args:
    images: [B, H, W, 3], uint8 or float in 0..255.
    gt_panoptic: int [B, H, W].
    pred_panoptic: int [B, H, W].
    dataset_info: a `DatasetInfo`.
    max_rows: at most this many images (the first ones) are drawn.
    alpha: overlay weight of the colours.

  Returns:
    uint8 [rows * H, 3 * W, 3] with rows = min(B, max_rows).
  """
  images, gt_panoptic, pred_panoptic = (np.asarray(a) for a in (images, gt_panoptic, pred_panoptic))
  if images.ndim != 4 or gt_panoptic.shape != images.shape[:3] or pred_panoptic.shape != images.shape[:3]:
    raise ValueError(f'prediction_grid expects images [B, H, W, 3] and panoptic maps [B, H, W]; got '
                     f'{images.shape}, {gt_panoptic.shape}, {pred_panoptic.shape}.')
  if max_rows < 1:
    raise ValueError(f'prediction_grid: max_rows must be >= 1, got {max_rows}.')
  rows = []
  for image, gt, pred in list(zip(images, gt_panoptic, pred_panoptic))[:max_rows]:
    rows.append(np.concatenate([_as_uint8_image(image),
                                overlay_panoptic(image, gt, dataset_info, alpha),
                                overlay_panoptic(image, pred, dataset_info, alpha)], axis=1))
  return np.concatenate(rows, axis=0)


def save_png(array: np.ndarray, path: str, directory_exists: Optional[bool] = None) -> None:
  """Writes a uint8 [H, W], [H, W, 1], [H, W, 3] or [H, W, 4] array as PNG (local or gs:// path).

  Args:
    array: the picture; other dtypes are rejected rather than silently rescaled.
    path: destination; its directory is created unless `directory_exists` is True.
    directory_exists: skip the directory check (saves a round trip on remote file systems).
  """
  array = np.asarray(array)
  if array.dtype != np.uint8:
    raise ValueError(f'save_png({path!r}): expected uint8, got {array.dtype}; convert or clip first.')
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (3, 4))):
    raise ValueError(f'save_png({path!r}): expected [H, W], [H, W, 1|3|4], got shape {array.shape}.')
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format='PNG')
  directory = os.path.dirname(path)
  if directory and not directory_exists and not tf.io.gfile.exists(directory):
    tf.io.gfile.makedirs(directory)
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(buffer.getvalue())


CORRECT_COLOR = (0, 200, 0)
WRONG_COLOR = (230, 0, 0)


def classification_grid(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                        class_names: Optional[Sequence[str]] = None, columns: int = 4,
                        border: int = 3) -> np.ndarray:
  """Images in a grid, each framed green (predicted right) or red (wrong), captioned `predicted/true`.

  Args:
    images: [B, H, W, 3], uint8 or float in 0..255.
    labels: int [B] true labels.
    predictions: int [B] predicted labels.
    class_names: names for the captions (label numbers when None).
    columns: images per row.
    border: frame width in pixels.

  Returns:
    uint8 [rows * (H + 2 border + caption), columns * (W + 2 border), 3].
  """
  images, labels, predictions = np.asarray(images), np.asarray(labels), np.asarray(predictions)
  if images.ndim != 4 or labels.shape != images.shape[:1] or predictions.shape != images.shape[:1]:
    raise ValueError(f'classification_grid expects images [B, H, W, 3], labels [B] and predictions [B]; '
                     f'got {images.shape}, {labels.shape}, {predictions.shape}.')
  if len(images) == 0:
    raise ValueError('classification_grid: no images.')

  def name(label):
    return class_names[label] if class_names is not None and 0 <= label < len(class_names) else str(label)

  caption_height = 12
  height, width = images.shape[1] + 2 * border, images.shape[2] + 2 * border
  tiles = []
  for image, label, prediction in zip(images, labels, predictions):
    tile = Image.new('RGB', (width, height + caption_height), (255, 255, 255))
    frame = CORRECT_COLOR if label == prediction else WRONG_COLOR
    tile.paste(Image.new('RGB', (width, height), frame), (0, 0))
    tile.paste(Image.fromarray(_as_uint8_image(image)), (border, border))
    ImageDraw.Draw(tile).text((2, height), f'{name(prediction)}/{name(label)}'[:width // 6], fill=(0, 0, 0))
    tiles.append(np.asarray(tile))
  columns = min(columns, len(tiles))
  tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % columns)
  rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
  return np.concatenate(rows, axis=0)
