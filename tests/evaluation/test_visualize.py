"""Tests of widescale.evaluation.visualize."""

import numpy as np
from PIL import Image

from widescale.data.datasets.class_tables import SHAPES
from widescale.evaluation import visualize

# SHAPES: 0 sky, 1 ground, 2 water (stuff); 3 circle, 4 square, 5 triangle (things); divisor 1000.
PANOPTIC = np.array([[0, 0, 3001, 3001],
                     [0, 0, 3002, 3002],
                     [255000, 255000, 3000, 3000]])


def test_colorize_void_black_instances_distinct_crowd_plain():
  colors = visualize.colorize_panoptic(PANOPTIC, SHAPES, draw_boundaries=False)
  assert colors.shape == (3, 4, 3) and colors.dtype == np.uint8
  np.testing.assert_array_equal(colors[2, 0], (0, 0, 0))  # void
  np.testing.assert_array_equal(colors[0, 0], SHAPES.colors[0])  # stuff: its class colour
  np.testing.assert_array_equal(colors[2, 2], SHAPES.colors[3])  # crowd: the plain class colour
  assert not np.array_equal(colors[0, 2], colors[1, 2])  # circles 1 and 2 differ
  assert not np.array_equal(colors[0, 2], colors[2, 2])


def test_boundaries_are_drawn_between_segments_but_not_on_void():
  colors = visualize.colorize_panoptic(PANOPTIC, SHAPES)
  # (0, 1) touches circle 1 at (0, 2): boundary; (0, 0) only touches sky: no boundary.
  np.testing.assert_array_equal(colors[0, 1], visualize.BOUNDARY_COLOR)
  np.testing.assert_array_equal(colors[0, 0], SHAPES.colors[0])
  np.testing.assert_array_equal(colors[2, 1], (0, 0, 0))  # void next to crowd stays black


def test_overlay_and_grid_shapes():
  images = np.full([3, 3, 4, 3], 100.0, np.float32)
  gt = np.stack([PANOPTIC] * 3)
  pred = np.full([3, 3, 4], 1000)  # all ground
  grid = visualize.prediction_grid(images, gt, pred, SHAPES, max_rows=2)
  assert grid.shape == (2 * 3, 3 * 4, 3) and grid.dtype == np.uint8
  np.testing.assert_array_equal(grid[:3, :4], 100)  # first column: the image itself
  # Prediction overlay, alpha 0.5: (100 + ground colour) / 2, no boundaries in a one-segment map.
  np.testing.assert_array_equal(grid[0, 8], np.round((100 + np.array(SHAPES.colors[1])) / 2))
  # Void in the gt overlay darkens the image: 0.5 * 100 + 0.5 * 0 = 50.
  np.testing.assert_array_equal(grid[2, 4], (50, 50, 50))


def test_save_png_round_trip(tmp_path):
  picture = visualize.colorize_panoptic(PANOPTIC, SHAPES)
  path = str(tmp_path / 'sub' / 'panoptic.png')
  visualize.save_png(picture, path)
  np.testing.assert_array_equal(np.asarray(Image.open(path)), picture)


def test_classification_grid_frames_right_green_and_wrong_red():
  images = np.full((3, 8, 10, 3), 128, np.uint8)
  grid = visualize.classification_grid(images, np.array([0, 1, 2]), np.array([0, 2, 2]),
                                       class_names=('circle', 'square', 'triangle'), columns=2, border=2)
  tile_height, tile_width = 8 + 4 + 12, 10 + 4
  assert grid.shape == (2 * tile_height, 2 * tile_width, 3) and grid.dtype == np.uint8
  np.testing.assert_array_equal(grid[0, 0], visualize.CORRECT_COLOR)            # right
  np.testing.assert_array_equal(grid[0, tile_width], visualize.WRONG_COLOR)     # wrong: square as triangle
  np.testing.assert_array_equal(grid[tile_height, 0], visualize.CORRECT_COLOR)  # right
  np.testing.assert_array_equal(grid[2, 2], [128, 128, 128])                    # the image inside the frame
  assert (grid[tile_height:, tile_width:] == 255).all()                         # the empty 4th cell
