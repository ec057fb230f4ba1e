"""Class tables of every dataset widescale reads, in one place.

Data pipelines, metrics and visualisation all read their class names, thing ids, ignore label, label
divisor and colours from here, so the three can never disagree.
"""

import dataclasses
from typing import Optional, Tuple, Union


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



@dataclasses.dataclass(frozen=True)
class ClassificationInfo:
  """What an image classification dataset's labels mean.

  Attributes:
    name: registry name of the dataset (e.g. 'imagenet2012').
    tfds_name: TFDS builder name; its examples hold 'image' (uint8 [H, W, 3]) and 'label' (int).
    num_classes: number of labels 0..num_classes-1.
    class_names: one name per label, or None when the names come from the TFDS ClassLabel feature
      (ImageNet's 1000 synset names ship with tensorflow-datasets).
    train_split, eval_split: TFDS splits used for training and evaluation.
  """
  name: str
  tfds_name: str
  num_classes: int
  class_names: Optional[Tuple[str, ...]] = None
  train_split: str = 'train'
  eval_split: str = 'validation'

  def __post_init__(self):
    if self.class_names is not None and len(self.class_names) != self.num_classes:
      raise ValueError(f'ClassificationInfo {self.name!r}: {len(self.class_names)} names for '
                       f'{self.num_classes} classes.')


# The embedded classification split of `shapes` (widescale/data/datasets/shapes): one thing per image
# on the stuff bands; the label is its shape. Labels index SHAPES.thing_class_ids in order.
SHAPES_CLASSIFICATION = ClassificationInfo(
    name='shapes_classification',
    tfds_name='shapes_classification',
    num_classes=3,
    class_names=('circle', 'square', 'triangle'),
)

# ImageNet ILSVRC 2012 through TFDS's `imagenet2012` builder (manual download; 1.28M / 50k images).
IMAGENET2012 = ClassificationInfo(name='imagenet2012', tfds_name='imagenet2012', num_classes=1000)

AnyDatasetInfo = Union[DatasetInfo, ClassificationInfo]
_DATASETS = {info.name: info for info in (SHAPES, CITYSCAPES_PANOPTIC, SHAPES_CLASSIFICATION, IMAGENET2012)}


def get_dataset_info(name: str, expected_type=DatasetInfo) -> AnyDatasetInfo:
  """Returns the class table registered under `name`.

  Args:
    name: dataset name, e.g. 'shapes', 'cityscapes_panoptic', 'imagenet2012'.
    expected_type: DatasetInfo (panoptic/semantic labels) or ClassificationInfo (image labels); a
      dataset of the other kind is an error, e.g. a classification task given 'cityscapes_panoptic'.

  Raises:
    ValueError naming the known datasets of the expected kind.
  """
  known = sorted(key for key, info in _DATASETS.items() if isinstance(info, expected_type))
  info = _DATASETS.get(name)
  if not isinstance(info, expected_type):
    kind = 'classification' if expected_type is ClassificationInfo else 'segmentation'
    raise ValueError(f'Unknown {kind} dataset {name!r}; known {kind} datasets: {known}.')
  return info
