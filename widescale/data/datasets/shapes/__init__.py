"""The embedded synthetic panoptic dataset `shapes`; importing this package registers it with TFDS."""

from widescale.data.datasets.shapes.generator import decode_panoptic_rgb
from widescale.data.datasets.shapes.generator import encode_panoptic_rgb
from widescale.data.datasets.shapes.generator import generate_example
from widescale.data.datasets.shapes.shapes import Shapes
from widescale.data.datasets.shapes.shapes import ShapesConfig

__all__ = ['Shapes', 'ShapesConfig', 'generate_example', 'encode_panoptic_rgb', 'decode_panoptic_rgb']
