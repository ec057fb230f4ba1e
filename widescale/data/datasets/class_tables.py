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

# COCO panoptic 2017 (Kirillov et al. 2019), classes 0..132 in the official category order: 80 things
# (official ids 1..90 with gaps) then 53 stuff (ids 92..200); the official id of class i is
# `widescale.data.datasets.coco_panoptic.COCO_CATEGORY_IDS[i]`. Names and colours are those of
# panopticapi's panoptic_coco_categories.json. Void (official id 0) is 255.
_COCO_PANOPTIC_CLASSES = (
    ('person', (220, 20, 60)), ('bicycle', (119, 11, 32)), ('car', (0, 0, 142)),
    ('motorcycle', (0, 0, 230)), ('airplane', (106, 0, 228)), ('bus', (0, 60, 100)),
    ('train', (0, 80, 100)), ('truck', (0, 0, 70)), ('boat', (0, 0, 192)),
    ('traffic light', (250, 170, 30)), ('fire hydrant', (100, 170, 30)), ('stop sign', (220, 220, 0)),
    ('parking meter', (175, 116, 175)), ('bench', (250, 0, 30)), ('bird', (165, 42, 42)),
    ('cat', (255, 77, 255)), ('dog', (0, 226, 252)), ('horse', (182, 182, 255)), ('sheep', (0, 82, 0)),
    ('cow', (120, 166, 157)), ('elephant', (110, 76, 0)), ('bear', (174, 57, 255)),
    ('zebra', (199, 100, 0)), ('giraffe', (72, 0, 118)), ('backpack', (255, 179, 240)),
    ('umbrella', (0, 125, 92)), ('handbag', (209, 0, 151)), ('tie', (188, 208, 182)),
    ('suitcase', (0, 220, 176)), ('frisbee', (255, 99, 164)), ('skis', (92, 0, 73)),
    ('snowboard', (133, 129, 255)), ('sports ball', (78, 180, 255)), ('kite', (0, 228, 0)),
    ('baseball bat', (174, 255, 243)), ('baseball glove', (45, 89, 255)), ('skateboard', (134, 134, 103)),
    ('surfboard', (145, 148, 174)), ('tennis racket', (255, 208, 186)), ('bottle', (197, 226, 255)),
    ('wine glass', (171, 134, 1)), ('cup', (109, 63, 54)), ('fork', (207, 138, 255)),
    ('knife', (151, 0, 95)), ('spoon', (9, 80, 61)), ('bowl', (84, 105, 51)), ('banana', (74, 65, 105)),
    ('apple', (166, 196, 102)), ('sandwich', (208, 195, 210)), ('orange', (255, 109, 65)),
    ('broccoli', (0, 143, 149)), ('carrot', (179, 0, 194)), ('hot dog', (209, 99, 106)),
    ('pizza', (5, 121, 0)), ('donut', (227, 255, 205)), ('cake', (147, 186, 208)), ('chair', (153, 69, 1)),
    ('couch', (3, 95, 161)), ('potted plant', (163, 255, 0)), ('bed', (119, 0, 170)),
    ('dining table', (0, 182, 199)), ('toilet', (0, 165, 120)), ('tv', (183, 130, 88)),
    ('laptop', (95, 32, 0)), ('mouse', (130, 114, 135)), ('remote', (110, 129, 133)),
    ('keyboard', (166, 74, 118)), ('cell phone', (219, 142, 185)), ('microwave', (79, 210, 114)),
    ('oven', (178, 90, 62)), ('toaster', (65, 70, 15)), ('sink', (127, 167, 115)),
    ('refrigerator', (59, 105, 106)), ('book', (142, 108, 45)), ('clock', (196, 172, 0)),
    ('vase', (95, 54, 80)), ('scissors', (128, 76, 255)), ('teddy bear', (201, 57, 1)),
    ('hair drier', (246, 0, 122)), ('toothbrush', (191, 162, 208)),
    # stuff
    ('banner', (255, 255, 128)), ('blanket', (147, 211, 203)), ('bridge', (150, 100, 100)),
    ('cardboard', (168, 171, 172)), ('counter', (146, 112, 198)), ('curtain', (210, 170, 100)),
    ('door-stuff', (92, 136, 89)), ('floor-wood', (218, 88, 184)), ('flower', (241, 129, 0)),
    ('fruit', (217, 17, 255)), ('gravel', (124, 74, 181)), ('house', (70, 70, 70)),
    ('light', (255, 228, 255)), ('mirror-stuff', (154, 208, 0)), ('net', (193, 0, 92)),
    ('pillow', (76, 91, 113)), ('platform', (255, 180, 195)), ('playingfield', (106, 154, 176)),
    ('railroad', (230, 150, 140)), ('river', (60, 143, 255)), ('road', (128, 64, 128)),
    ('roof', (92, 82, 55)), ('sand', (254, 212, 124)), ('sea', (73, 77, 174)), ('shelf', (255, 160, 98)),
    ('snow', (255, 255, 255)), ('stairs', (104, 84, 109)), ('tent', (169, 164, 131)),
    ('towel', (225, 199, 255)), ('wall-brick', (137, 54, 74)), ('wall-stone', (135, 158, 223)),
    ('wall-tile', (7, 246, 231)), ('wall-wood', (107, 255, 200)), ('water-other', (58, 41, 149)),
    ('window-blind', (183, 121, 142)), ('window-other', (255, 73, 97)), ('tree-merged', (107, 142, 35)),
    ('fence-merged', (190, 153, 153)), ('ceiling-merged', (146, 139, 141)),
    ('sky-other-merged', (70, 130, 180)), ('cabinet-merged', (134, 199, 156)),
    ('table-merged', (209, 226, 140)), ('floor-other-merged', (96, 36, 108)),
    ('pavement-merged', (96, 96, 96)), ('mountain-merged', (64, 170, 64)),
    ('grass-merged', (152, 251, 152)), ('dirt-merged', (208, 229, 228)), ('paper-merged', (206, 186, 171)),
    ('food-other-merged', (152, 161, 64)), ('building-other-merged', (116, 112, 0)),
    ('rock-merged', (0, 114, 143)), ('wall-other-merged', (102, 102, 156)), ('rug-merged', (250, 141, 255)),
)
COCO_PANOPTIC = DatasetInfo(
    name='coco_panoptic',
    class_names=tuple(name for name, _ in _COCO_PANOPTIC_CLASSES),
    thing_class_ids=tuple(range(80)),
    ignore_label=255,
    label_divisor=1000,
    colors=tuple(color for _, color in _COCO_PANOPTIC_CLASSES),
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
_DATASETS = {info.name: info for info in (SHAPES, CITYSCAPES_PANOPTIC, COCO_PANOPTIC, SHAPES_CLASSIFICATION,
                                                IMAGENET2012)}


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
