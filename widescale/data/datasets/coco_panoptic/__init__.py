"""COCO panoptic 2017 from the official release (`coco_panoptic`); importing this package registers the
builder with TFDS."""

from widescale.data.datasets.coco_panoptic.coco_panoptic import COCO_CATEGORY_IDS
from widescale.data.datasets.coco_panoptic.coco_panoptic import CocoPanoptic
from widescale.data.datasets.coco_panoptic.coco_panoptic import CocoPanopticFormatError

__all__ = ['COCO_CATEGORY_IDS', 'CocoPanoptic', 'CocoPanopticFormatError']
