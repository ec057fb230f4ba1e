"""TFDS builder of `cityscapes_panoptic`: Cityscapes fine panoptic read from the official release.

    import widescale.data.datasets.cityscapes_panoptic  # registers the builder with TFDS
    widescale.data.pipeline.prepare_builder('cityscapes_panoptic', manual_dir='/data/cityscapes')

`manual_dir` holds the two release zips extracted plus the output of the official
`csCreatePanopticImgs --use-train-id` (see MANUAL_DOWNLOAD_INSTRUCTIONS):
  leftImg8bit/{train,val}/{city}/{city}_{seq:06d}_{frame:06d}_leftImg8bit.png
  gtFine/cityscapes_panoptic_{train,val}_trainId.json
  gtFine/cityscapes_panoptic_{train,val}_trainId/{city}_{seq}_{frame}_gtFine_panoptic.png  (flat folder)
The official PNGs hold labelId-based segment ids (e.g. 26001 for a car, 7 for road, 26 for a crowd of
cars; 0 for everything ignored in evaluation); the `_trainId` JSON gives each segment its trainId as
`category_id`. Splits: train (official 'train', 2,975 images) and validation (official 'val', 500).
The test split is not built: its public labels are empty.

Features of one example:
  image:    uint8 [H, W, 3] (1024 x 2048 in the release), the original leftImg8bit PNG bytes.
  panoptic: uint8 [H, W, 3], PNG holding `train_id * 1000 + instance` in the COCO RGB encoding
            id = R + 256 G + 256^2 B (`class_tables.CITYSCAPES_PANOPTIC`). Stuff and crowd segments have
            instance 0; the non-crowd segments of each thing class are numbered 1..n in segments_info
            order; void (official id 0) is 255 * 1000.
  segments: one entry per official segment: `id` (our panoptic id above), `label` (trainId 0..18),
            `is_crowd`, `area` (pixels).
  image_id: the official string id, e.g. 'frankfurt_000000_000294'.

Every PNG segment is checked against its JSON entry (category, crowd flag, pixel count) while building;
bad input stops the build with an error naming the file.
"""

import json
import re
from typing import Dict, List, Sequence, Tuple

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from widescale.data.datasets import class_tables
from widescale.data.datasets import panoptic_release

TABLE = class_tables.CITYSCAPES_PANOPTIC
SPLITS = {'train': 'train', 'validation': 'val'}  # TFDS split -> official split folder name
# Official image ids: `{city}_{seq:06d}_{frame:06d}`; TFDS's `cityscapes` also allows '-' in city names.
_IMAGE_ID = re.compile(r'([a-z\-]+)_(\d{6})_(\d{6})')

_DESCRIPTION = """\
Cityscapes panoptic segmentation (Cordts et al. 2016, fine annotations): 2,975 train and 500 validation
street scenes of 1024x2048 with 11 stuff and 8 thing classes (the 19 evaluated trainIds), label divisor
1000 and void 255.
"""

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Log in at https://www.cityscapes-dataset.com/downloads/ and download into one directory, `manual_dir`:
  leftImg8bit_trainvaltest.zip   (11 GB; holds the top folder leftImg8bit/)
  gtFine_trainvaltest.zip        (241 MB; holds the top folder gtFine/)
Extract both there, then make the panoptic labels with the official cityscapesScripts
(pip install cityscapesscripts):
  cd manual_dir
  unzip -q leftImg8bit_trainvaltest.zip && unzip -q gtFine_trainvaltest.zip
  CITYSCAPES_DATASET=$PWD csCreatePanopticImgs --use-train-id --set-names train val
