"""Cityscapes fine panoptic from the official release (`cityscapes_panoptic`); importing this package
registers the builder with TFDS."""

from widescale.data.datasets.cityscapes_panoptic.cityscapes_panoptic import CityscapesPanoptic
from widescale.data.datasets.cityscapes_panoptic.cityscapes_panoptic import CityscapesPanopticFormatError

__all__ = ['CityscapesPanoptic', 'CityscapesPanopticFormatError']
