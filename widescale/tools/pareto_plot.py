"""The Pareto front of (cost, cost) points and a PNG scatter plot of them, drawn with Pillow alone.

Used by `scaling_grid` to plot FLOPs or latency against parameters. Both coordinates are costs: lower is
better on each axis.
"""

import dataclasses
import math
from typing import List, Optional, Sequence, Tuple

from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

WIDTH, HEIGHT = 1000, 680
BACKGROUND = (255, 255, 255)
FRONT_COLOUR = (214, 39, 40)  # red: the Pareto front, its points and the line through them
POINT_COLOUR = (31, 119, 180)  # blue: every other point
_INK = (30, 30, 30)
_GRID = (225, 225, 225)
_LABEL_INK = (90, 90, 90)
_RADIUS = 5
# Plot area margins in pixels: room for tick labels, axis labels and the title.
_LEFT, _RIGHT, _TOP, _BOTTOM = 90, 30, 56, 70
# An axis whose values span this factor or more is drawn in log scale.
_LOG_SCALE_RATIO = 10.0


def pareto_front(xs: Sequence[float], ys: Sequence[float]) -> List[bool]:
  """Which points are not dominated, when lower is better on both coordinates.

  Point i is dominated if some point j has x_j <= x_i and y_j <= y_i with at least one strictly less.
  Identical points do not dominate each other, so ties are on the front together.

  Args:
    xs: first cost of each point (e.g. parameters).
    ys: second cost of each point (e.g. FLOPs or latency).

  Returns:
    One bool per point: True if it is on the front.
  """
  if len(xs) != len(ys):
    raise ValueError(f'pareto_front: xs and ys differ in length, got {len(xs)} and {len(ys)}.')
  points = list(zip(xs, ys))
  return [not any(xj <= xi and yj <= yi and (xj < xi or yj < yi) for xj, yj in points)
          for xi, yi in points]


@dataclasses.dataclass(frozen=True)
class _Axis:
  """Maps data values in [low, high] (linearly or in log scale) to pixels in [pixel_low, pixel_high]."""
  low: float
  high: float
  log: bool
  pixel_low: float
  pixel_high: float

  def _scale(self, value: float) -> float:
    return math.log10(value) if self.log else value

  def to_pixel(self, value: float) -> float:
    fraction = (self._scale(value) - self._scale(self.low)) / (self._scale(self.high) - self._scale(self.low))
    return self.pixel_low + fraction * (self.pixel_high - self.pixel_low)

  def ticks(self) -> List[float]:
    if self.log:
      candidates = [m * 10.0 ** k for k in range(math.floor(math.log10(self.low)),
                                                 math.ceil(math.log10(self.high)) + 1) for m in (1, 2, 5)]
    else:
      raw_step = (self.high - self.low) / 6
      magnitude = 10.0 ** math.floor(math.log10(raw_step))
      step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
      candidates = [k * step for k in range(math.ceil(self.low / step), math.floor(self.high / step) + 1)]
    return [value for value in candidates if self.low <= value <= self.high]


def _axis(values: Sequence[float], pixel_low: float, pixel_high: float) -> _Axis:
  """An axis covering `values` with a margin, in log scale when they are positive and span a decade."""
  low, high = min(values), max(values)
  log = low > 0 and high / low >= _LOG_SCALE_RATIO
  if log:
    pad = 0.06 * (math.log10(high) - math.log10(low))
    return _Axis(low / 10 ** pad, high * 10 ** pad, True, pixel_low, pixel_high)
  span = high - low if high > low else (abs(high) or 1.0) * 0.2
  return _Axis(low - 0.06 * span, high + 0.06 * span, False, pixel_low, pixel_high)


def _axes(xs: Sequence[float], ys: Sequence[float], size: Tuple[int, int]) -> Tuple[_Axis, _Axis]:
  width, height = size
  # Pixel rows grow downwards, so the y axis maps its low value to the bottom of the plot area.
  return _axis(xs, _LEFT, width - _RIGHT), _axis(ys, height - _BOTTOM, _TOP)


def pixel_positions(xs: Sequence[float], ys: Sequence[float],
                    size: Tuple[int, int] = (WIDTH, HEIGHT)) -> List[Tuple[int, int]]:
  """The pixel (column, row) at the centre of each point's marker in `render`'s image of the same size."""
  x_axis, y_axis = _axes(xs, ys, size)
  return [(round(x_axis.to_pixel(x)), round(y_axis.to_pixel(y))) for x, y in zip(xs, ys)]


def _tick_text(value: float) -> str:
  return f'{value:g}'


def _boxes_overlap(a, b) -> bool:
  return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place_label(draw, font, text, centre, taken, bounds):
  """Top-left corner for `text` near `centre`, avoiding `taken` boxes and staying inside `bounds`."""
  left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
  text_width, text_height = right - left, bottom - top
  x, y = centre
  gap = _RADIUS + 3
  options = [(x + gap, y - text_height / 2), (x - gap - text_width, y - text_height / 2),
             (x - text_width / 2, y - gap - text_height), (x - text_width / 2, y + gap),
             (x + gap, y - gap - text_height), (x + gap, y + gap),
             (x - gap - text_width, y - gap - text_height), (x - gap - text_width, y + gap)]
  for corner_x, corner_y in options:
    box = (corner_x, corner_y, corner_x + text_width, corner_y + text_height)
    inside = bounds[0] <= box[0] and box[2] <= bounds[2] and bounds[1] <= box[1] and box[3] <= bounds[3]
    if inside and not any(_boxes_overlap(box, other) for other in taken):
      return box
  # Crowded: overlap rather than drop a label, since every candidate must stay identifiable.
  corner_x, corner_y = options[0]
  return (corner_x, corner_y, corner_x + text_width, corner_y + text_height)


