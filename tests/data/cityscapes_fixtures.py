"""A tiny fake Cityscapes release laid out exactly like the official one (FORMATS.md section 1).

    root/leftImg8bit/{train,val}/{city}/{city}_{seq:06d}_{frame:06d}_leftImg8bit.png   RGB, 64x128
    root/gtFine/{train,val}/{city}/*_gtFine_labelIds.png (8-bit) and *_gtFine_instanceIds.png (16-bit)
    root/gtFine/cityscapes_panoptic_{train,val}_trainId.json
    root/gtFine/cityscapes_panoptic_{train,val}_trainId/*_gtFine_panoptic.png    (flat folder)

The panoptic files are derived from the instanceIds maps by the rules of the official
createPanopticImgs.py --use-train-id: segment ids are the instanceIds values (labelId-based: 7 road,
26000 the first car, 26 a crowd of cars), colour [id % 256, id // 256, id // 65536], category_id the
trainId, iscrowd = (id < 1000 and the class has instances), area = pixel count, bbox [x, y, w, h],
segments in ascending id order, classes ignored in evaluation left [0, 0, 0] and out of segments_info,
string image ids, images[].file_name '<id>_gtFine_leftImg8bit.png' (the official script's quirk: that
file does not exist; the image is leftImg8bit/{split}/{city}/<id>_leftImg8bit.png),
json.dump(sort_keys=True, indent=4).

Every image has the layout below (rows, columns of a 64x128 image), painted in this order; image k of
a split moves the person k * 4 columns to the right:
  rows 0-31 sky (23 -> trainId 10), rows 32-63 road (7 -> 0)
  building (11 -> 2)               rows 4-19,  cols 0-29
  person 24000 (-> 11, inst. 1)    rows 20-43, cols 64-71 (+4k)
  car 26000 (-> 13, instance 1)    rows 36-47, cols 8-27
  car 26001 (-> 13, instance 2)    rows 36-47, cols 36-55
  caravan 29000 (ignored -> void)  rows 36-43, cols 80-89
  crowd of cars 26 (-> 13, crowd)  rows 50-57, cols 90-119
  ego vehicle 1 (ignored -> void)  rows 60-63, all columns
The image is painted with one flat colour per instanceIds value (`REGION_COLORS`), so image and label
pixels can be matched after a build.
"""

import json
import os
from typing import Dict, Tuple

import numpy as np
from PIL import Image

HEIGHT, WIDTH = 64, 128
# The 19 evaluated classes in labels.py order: (labelId, trainId, name, category, hasInstances, colour).
EVALUATED_LABELS = (
    (7, 0, 'road', 'flat', False, (128, 64, 128)), (8, 1, 'sidewalk', 'flat', False, (244, 35, 232)),
    (11, 2, 'building', 'construction', False, (70, 70, 70)),
    (12, 3, 'wall', 'construction', False, (102, 102, 156)),
    (13, 4, 'fence', 'construction', False, (190, 153, 153)),
    (17, 5, 'pole', 'object', False, (153, 153, 153)),
    (19, 6, 'traffic light', 'object', False, (250, 170, 30)),
    (20, 7, 'traffic sign', 'object', False, (220, 220, 0)),
    (21, 8, 'vegetation', 'nature', False, (107, 142, 35)),
    (22, 9, 'terrain', 'nature', False, (152, 251, 152)), (23, 10, 'sky', 'sky', False, (70, 130, 180)),
    (24, 11, 'person', 'human', True, (220, 20, 60)), (25, 12, 'rider', 'human', True, (255, 0, 0)),
    (26, 13, 'car', 'vehicle', True, (0, 0, 142)), (27, 14, 'truck', 'vehicle', True, (0, 0, 70)),
    (28, 15, 'bus', 'vehicle', True, (0, 60, 100)), (31, 16, 'train', 'vehicle', True, (0, 80, 100)),
    (32, 17, 'motorcycle', 'vehicle', True, (0, 0, 230)),
    (33, 18, 'bicycle', 'vehicle', True, (119, 11, 32)),
)
# Classes of the fake that labels.py ignores in evaluation: labelId -> hasInstances.
IGNORED_LABELS = {1: False, 29: True}  # ego vehicle, caravan

SPLIT_IMAGES = {  # official split -> image ids
    'train': ('aachen_000000_000019', 'aachen_000001_000019', 'bochum_000000_000313'),
    'val': ('frankfurt_000000_000294', 'munster_000000_000019'),
}
VOID = 255 * 1000
# instanceIds value -> our panoptic id (train_id * 1000 + instance; void 255 * 1000).
EXPECTED_IDS = {23: 10000, 7: 0, 11: 2000, 24000: 11001, 26000: 13001, 26001: 13002, 29000: VOID,
                26: 13000, 1: VOID}
REGION_COLORS = {23: (70, 130, 180), 7: (128, 64, 128), 11: (70, 70, 70), 24000: (220, 20, 60),
                 26000: (0, 0, 142), 26001: (0, 200, 200), 29000: (90, 0, 90), 26: (250, 250, 0),
                 1: (10, 10, 10)}


