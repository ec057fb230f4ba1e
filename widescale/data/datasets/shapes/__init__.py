"""The embedded synthetic datasets `shapes` (panoptic) and `shapes_classification`; importing this package
registers both with TFDS."""

from widescale.data.datasets.shapes.generator import decode_panoptic_rgb
from widescale.data.datasets.shapes.generator import encode_panoptic_rgb
from widescale.data.datasets.shapes.generator import generate_classification_example
from widescale.data.datasets.shapes.generator import generate_example
from widescale.data.datasets.shapes.shapes import Shapes
from widescale.data.datasets.shapes.shapes import ShapesConfig
from widescale.data.datasets.shapes.shapes_classification import ShapesClassification
from widescale.data.datasets.shapes.shapes_classification import ShapesClassificationConfig

__all__ = ['Shapes', 'ShapesConfig', 'ShapesClassification', 'ShapesClassificationConfig',
           'generate_example', 'generate_classification_example', 'encode_panoptic_rgb', 'decode_panoptic_rgb']