This gives leftImg8bit/{train,val}/{city}/*_leftImg8bit.png,
gtFine/cityscapes_panoptic_{train,val}_trainId.json and
gtFine/cityscapes_panoptic_{train,val}_trainId/*_gtFine_panoptic.png. (Without --use-train-id the files
lack the `_trainId` suffix and carry labelIds; this builder needs the trainId version.)
"""


class CityscapesPanopticFormatError(panoptic_release.PanopticFormatError):
  """The manual_dir does not hold a valid Cityscapes panoptic release; the message names the file."""


class CityscapesPanoptic(tfds.core.GeneratorBasedBuilder):
  """Cityscapes fine panoptic from the official release; see the module docstring."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  # See shapes.py: naming the source file avoids TFDS's lazy `importlib_resources` look-up.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(None, None, 3), encoding_format='png'),
            'panoptic': tfds.features.Image(shape=(None, None, 3), encoding_format='png'),
            'segments': tfds.features.Sequence({
                'id': np.int32,
                'label': tfds.features.ClassLabel(names=TABLE.class_names),
                'is_crowd': np.bool_,
                'area': np.int64,
            }),
            'image_id': tfds.features.Text(),
        }),
        homepage='https://www.cityscapes-dataset.com/',
    )

  def _split_generators(self, dl_manager):
    paths = find_release_files(epath.Path(dl_manager.manual_dir))
    return {split: self._generate_examples(*paths[split]) for split in SPLITS}

  def _generate_examples(self, image_dir: epath.Path, json_path: epath.Path, png_dir: epath.Path):
    for image_path, png_path, annotation in read_annotations(json_path, image_dir, png_dir):
      yield annotation['image_id'], convert_example(image_path, png_path, annotation)


def find_release_files(manual_dir: epath.Path) -> Dict[str, Tuple[epath.Path, epath.Path, epath.Path]]:
  """{TFDS split: (leftImg8bit split dir, trainId JSON, panoptic PNG dir)} of the release in manual_dir.

  Raises:
    CityscapesPanopticFormatError listing every missing file or folder and where it was looked for.
  """
  found, missing = {}, []
  for split, official in SPLITS.items():
    image_dir = manual_dir / 'leftImg8bit' / official
    json_path = manual_dir / 'gtFine' / f'cityscapes_panoptic_{official}_trainId.json'
    png_dir = manual_dir / 'gtFine' / f'cityscapes_panoptic_{official}_trainId'
    if not image_dir.is_dir():
      missing.append(f'{image_dir}/ (the images, from leftImg8bit_trainvaltest.zip)')
    for path, suffix in ((json_path, ''), (png_dir, '/')):
      if path.exists():
        continue
      label_id_version = path.parent / path.name.replace('_trainId', '')
      hint = (f'; {label_id_version}{suffix} exists, but it has labelIds: rerun csCreatePanopticImgs '
              f'with --use-train-id' if label_id_version.exists()
              else ' (made by csCreatePanopticImgs --use-train-id)')
      missing.append(f'{path}{suffix}{hint}')
    found[split] = (image_dir, json_path, png_dir)
  if missing:
    raise CityscapesPanopticFormatError(
        f'manual_dir {manual_dir} is not a complete Cityscapes panoptic release; missing:\n  ' +
        '\n  '.join(missing) + '\n\n' + MANUAL_DOWNLOAD_INSTRUCTIONS)
  return found


def read_annotations(json_path: epath.Path, image_dir: epath.Path,
                     png_dir: epath.Path) -> List[Tuple[epath.Path, epath.Path, dict]]:
  """Reads a `cityscapes_panoptic_{split}_trainId.json`: [(image path, panoptic PNG path, annotation)].

  Checks the categories against class_tables.CITYSCAPES_PANOPTIC, that every image has exactly one
  annotation, and that every image and PNG named exists.

  Raises:
    CityscapesPanopticFormatError naming the JSON file and what is wrong.
  """
  try:
    release = json.loads(json_path.read_text())
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise CityscapesPanopticFormatError(f'{json_path} is not valid JSON: {error}') from error
  if not isinstance(release, dict):
    raise CityscapesPanopticFormatError(f'{json_path}: expected a JSON object with images, annotations, '
                                        f'categories; got a {type(release).__name__}.')
  missing_keys = [key for key in ('images', 'annotations', 'categories') if key not in release]
  if missing_keys:
    raise CityscapesPanopticFormatError(f'{json_path} lacks the top-level keys {missing_keys}; '
                                        f'csCreatePanopticImgs writes images, annotations, categories.')
  _check_categories(release['categories'], json_path)

  annotations = {}
  for annotation in release['annotations']:
    if annotation['image_id'] in annotations:
      raise CityscapesPanopticFormatError(f'{json_path}: two annotations for image_id '
                                          f'{annotation["image_id"]!r}.')
    annotations[annotation['image_id']] = annotation
  image_ids = {image['id'] for image in release['images']}
  unannotated = [image['id'] for image in release['images'] if image['id'] not in annotations]
  orphans = [image_id for image_id in annotations if image_id not in image_ids]
  if unannotated or orphans:
    raise CityscapesPanopticFormatError(
        f'{json_path}: images and annotations do not match one to one: {len(unannotated)} images without '
        f'annotation (e.g. {unannotated[:5]}), {len(orphans)} annotations of unknown image_id '
        f'(e.g. {orphans[:5]}).')

  examples, missing = [], []
  pngs = {path.name for path in png_dir.iterdir()}  # one listing instead of thousands of stat calls
  for image in release['images']:
    match = _IMAGE_ID.fullmatch(str(image['id']))
    if match is None:
      raise CityscapesPanopticFormatError(f'{json_path}: image id {image["id"]!r} is not of the form '
                                          f'city_000000_000000.')
    # Not images[].file_name: createPanopticImgs.py writes '<id>_gtFine_leftImg8bit.png' there, a file
    # that does not exist (it derives the name from the *_gtFine_instanceIds.png it read).
    image_path = image_dir / match.group(1) / f'{image["id"]}_leftImg8bit.png'
    annotation = annotations[image['id']]
    png_path = png_dir / annotation['file_name']
    if not image_path.is_file():
      missing.append(str(image_path))
    if annotation['file_name'] not in pngs:
      missing.append(str(png_path))
    annotation = dict(annotation, width=image.get('width'), height=image.get('height'))
    examples.append((image_path, png_path, annotation))
  if missing:
    raise CityscapesPanopticFormatError(f'{json_path} names {len(missing)} files that do not exist: '
                                        f'{missing[:10]}{" ..." if len(missing) > 10 else ""}')
  return examples


def _check_categories(categories: Sequence[dict], json_path: epath.Path) -> None:
  """The JSON's categories must be trainIds 0..18 with our names and thing flags."""
  ids = sorted(category['id'] for category in categories)
  if ids != list(range(TABLE.num_classes)):
    raise CityscapesPanopticFormatError(
        f'{json_path}: category ids {ids} are not the trainIds 0..{TABLE.num_classes - 1}; was the JSON made '
        f'without --use-train-id (labelIds 7..33)?')
  for category in categories:
    train_id = category['id']
    expected = (TABLE.class_names[train_id], train_id in TABLE.thing_class_ids)
    if (category['name'], bool(category['isthing'])) != expected:
      raise CityscapesPanopticFormatError(
          f'{json_path}: category id {train_id} is {category["name"]!r} with isthing={category["isthing"]}; '
          f'Cityscapes trainId {train_id} is {expected[0]!r} with isthing={int(expected[1])}.')


def convert_example(image_path: epath.Path, png_path: epath.Path, annotation: dict) -> dict:
  """One release image + annotation -> the features of one example (see the module docstring)."""
  image_bytes = image_path.read_bytes()
  image = panoptic_release.open_image(image_bytes, image_path, CityscapesPanopticFormatError)
  encoded_image = image_bytes if image.mode == 'RGB' else np.asarray(image.convert('RGB'))
  label_image = panoptic_release.open_image(png_path.read_bytes(), png_path, CityscapesPanopticFormatError)
  if label_image.mode != 'RGB':
    raise CityscapesPanopticFormatError(f'{png_path}: panoptic PNG has mode {label_image.mode}; '
                                        f'csCreatePanopticImgs writes 8-bit RGB PNGs.')
  if label_image.size != image.size:
    raise CityscapesPanopticFormatError(
        f'{png_path} is {label_image.size[0]}x{label_image.size[1]} (WxH) but its image {image_path} is '
        f'{image.size[0]}x{image.size[1]}.')
  json_size = (annotation.get('width'), annotation.get('height'))
  if None not in json_size and json_size != image.size:
    raise CityscapesPanopticFormatError(f'{image_path} is {image.size[0]}x{image.size[1]} (WxH) but the '
                                        f'JSON says {json_size[0]}x{json_size[1]}.')
  rgb = np.asarray(label_image, np.int32)
  panoptic, segments = convert_panoptic(rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2],
                                        annotation['segments_info'], str(png_path))
  return {
      'image': encoded_image,
      'panoptic': np.stack([panoptic % 256, panoptic // 256 % 256, panoptic // 65536], -1).astype(np.uint8),
      'segments': segments,
      'image_id': str(annotation['image_id']),
  }


def convert_panoptic(official: np.ndarray, segments_info: Sequence[dict],
                     file_name: str) -> Tuple[np.ndarray, Dict[str, list]]:
  """Official panoptic ids [H, W] + segments_info (trainId categories) -> (our ids, `segments` feature).

  See `panoptic_release.convert_panoptic`; category_id must be a trainId of the class table.
  """
  def label_of(category_id):
    valid = isinstance(category_id, int) and 0 <= category_id < TABLE.num_classes
    return category_id if valid else None

  return panoptic_release.convert_panoptic(
      official, segments_info, file_name, TABLE, label_of,
      f'is not a trainId of class_tables.CITYSCAPES_PANOPTIC (0..{TABLE.num_classes - 1})',
      CityscapesPanopticFormatError)