def instance_ids(index: int) -> np.ndarray:
  """int32 [64, 128]: the gtFine instanceIds map of image `index` of a split (layout in the docstring)."""
  ids = np.full((HEIGHT, WIDTH), 7, np.int32)
  ids[:32] = 23
  ids[4:20, 0:30] = 11
  ids[20:44, 64 + 4 * index:72 + 4 * index] = 24000
  ids[36:48, 8:28] = 26000
  ids[36:48, 36:56] = 26001
  ids[36:44, 80:90] = 29000
  ids[50:58, 90:120] = 26
  ids[60:64] = 1
  return ids


def expected_image(index: int) -> np.ndarray:
  """uint8 [64, 128, 3]: the leftImg8bit image of image `index`."""
  ids = instance_ids(index)
  image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
  for value, color in REGION_COLORS.items():
    image[ids == value] = color
  return image


def expected_panoptic(index: int) -> np.ndarray:
  """int32 [64, 128]: our panoptic ids of image `index` (train_id * 1000 + instance)."""
  ids = instance_ids(index)
  ours = np.zeros(ids.shape, np.int32)
  for value, our_id in EXPECTED_IDS.items():
    ours[ids == value] = our_id
  return ours


def _panoptic_from_instance_ids(ids: np.ndarray, image_id: str):
  """What createPanopticImgs.py --use-train-id makes of one instanceIds map: (RGB [H, W, 3], annotation)."""
  by_label_id = {label_id: (train_id, has_instances) for label_id, train_id, _, _, has_instances, _ in
                 EVALUATED_LABELS}
  rgb = np.zeros(ids.shape + (3,), np.uint8)
  segments = []
  for segment_id in np.unique(ids).tolist():
    label_id = segment_id if segment_id < 1000 else segment_id // 1000
    if label_id in IGNORED_LABELS:
      continue
    train_id, has_instances = by_label_id[label_id]
    mask = ids == segment_id
    rgb[mask] = (segment_id % 256, segment_id // 256, segment_id // 256 // 256)
    columns, rows = np.nonzero(mask.any(axis=0))[0], np.nonzero(mask.any(axis=1))[0]
    segments.append({
        'id': segment_id, 'category_id': train_id, 'area': int(mask.sum()),
        'bbox': [int(columns[0]), int(rows[0]), int(columns[-1] - columns[0] + 1),
                 int(rows[-1] - rows[0] + 1)],
        'iscrowd': int(segment_id < 1000 and has_instances)})
  annotation = {'image_id': image_id, 'file_name': f'{image_id}_gtFine_panoptic.png',
                'segments_info': segments}
  return rgb, annotation


def write_fake_cityscapes(root: str) -> Dict[str, Tuple[str, ...]]:
  """Writes the fake release under `root` (see the module docstring); returns SPLIT_IMAGES."""
  categories = [{'id': train_id, 'name': name, 'color': list(color), 'supercategory': category,
                 'isthing': int(has_instances)}
                for _, train_id, name, category, has_instances, color in EVALUATED_LABELS]
  for split, image_ids in SPLIT_IMAGES.items():
    png_dir = os.path.join(root, 'gtFine', f'cityscapes_panoptic_{split}_trainId')
    os.makedirs(png_dir, exist_ok=True)
    images, annotations = [], []
    for index, image_id in enumerate(image_ids):
      city = image_id.rsplit('_', 2)[0]
      image_dir = os.path.join(root, 'leftImg8bit', split, city)
      gt_dir = os.path.join(root, 'gtFine', split, city)
      os.makedirs(image_dir, exist_ok=True)
      os.makedirs(gt_dir, exist_ok=True)
      Image.fromarray(expected_image(index)).save(os.path.join(image_dir, f'{image_id}_leftImg8bit.png'))
      ids = instance_ids(index)
      label_ids = np.where(ids < 1000, ids, ids // 1000).astype(np.uint8)
      Image.fromarray(label_ids).save(os.path.join(gt_dir, f'{image_id}_gtFine_labelIds.png'))
      Image.fromarray(ids.astype(np.uint16)).save(os.path.join(gt_dir, f'{image_id}_gtFine_instanceIds.png'))
      rgb, annotation = _panoptic_from_instance_ids(ids, image_id)
      Image.fromarray(rgb).save(os.path.join(png_dir, annotation['file_name']))
      # The official script derives file_name from the instanceIds file name, hence '_gtFine_'.
      images.append({'id': image_id, 'width': WIDTH, 'height': HEIGHT,
                     'file_name': f'{image_id}_gtFine_leftImg8bit.png'})
      annotations.append(annotation)
    with open(os.path.join(root, 'gtFine', f'cityscapes_panoptic_{split}_trainId.json'), 'w') as f:
      json.dump({'images': images, 'annotations': annotations, 'categories': categories}, f,
                sort_keys=True, indent=4)
  return dict(SPLIT_IMAGES)


def edit_json(root: str, split: str, edit) -> None:
  """Loads gtFine/cityscapes_panoptic_{split}_trainId.json, calls edit(release) and writes it back."""
  path = os.path.join(root, 'gtFine', f'cityscapes_panoptic_{split}_trainId.json')
  with open(path) as f:
    release = json.load(f)
  edit(release)
  with open(path, 'w') as f:
    json.dump(release, f, sort_keys=True, indent=4)
