"""Draws one example of the synthetic `shapes` panoptic dataset with vectorised numpy.

Each image is 3 stuff bands (sky, ground, water in a random order) split by wavy boundaries, with 1-6
things (circles, squares, triangles) painted on top; a later shape occludes an earlier one. Stuff classes
are recognisable by colour (the `SHAPES.colors` entry, jittered per image); things only by shape, since
their colour is random. About 30% of the images carry a thin void band (a dark strip along one border,
like the rectification border or ego-vehicle of a street scene) labelled `ignore_label`.

Every example is a pure function of (seed, split, index): its random generator is seeded from those three
numbers, so examples can be generated in any order, in parallel, or one at a time in a test.
"""

import zlib
from typing import Tuple

import numpy as np

from widescale.data.datasets.class_tables import SHAPES

IMAGE_SIZE = 128
MIN_THINGS, MAX_THINGS = 1, 6
MIN_THING_SIZE, MAX_THING_SIZE = 10.0, 40.0
IGNORE_BAND_PROBABILITY = 0.3
MIN_BAND_WIDTH, MAX_BAND_WIDTH = 2, 5

_STUFF_COLOR_JITTER = 12.0   # std of the per-image shift of each stuff colour
_PIXEL_NOISE = 8.0           # std of the per-pixel noise on every channel
_BAND_COLOR = 12.0           # grey level of the void band
_CIRCLE, _SQUARE, _TRIANGLE = SHAPES.thing_class_ids
# The shape drawn for a thing is chosen by its class id; fail at import if the class table changes.
if tuple(SHAPES.class_names[i] for i in (_CIRCLE, _SQUARE, _TRIANGLE)) != ('circle', 'square', 'triangle'):
  raise ImportError(f'shapes generator: thing ids {SHAPES.thing_class_ids} are not circle, square, '
                    f'triangle in class_tables.SHAPES {SHAPES.class_names}.')


def example_rng(seed: int, split: str, index: int) -> np.random.Generator:
  """The random generator of one example; independent of how many examples were drawn before it."""
  split_code = zlib.crc32(split.encode('utf-8'))  # stable across processes, unlike hash()
  return np.random.default_rng([seed, split_code, index])


def _wavy_boundary(rng: np.random.Generator, along: np.ndarray, base: float) -> np.ndarray:
  """A boundary position (in pixels) at each coordinate `along`: base + a sum of 1-3 random sinusoids."""
  num_waves = rng.integers(1, 4)
  amplitude = rng.uniform(1.0, 8.0, num_waves).astype(np.float32)
  cycles = rng.uniform(0.3, 4.0, num_waves).astype(np.float32)   # periods per image side
  phase = rng.uniform(0.0, 2 * np.pi, num_waves).astype(np.float32)
  tilt = np.float32(rng.uniform(-0.25, 0.25))
  # `along` is an [H, 1] or [1, W] grid, so this costs one image side, not one image.
  waves = amplitude[:, None, None] * np.sin(
      2 * np.pi * cycles[:, None, None] * along[None] / IMAGE_SIZE + phase[:, None, None])
  return base + tilt * (along - IMAGE_SIZE / 2) + waves.sum(axis=0)


