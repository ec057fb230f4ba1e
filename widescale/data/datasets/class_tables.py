"""Class tables of every dataset widescale reads, in one place.

Data pipelines, metrics and visualisation all read their class names, thing ids, ignore label, label
divisor and colours from here, so the three can never disagree.
"""

import dataclasses
from typing import Tuple


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a panoptic/semantic dataset's labels mean.

  Attributes:
    name: registry name of the dataset (e.g. 'shapes').
    class_names: one name per semantic class id 0..num_classes-1.
    thing_class_ids: semantic ids that are countable things (have instances).
    ignore_label: semantic id of void pixels.
    label_divisor: panoptic id = semantic * label_divisor + instance.
    colors: one RGB triple per class, for pictures.
  """
  name: str
  class_names: Tuple[str, ...]
  thing_class_ids: Tuple[int, ...]
  ignore_label: int
  label_divisor: int
  colors: Tuple[Tuple[int, int, int], ...]

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def stuff_class_ids(self) -> Tuple[int, ...]:
    return tuple(i for i in range(self.num_classes) if i not in self.thing_class_ids)

  def __post_init__(self):
    if len(self.colors) != len(self.class_names):
      raise ValueError(f'DatasetInfo {self.name!r}: {len(self.colors)} colours for '
                       f'{len(self.class_names)} classes.')
    bad = [i for i in self.thing_class_ids if not 0 <= i < len(self.class_names)]
    if bad:
      raise ValueError(f'DatasetInfo {self.name!r}: thing ids {bad} outside 0..{len(self.class_names) - 1}.')


# The embedded synthetic dataset (widescale/data/datasets/shapes): 3 stuff classes split by wavy
# boundaries, 3 thing classes drawn on top. Stuff colours are the colours the generator paints with.
SHAPES = DatasetInfo(
    name='shapes',
    class_names=('sky', 'ground', 'water', 'circle', 'square', 'triangle'),
    thing_class_ids=(3, 4, 5),
    ignore_label=255,
    label_divisor=1000,
    colors=((70, 130, 180), (152, 251, 152), (0, 60, 100), (220, 20, 60), (255, 160, 0), (119, 11, 32)),
)

# Cityscapes with its 19 train ids (Cordts et al. 2016); things are train ids 11-18.
CITYSCAPES_PANOPTIC = DatasetInfo(
    name='cityscapes_panoptic',
    class_names=('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
                 'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck',
                 'bus', 'train', 'motorcycle', 'bicycle'),
    thing_class_ids=(11, 12, 13, 14, 15, 16, 17, 18),
    ignore_label=255,
    label_divisor=1000,
    colors=((128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
            (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
            (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
            (0, 80, 100), (0, 0, 230), (119, 11, 32)),
)

_DATASETS = {info.name: info for info in (SHAPES, CITYSCAPES_PANOPTIC)}


def get_dataset_info(name: str) -> DatasetInfo:
  """Returns the DatasetInfo registered under `name`; raises ValueError naming the known ones."""
  try:
    return _DATASETS[name]
  except KeyError:
    raise ValueError(f'Unknown dataset {name!r}; known datasets: {sorted(_DATASETS)}.') from None