def render(xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], on_front: Sequence[bool],
           x_label: str, y_label: str, title: str = '',
           size: Tuple[int, int] = (WIDTH, HEIGHT),
           font: Optional[ImageFont.ImageFont] = None) -> Image.Image:
  """Scatter plot of the points with the Pareto front highlighted and joined by a line.

  Args:
    xs, ys: coordinates of the points (plotted in log scale on an axis they span a decade of).
    labels: text written beside each point.
    on_front: whether each point is on the front (see `pareto_front`), drawn in FRONT_COLOUR.
    x_label, y_label: axis titles.
    title: text above the plot.
    size: (width, height) of the image in pixels.
    font: font of all text; Pillow's default font otherwise.

  Returns:
    An RGB image; `pixel_positions(xs, ys, size)` gives the centre of each point's marker.
  """
  if not xs or not len(xs) == len(ys) == len(labels) == len(on_front):
    raise ValueError(f'render: needs one or more points and as many ys, labels and on_front as xs, got '
                     f'{len(xs)}, {len(ys)}, {len(labels)} and {len(on_front)}.')
  font = font or ImageFont.load_default(size=13)
  width, height = size
  image = Image.new('RGB', size, BACKGROUND)
  draw = ImageDraw.Draw(image)
  x_axis, y_axis = _axes(xs, ys, size)
  plot_box = (_LEFT, _TOP, width - _RIGHT, height - _BOTTOM)

  for value in x_axis.ticks():
    column = x_axis.to_pixel(value)
    draw.line([(column, plot_box[1]), (column, plot_box[3])], fill=_GRID)
    draw.text((column, plot_box[3] + 6), _tick_text(value), fill=_INK, font=font, anchor='mt')
  for value in y_axis.ticks():
    row = y_axis.to_pixel(value)
    draw.line([(plot_box[0], row), (plot_box[2], row)], fill=_GRID)
    draw.text((plot_box[0] - 6, row), _tick_text(value), fill=_INK, font=font, anchor='rm')
  draw.rectangle(plot_box, outline=_INK)
  scales = [name for name, axis in (('x', x_axis), ('y', y_axis)) if axis.log]
  log_note = f'  (log scale: {", ".join(scales)})' if scales else ''
  draw.text(((plot_box[0] + plot_box[2]) / 2, height - 12), x_label + log_note, fill=_INK, font=font,
            anchor='md')
  # Pillow draws text horizontally only: draw the y label on its own image and rotate it.
  left, top, right, bottom = draw.textbbox((0, 0), y_label, font=font)
  rotated = Image.new('L', (right - left + 2, bottom - top + 2), 0)
  ImageDraw.Draw(rotated).text((-left + 1, -top + 1), y_label, fill=255, font=font)
  rotated = rotated.rotate(90, expand=True)
  image.paste(Image.new('RGB', rotated.size, _INK),
              (8, round((plot_box[1] + plot_box[3] - rotated.size[1]) / 2)), rotated)
  draw.text((plot_box[0], 14), title, fill=_INK, font=font)
  legend_x = plot_box[2] - 240
  for offset, colour, text in ((0, FRONT_COLOUR, 'Pareto front'), (120, POINT_COLOUR, 'dominated')):
    draw.ellipse((legend_x + offset, 36, legend_x + offset + 2 * _RADIUS, 36 + 2 * _RADIUS), fill=colour)
    draw.text((legend_x + offset + 2 * _RADIUS + 5, 36 + _RADIUS), text, fill=_INK, font=font, anchor='lm')

  centres = pixel_positions(xs, ys, size)
  front = sorted((xs[i], ys[i], centres[i]) for i in range(len(xs)) if on_front[i])
  if len(front) > 1:
    draw.line([centre for _, _, centre in front], fill=FRONT_COLOUR, width=2)
  # Labels before markers, so no label covers a marker; markers of the front last, on top.
  taken = [(cx - _RADIUS, cy - _RADIUS, cx + _RADIUS, cy + _RADIUS) for cx, cy in centres]
  for text, centre in zip(labels, centres):
    box = _place_label(draw, font, text, centre, taken, plot_box)
    taken.append(box)
    draw.text(box[:2], text, fill=_LABEL_INK, font=font, anchor='lt')
  for front_pass in (False, True):
    for (cx, cy), is_front in zip(centres, on_front):
      if bool(is_front) == front_pass:
        colour = FRONT_COLOUR if is_front else POINT_COLOUR
        draw.ellipse((cx - _RADIUS, cy - _RADIUS, cx + _RADIUS, cy + _RADIUS), fill=colour)
  return image
