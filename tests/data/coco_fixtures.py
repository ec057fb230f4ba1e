"""A tiny fake COCO panoptic 2017 release laid out exactly like the official one (FORMATS.md section 2).

    root/train2017/000000000009.jpg ...               JPEGs (one grayscale), at most 64x64
    root/val2017/000000000139.jpg ...
    root/annotations/panoptic_{train,val}2017.json    info, licenses, images, annotations, categories
    root/annotations/panoptic_{train,val}2017/*.png   RGB PNGs, id = R + 256 G + 256^2 B
    (or root/panoptic_{train,val}2017/*.png with png_location='sibling', detectron2's layout)

Every image has the same layout of rectangles (scaled to its size), painted in this order:
  top half            sky-other-merged (official 187, our class 119)
  bottom-left         person (official 1), first instance  -> our 0 * 1000 + 1
  bottom-middle       person, second instance              -> our 0 * 1000 + 2
  bottom-right        car (official 3), iscrowd=1          -> our 2 * 1000 + 0
  left 4 columns of the bottom half: void (official id 0)  -> our 255 * 1000
The image is painted with one flat colour per segment (`SEGMENT_COLORS`), black on void, so pixels of
image and label can be matched after a build.
"""

import json
import os
from typing import Dict, List

import numpy as np
from PIL import Image

# (official category id, iscrowd, contiguous class, expected instance)
SKY, PERSON_1, PERSON_2, CROWD_CAR = ((187, 0, 119, 0), (1, 0, 0, 1), (1, 0, 0, 2), (3, 1, 2, 0))
SEGMENTS = (SKY, PERSON_1, PERSON_2, CROWD_CAR)
# Image colours of the segments above and of void; far apart so JPEG noise cannot confuse them.
SEGMENT_COLORS = ((70, 130, 230), (230, 30, 30), (30, 200, 30), (240, 240, 40))
VOID_COLOR = (0, 0, 0)
GRAY_LEVELS = (200, 60, 130, 255)  # the grayscale image's levels, per segment
SPLIT_IMAGES = {  # folder -> [(image id, height, width, grayscale)]
    'train2017': [(9, 48, 64, False), (25, 32, 40, False)],
    'val2017': [(139, 48, 64, False), (285, 40, 56, True)],
}


def segment_boxes(height: int, width: int):
  """(y0, y1, x0, x1) of SEGMENTS in paint order, then of the void strip."""
  half, third = height // 2, width // 3
  return [(0, half, 0, width), (half, height, 0, third), (half, height, third, 2 * third),
          (half, height, 2 * third, width)], (half, height, 0, 4)


def official_segment_id(index: int) -> int:
  """A large, distinct official segment id, as panopticapi's IdGenerator makes (from a colour)."""
  return 7039076 + 1000 * index + 7


def expected_panoptic(height: int, width: int) -> np.ndarray:
  """int32 [H, W]: our panoptic ids of every fake image (contiguous class * 1000 + instance)."""
  ours = np.zeros((height, width), np.int32)
  boxes, (vy0, vy1, vx0, vx1) = segment_boxes(height, width)
  for (_, _, label, instance), (y0, y1, x0, x1) in zip(SEGMENTS, boxes):
    ours[y0:y1, x0:x1] = label * 1000 + instance
  ours[vy0:vy1, vx0:vx1] = 255 * 1000
  return ours


def _categories() -> List[dict]:
  from widescale.data.datasets import class_tables
  from widescale.data.datasets.coco_panoptic import COCO_CATEGORY_IDS
  return [{'supercategory': 'fake', 'isthing': int(index < 80), 'id': official, 'name': name}
          for index, (official, name) in enumerate(zip(COCO_CATEGORY_IDS,
                                                       class_tables.COCO_PANOPTIC.class_names))]


def write_coco_panoptic_release(root: str, png_location: str = 'annotations') -> Dict[str, str]:
  """Writes the fake release under root; returns {split folder: JSON path}.

  Args:
    root: the future manual_dir.
    png_location: 'annotations' (root/annotations/panoptic_val2017/, deeplab2) or 'sibling'
      (root/panoptic_val2017/, detectron2).
  """
  json_paths = {}
  os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
  for folder, images in SPLIT_IMAGES.items():
    image_dir = os.path.join(root, folder)
    png_dir = os.path.join(root, 'annotations' if png_location == 'annotations' else '', f'panoptic_{folder}')
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(png_dir, exist_ok=True)
    release = {
        'info': {'description': 'fake COCO panoptic 2017', 'version': '1.0', 'year': 2017},
        'licenses': [{'url': 'http://creativecommons.org/licenses/by/2.0/', 'id': 4, 'name': 'Attribution'}],
        'images': [], 'annotations': [], 'categories': _categories(),
    }
    for image_id, height, width, grayscale in images:
      official = np.zeros((height, width), np.int64)
      pixels = np.zeros((height, width, 3), np.uint8)
      gray = np.zeros((height, width), np.uint8)
      boxes, (vy0, vy1, vx0, vx1) = segment_boxes(height, width)
      for index, (y0, y1, x0, x1) in enumerate(boxes):
        official[y0:y1, x0:x1] = official_segment_id(index)
        pixels[y0:y1, x0:x1] = SEGMENT_COLORS[index]
        gray[y0:y1, x0:x1] = GRAY_LEVELS[index]
      official[vy0:vy1, vx0:vx1] = 0
      pixels[vy0:vy1, vx0:vx1] = VOID_COLOR
      gray[vy0:vy1, vx0:vx1] = 0
      stem = f'{image_id:012d}'
      Image.fromarray(gray if grayscale else pixels).save(os.path.join(image_dir, stem + '.jpg'), quality=95)
      rgb = np.stack([official % 256, official // 256 % 256, official // 65536], -1).astype(np.uint8)
      Image.fromarray(rgb, 'RGB').save(os.path.join(png_dir, stem + '.png'))
      segments_info = []
      for index, ((category_id, iscrowd, _, _), (y0, y1, x0, x1)) in enumerate(zip(SEGMENTS, boxes)):
        mask = official == official_segment_id(index)
        ys, xs = np.nonzero(mask)
        segments_info.append({
            'id': official_segment_id(index), 'category_id': category_id, 'iscrowd': iscrowd,
            'bbox': [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                     int(ys.max() - ys.min() + 1)],
            'area': int(mask.sum())})
      release['images'].append({
          'license': 4, 'file_name': stem + '.jpg',
          'coco_url': f'http://images.cocodataset.org/{folder}/{stem}.jpg',
          'height': height, 'width': width, 'date_captured': '2013-11-14 11:18:45',
          'flickr_url': 'http://farm1.staticflickr.com/fake.jpg', 'id': image_id})
      release['annotations'].append({'segments_info': segments_info, 'file_name': stem + '.png',
                                     'image_id': image_id})
    json_paths[folder] = os.path.join(root, 'annotations', f'panoptic_{folder}.json')
    with open(json_paths[folder], 'w') as f:
      json.dump(release, f)
  return json_paths