def _stuff_classes(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
  """[H, W] stuff class ids: three bands in random order, split by two wavy boundaries.

  `yy` is the [H, 1] and `xx` the [1, W] pixel grid; a boundary is a function of one of them only.
  """
  horizontal = rng.random() < 0.5
  along, across = (xx, yy) if horizontal else (yy, xx)
  first = rng.uniform(0.15, 0.55) * IMAGE_SIZE
  second = first + rng.uniform(0.2, 0.55) * IMAGE_SIZE  # may leave the image: then only 2 classes show
  band = ((across >= _wavy_boundary(rng, along, first)).astype(np.int32) +
          (across >= _wavy_boundary(rng, along, second)).astype(np.int32))
  order = rng.permutation(np.asarray(SHAPES.stuff_class_ids, np.int32))
  return order[band]


def _thing_masks(classes: np.ndarray, sizes: np.ndarray, center_y: np.ndarray, center_x: np.ndarray,
                 angles: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
  """[N, H, W] bool masks of N shapes, all shapes tested at once on the pixel grid.

  `sizes` is the diameter of a circle and the side of a square or (equilateral) triangle; `yy` is the
  [H, 1] and `xx` the [1, W] pixel grid.
  """
  def column(values):  # one value per shape -> [N, 1, 1], to broadcast over the grid
    return np.asarray(values, np.float32)[:, None, None]

  dy, dx = yy[None] - column(center_y), xx[None] - column(center_x)  # [N, H, 1], [N, 1, W]
  half = column(sizes) / 2
  circle = dy * dy + dx * dx <= half * half
  cos, sin = column(np.cos(angles)), column(np.sin(angles))
  square = np.maximum(np.abs(cos * dx + sin * dy), np.abs(cos * dy - sin * dx)) <= half
  # An equilateral triangle of side s is the intersection of 3 half-planes at distance s / (2 sqrt 3)
  # (its inradius) from the centroid, with outward normals 120 degrees apart.
  inradius = column(sizes / (2 * np.sqrt(3)))
  triangle = np.ones(circle.shape, bool)
  for turn in (0.0, 2 * np.pi / 3, 4 * np.pi / 3):  # the 3 edges, each for all shapes at once
    normal = angles + np.pi / 2 + turn
    triangle &= column(np.cos(normal)) * dx + column(np.sin(normal)) * dy <= inradius
  shape_class = classes[:, None, None]
  return np.where(shape_class == _CIRCLE, circle, np.where(shape_class == _SQUARE, square, triangle))


def _ignore_band(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
  """[H, W] bool: a strip of 2-5 px along one random border in 30% of the images, else all False."""
  if rng.random() >= IGNORE_BAND_PROBABILITY:
    return np.zeros((IMAGE_SIZE, IMAGE_SIZE), bool)
  side = rng.integers(4)
  width = rng.integers(MIN_BAND_WIDTH, MAX_BAND_WIDTH + 1)
  distance_to_side = (yy, IMAGE_SIZE - 1 - yy, xx, IMAGE_SIZE - 1 - xx)[side]
  return np.broadcast_to(distance_to_side < width, (IMAGE_SIZE, IMAGE_SIZE))


def visible_instance_ids(owner: np.ndarray, void: np.ndarray, num_things: int) -> np.ndarray:
  """Instance id of each drawn shape: 1..n over the shapes that own a non-void pixel, in drawing order.

  Args:
    owner: int [H, W], index of the shape painted last at each pixel, -1 where there is none.
    void: bool [H, W], pixels of the void band (they hide what is under them).
    num_things: number of shapes drawn.

  Returns:
    int [num_things]; a fully hidden shape gets 0 (it never reaches the label map, so ids stay dense).
  """
  visible_area = np.bincount(owner[(owner >= 0) & ~void], minlength=num_things)
  visible = visible_area > 0
  return np.where(visible, np.cumsum(visible), 0)


def generate_example(seed: int, split: str, index: int) -> Tuple[np.ndarray, np.ndarray]:
  """Draws example `index` of `split`.

  Args:
    seed: dataset seed (the builder config's `seed`).
    split: split name, e.g. 'train'; examples of different splits are independent.
    index: example number within the split.

  Returns:
    (image, panoptic): uint8 [128, 128, 3] RGB image and int32 [128, 128] panoptic map
    `semantic * 1000 + instance`, with stuff instance 0, void `255 * 1000`, and the visible things
    numbered 1..n in drawing order (a thing hidden by later shapes or by the void band gets no id).
  """
  rng = example_rng(seed, split, index)
  yy, xx = (grid.astype(np.float32) for grid in np.ogrid[0:IMAGE_SIZE, 0:IMAGE_SIZE])  # [H, 1], [1, W]
  stuff = _stuff_classes(rng, yy, xx)

  num_things = rng.integers(MIN_THINGS, MAX_THINGS + 1)
  classes = rng.choice(np.asarray(SHAPES.thing_class_ids, np.int32), num_things)
  sizes = rng.uniform(MIN_THING_SIZE, MAX_THING_SIZE, num_things)
  center_y = rng.uniform(0, IMAGE_SIZE, num_things)
  center_x = rng.uniform(0, IMAGE_SIZE, num_things)
  angles = rng.uniform(0, 2 * np.pi, num_things)
  thing_colors = rng.integers(0, 256, (num_things, 3)).astype(np.float32)
  masks = _thing_masks(classes, sizes, center_y, center_x, angles, yy, xx)
  # The owner of a pixel is the last shape drawn over it (later shapes occlude earlier ones); -1: none.
  last_from_end = np.argmax(masks[::-1], axis=0)
  owner = np.where(masks.any(axis=0), num_things - 1 - last_from_end, -1)

  void = _ignore_band(rng, yy, xx)
  instance_ids = visible_instance_ids(owner, void, num_things)

  # Every pixel belongs to one region: 0 void, 1 + c stuff class c, 1 + num_classes + k thing k. The
  # label and the colour of a pixel are then one table look-up each.
  num_classes = SHAPES.num_classes
  region = np.where(void, 0, np.where(owner >= 0, 1 + num_classes + owner, 1 + stuff))
  region_label = np.concatenate([
      [SHAPES.ignore_label * SHAPES.label_divisor],
      np.arange(num_classes) * SHAPES.label_divisor,
      classes * SHAPES.label_divisor + instance_ids]).astype(np.int32)
  stuff_palette = np.asarray(SHAPES.colors, np.float32) + rng.normal(
      0.0, _STUFF_COLOR_JITTER, (num_classes, 3)).astype(np.float32)
  region_color = np.concatenate([np.full((1, 3), _BAND_COLOR, np.float32), stuff_palette, thing_colors])
  panoptic = np.take(region_label, region)
  image = np.take(region_color, region, axis=0)
  image += _PIXEL_NOISE * rng.standard_normal(image.shape, dtype=np.float32)
  return np.clip(image + 0.5, 0, 255).astype(np.uint8), panoptic


def encode_panoptic_rgb(panoptic: np.ndarray) -> np.ndarray:
  """int [H, W] panoptic ids -> uint8 [H, W, 3] with the COCO encoding id = R + 256 G + 256^2 B."""
  panoptic = np.asarray(panoptic, np.int64)
  if panoptic.min() < 0 or panoptic.max() >= 256 ** 3:
    raise ValueError(f'Panoptic ids must lie in [0, 2^24) for the RGB encoding; got '
                     f'[{panoptic.min()}, {panoptic.max()}].')
  return np.stack([panoptic % 256, panoptic // 256 % 256, panoptic // 65536], axis=-1).astype(np.uint8)


def decode_panoptic_rgb(rgb: np.ndarray) -> np.ndarray:
  """uint8 [H, W, 3] COCO-encoded panoptic PNG pixels -> int32 [H, W] ids (numpy twin of the TF one)."""
  rgb = np.asarray(rgb, np.int32)
  return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


# The classification split: one larger thing per image, fully inside it, never behind a void band.
MIN_CLASSIFICATION_SIZE, MAX_CLASSIFICATION_SIZE = 48.0, 80.0


def generate_classification_example(seed: int, split: str, index: int) -> Tuple[np.ndarray, int]:
  """Draws example `index` of `split` of the classification split of `shapes`.

  The image is drawn like a panoptic example (stuff bands, pixel noise) with exactly one shape of a
  random colour, so the label is only visible in the outline.

  Returns:
    (image, label): uint8 [128, 128, 3] RGB image and the label 0 circle, 1 square, 2 triangle (the
    position of the shape's class in `SHAPES.thing_class_ids`).
  """
  # A different stream from the panoptic example of the same index ('classification/' prefix).
  rng = example_rng(seed, 'classification/' + split, index)
  yy, xx = (grid.astype(np.float32) for grid in np.ogrid[0:IMAGE_SIZE, 0:IMAGE_SIZE])
  stuff = _stuff_classes(rng, yy, xx)
  label = int(rng.integers(len(SHAPES.thing_class_ids)))
  size = rng.uniform(MIN_CLASSIFICATION_SIZE, MAX_CLASSIFICATION_SIZE)
  # Keep the whole shape inside the image (a square's corner reaches size / sqrt(2) from its center).
  margin = size / np.sqrt(2) + 1
  center_y, center_x = rng.uniform(margin, IMAGE_SIZE - margin, 2)
  angle = rng.uniform(0, 2 * np.pi)
  color = rng.integers(0, 256, 3).astype(np.float32)
  mask = _thing_masks(np.asarray([SHAPES.thing_class_ids[label]]), np.asarray([size]),
                      np.asarray([center_y]), np.asarray([center_x]), np.asarray([angle]), yy, xx)[0]
  stuff_palette = np.asarray(SHAPES.colors, np.float32) + rng.normal(
      0.0, _STUFF_COLOR_JITTER, (SHAPES.num_classes, 3)).astype(np.float32)
  image = np.where(mask[..., None], color, np.take(stuff_palette, stuff, axis=0))
  image += _PIXEL_NOISE * rng.standard_normal(image.shape, dtype=np.float32)
  return np.clip(image + 0.5, 0, 255).astype(np.uint8), label
