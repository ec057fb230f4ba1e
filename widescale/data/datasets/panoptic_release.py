"""What the builders of official panoptic releases (Cityscapes, COCO, ...) share.

Those releases store a COCO-style panoptic PNG per image (id = R + 256 G + 256^2 B, 0 = void) and a JSON
`segments_info` per image ({id, category_id, iscrowd, area, bbox}). `convert_panoptic` turns both into
widescale's label convention (docs/architecture.md): `class * label_divisor + instance`, stuff and crowd
with instance 0, void `ignore_label * label_divisor`, while checking the release against itself.
"""

import collections
import io
from typing import Callable, Dict, Optional, Sequence, Tuple, Type

import numpy as np
from PIL import Image

from widescale.data.datasets.class_tables import DatasetInfo


class PanopticFormatError(ValueError):
  """A file of an official release is missing, corrupt or disagrees with the rest of the release."""


def open_image(data: bytes, path, error_class: Type[PanopticFormatError] = PanopticFormatError) -> Image.Image:
  """Decodes an image file completely (a truncated file fails here, naming `path`, not in training)."""
  try:
    image = Image.open(io.BytesIO(data))
    image.load()
  except (OSError, SyntaxError, ValueError) as error:
    raise error_class(f'{path}: cannot decode image ({error}).') from error
  return image


def convert_panoptic(official: np.ndarray, segments_info: Sequence[dict], file_name: str,
                     dataset_info: DatasetInfo, label_of: Callable[[object], Optional[int]],
                     unknown_category: str,
                     error_class: Type[PanopticFormatError] = PanopticFormatError
                     ) -> Tuple[np.ndarray, Dict[str, list]]:
  """Official panoptic ids [H, W] + segments_info -> (our ids, the builders' `segments` feature).

  Args:
    official: int [H, W] ids decoded from the release PNG (0 = void).
    segments_info: the image's segments_info list.
    file_name: the PNG, for error messages.
    dataset_info: the class table (thing ids, ignore label, label divisor).
    label_of: category_id -> contiguous class of `dataset_info`, or None for an unknown category.
    unknown_category: how an unknown category_id is explained, e.g. 'is not one of the 133 COCO
      panoptic categories'.
    error_class: the builder's PanopticFormatError subclass.

  Returns:
    int32 [H, W] ids, thing instances numbered 1..n per class in segments_info order, and
    {'id', 'label', 'is_crowd', 'area'} lists, one entry per segment.

  Raises:
    error_class naming the file and segment: unknown category, stuff marked crowd, an area that differs
    from the pixel count, a PNG id with no segment, a duplicate segment id, more instances of a class than
    the label divisor holds.
  """
  divisor = dataset_info.label_divisor
  png_ids, inverse, counts = np.unique(official, return_inverse=True, return_counts=True)
  pixel_count = dict(zip(png_ids.tolist(), counts.tolist()))
  ours = {0: dataset_info.ignore_label * divisor}
  next_instance = collections.Counter()
  segments = {'id': [], 'label': [], 'is_crowd': [], 'area': []}
  for segment in segments_info:
    segment_id, category_id = segment['id'], segment['category_id']
    where = f'{file_name}, segment id {segment_id}'
    label = label_of(category_id)
    if label is None:
      raise error_class(f'{where}: category_id {category_id!r} {unknown_category}.')
    if segment_id in ours:
      raise error_class(f'{where}: segment id used twice (or 0, which means void).')
    is_thing, is_crowd = label in dataset_info.thing_class_ids, bool(segment.get('iscrowd', 0))
    if is_crowd and not is_thing:
      raise error_class(f'{where}: stuff category {category_id} ({dataset_info.class_names[label]}) is '
                        f'marked iscrowd=1; only thing segments can be crowd.')
    area = pixel_count.get(segment_id, 0)
    if area != segment['area']:
      raise error_class(f'{where}: JSON area {segment["area"]} but the PNG has {area} pixels of this id.')
    instance = 0
    if is_thing and not is_crowd:
      next_instance[label] += 1
      instance = next_instance[label]
      if instance >= divisor:
        raise error_class(f'{where}: more than {divisor - 1} instances of category {category_id}; they do '
                          f'not fit label_divisor {divisor}.')
    ours[segment_id] = label * divisor + instance
    segments['id'].append(ours[segment_id])
    segments['label'].append(label)
    segments['is_crowd'].append(is_crowd)
    segments['area'].append(area)
  unlisted = [i for i in png_ids.tolist() if i not in ours]
  if unlisted:
    raise error_class(f'{file_name}: PNG ids {unlisted[:10]} are neither 0 (void) nor in segments_info.')
  lookup = np.array([ours[i] for i in png_ids.tolist()], np.int32)
  return lookup[inverse.reshape(official.shape)], segments
