"""TFDS builder of `coco_panoptic`: COCO panoptic 2017 read from the official release (manual download).

    import widescale.data.datasets.coco_panoptic  # registers the builder with TFDS
    widescale.data.pipeline.prepare_builder('coco_panoptic', manual_dir='/data/coco')

`manual_dir` holds the release as unzipped (see MANUAL_DOWNLOAD_INSTRUCTIONS): train2017/*.jpg,
val2017/*.jpg, annotations/panoptic_{train,val}2017.json and the PNG folders panoptic_{train,val}2017/,
either inside annotations/ (deeplab2's layout) or beside it (detectron2's and Mask2Former's).

Features of one example:
  image:    uint8 [H, W, 3], the original JPEG bytes (grayscale and CMYK JPEGs, which COCO has, are
            converted to RGB and re-encoded).
  panoptic: uint8 [H, W, 3], PNG holding `contiguous_class * 1000 + instance` in the COCO RGB encoding
            id = R + 256 G + 256^2 B. Classes are 0..132 in the official category order
            (`class_tables.COCO_PANOPTIC`); stuff and crowd segments have instance 0; the non-crowd
            segments of each thing class are numbered 1..n in segments_info order; void (official id 0)
            is 255 * 1000.
  segments: one entry per official segment: `id` (our panoptic id above), `label` (0..132),
            `is_crowd`, `area` (pixels).
  image_id: the official integer image id as text, e.g. '174482'.
  file_name: the JPEG's name, e.g. '000000174482.jpg'.

Every PNG segment is checked against its JSON entry (category, crowd flag, pixel count) while building;
bad input stops the build with an error naming the file. The build runs in one process and decodes every
JPEG and PNG once (to check them); its time on the full release has not been measured yet. On disk it
takes about the size of the release (~19 GB of JPEGs plus the re-encoded PNGs).
"""

import json
from typing import Dict, List, Sequence, Tuple

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from widescale.data.datasets import class_tables
from widescale.data.datasets import panoptic_release

# Official COCO panoptic category ids, in the order of the release's `categories` list; the contiguous
# class of a category is its position here (names and colours: class_tables.COCO_PANOPTIC). The first 80
# are the things (the COCO detection ids 1..90 without 12, 26, 29, 30, 45, 66, 68, 69, 71, 83), the
# other 53 the stuff (92..200; 184..200 are the '-merged' classes).
COCO_CATEGORY_IDS: Tuple[int, ...] = (
    tuple(i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)) +
    (92, 93, 95, 100, 107, 109, 112, 118, 119, 122, 125, 128, 130, 133, 138, 141, 144, 145, 147, 148,
     149, 151, 154, 155, 156, 159, 161, 166, 168, 171, 175, 176, 177, 178, 180, 181) +
    tuple(range(184, 201)))
NUM_THINGS = 80
# Official category id -> contiguous class (its position in COCO_CATEGORY_IDS).
_CONTIGUOUS = {official_id: index for index, official_id in enumerate(COCO_CATEGORY_IDS)}

SPLITS = {'train': 'train2017', 'validation': 'val2017'}

_DESCRIPTION = """\
COCO panoptic segmentation 2017 (Kirillov et al. 2019): 118,287 train and 5,000 validation images with
80 thing and 53 stuff classes, relabelled to contiguous classes 0..132 with label divisor 1000 and void
255.
"""

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Download from https://cocodataset.org/#download (no login needed) into one directory, `manual_dir`:
  http://images.cocodataset.org/zips/train2017.zip
  http://images.cocodataset.org/zips/val2017.zip
  http://images.cocodataset.org/annotations/panoptic_annotations_trainval2017.zip
and unzip them there, then unzip the two PNG archives that the annotation zip contains:
  cd manual_dir
  unzip -q train2017.zip && unzip -q val2017.zip && unzip -q panoptic_annotations_trainval2017.zip
  cd annotations && unzip -q panoptic_train2017.zip && unzip -q panoptic_val2017.zip
giving train2017/*.jpg, val2017/*.jpg, annotations/panoptic_{train,val}2017.json and
annotations/panoptic_{train,val}2017/*.png. PNG folders beside annotations/ (manual_dir/panoptic_val2017/,
detectron2's layout) work too.
"""


class CocoPanopticFormatError(panoptic_release.PanopticFormatError):
  """The manual_dir does not hold a valid COCO panoptic release; the message names the file."""


class CocoPanoptic(tfds.core.GeneratorBasedBuilder):
  """COCO panoptic 2017 from the official release; see the module docstring."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  # See shapes.py: naming the source file avoids TFDS's lazy `importlib_resources` look-up.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(None, None, 3), encoding_format='jpeg'),
            'panoptic': tfds.features.Image(shape=(None, None, 3), encoding_format='png'),
            'segments': tfds.features.Sequence({
                'id': np.int32,
                'label': tfds.features.ClassLabel(names=class_tables.COCO_PANOPTIC.class_names),
                'is_crowd': np.bool_,
                'area': np.int64,
            }),
            'image_id': tfds.features.Text(),
            'file_name': tfds.features.Text(),
        }),
        homepage='https://cocodataset.org/#panoptic-2017',
    )

  def _split_generators(self, dl_manager):
    paths = find_release_files(epath.Path(dl_manager.manual_dir))
    return {split: self._generate_examples(*paths[split]) for split in SPLITS}

  def _generate_examples(self, image_dir: epath.Path, json_path: epath.Path, png_dir: epath.Path):
    examples = read_annotations(json_path, image_dir, png_dir)
    for image_entry, annotation in examples:
      yield image_entry['file_name'], convert_example(image_entry, annotation, image_dir, png_dir)


def find_release_files(manual_dir: epath.Path) -> Dict[str, Tuple[epath.Path, epath.Path, epath.Path]]:
  """{split: (image dir, JSON file, PNG dir)} of the release under manual_dir.

  Raises:
    CocoPanopticFormatError listing every missing file or folder and the places searched.
  """
  found, missing = {}, []
  for split, stem in SPLITS.items():
    image_dir = manual_dir / stem
    json_path = manual_dir / 'annotations' / f'panoptic_{stem}.json'
    png_dirs = [manual_dir / 'annotations' / f'panoptic_{stem}', manual_dir / f'panoptic_{stem}']
    if not image_dir.is_dir():
      missing.append(f'{image_dir}/ (the images, from {stem}.zip)')
    if not json_path.is_file():
      missing.append(f'{json_path} (from panoptic_annotations_trainval2017.zip)')
    png_dir = next((d for d in png_dirs if d.is_dir()), None)
    if png_dir is None:
      inner_zip = manual_dir / 'annotations' / f'panoptic_{stem}.zip'
      hint = (f'; {inner_zip} exists: unzip it inside annotations/' if inner_zip.exists()
              else f' (unzip annotations/panoptic_{stem}.zip)')
      missing.append(f'the PNG folder panoptic_{stem}/, looked for {png_dirs[0]}/ and {png_dirs[1]}/{hint}')
    found[split] = (image_dir, json_path, png_dir)
  if missing:
    raise CocoPanopticFormatError(
        f'manual_dir {manual_dir} is not a complete COCO panoptic 2017 release; missing:\n  ' +
        '\n  '.join(missing) + '\n\n' + MANUAL_DOWNLOAD_INSTRUCTIONS)
  return found


def read_annotations(json_path: epath.Path, image_dir: epath.Path,
                     png_dir: epath.Path) -> List[Tuple[dict, dict]]:
  """Reads a panoptic JSON and pairs each `images` entry with its `annotations` entry.

  Checks the categories against COCO_CATEGORY_IDS / class_tables.COCO_PANOPTIC, that every image has
  exactly one annotation, and that every JPEG and PNG named exists.

  Raises:
    CocoPanopticFormatError naming the JSON file and what is wrong.
  """
  try:
    release = json.loads(json_path.read_text())
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise CocoPanopticFormatError(f'{json_path} is not valid JSON: {error}') from error
  missing_keys = [key for key in ('images', 'annotations', 'categories') if key not in release]
  if missing_keys:
    raise CocoPanopticFormatError(f'{json_path} lacks the top-level keys {missing_keys}; a COCO panoptic '
                                  f'JSON has info, licenses, images, annotations, categories.')
  _check_categories(release['categories'], json_path)

  annotations = {}
  for annotation in release['annotations']:
    if annotation['image_id'] in annotations:
      raise CocoPanopticFormatError(f'{json_path}: two annotations for image_id {annotation["image_id"]}.')
    annotations[annotation['image_id']] = annotation
  image_ids = {image['id'] for image in release['images']}
  unannotated = [image['file_name'] for image in release['images'] if image['id'] not in annotations]
  orphans = [a['file_name'] for a in annotations.values() if a['image_id'] not in image_ids]
  if unannotated or orphans:
    raise CocoPanopticFormatError(
        f'{json_path}: images and annotations do not match one to one: {len(unannotated)} images without '
        f'annotation (e.g. {unannotated[:5]}), {len(orphans)} annotations of unknown image_id '
        f'(e.g. {orphans[:5]}).')

  # One directory listing each instead of 2 x 118k existence checks.
  jpegs, pngs = {p.name for p in image_dir.iterdir()}, {p.name for p in png_dir.iterdir()}
  missing = [str(image_dir / image['file_name']) for image in release['images']
             if image['file_name'] not in jpegs]
  missing += [str(png_dir / a['file_name']) for a in annotations.values() if a['file_name'] not in pngs]
  if missing:
    raise CocoPanopticFormatError(f'{json_path} names {len(missing)} files that do not exist: '
                                  f'{missing[:10]}{" ..." if len(missing) > 10 else ""}')
  return [(image, annotations[image['id']]) for image in release['images']]


def _check_categories(categories: Sequence[dict], json_path: epath.Path) -> None:
  ours = {official: (name, index < NUM_THINGS) for index, (official, name) in
          enumerate(zip(COCO_CATEGORY_IDS, class_tables.COCO_PANOPTIC.class_names))}
  for category in categories:
    expected = ours.get(category['id'])
    if expected is None:
      raise CocoPanopticFormatError(f'{json_path}: category id {category["id"]} ({category.get("name")!r}) '
                                    f'is not one of the 133 COCO panoptic categories.')
    if (category['name'], bool(category['isthing'])) != expected:
      raise CocoPanopticFormatError(
          f'{json_path}: category id {category["id"]} is {category["name"]!r} with isthing='
          f'{category["isthing"]}; COCO panoptic 2017 has {expected[0]!r} with isthing={int(expected[1])}.')


def convert_example(image_entry: dict, annotation: dict, image_dir: epath.Path, png_dir: epath.Path) -> dict:
  """One release image + annotation -> the features of one example (see the module docstring)."""
  image_path = image_dir / image_entry['file_name']
  png_path = png_dir / annotation['file_name']
  image_bytes = image_path.read_bytes()
  image = panoptic_release.open_image(image_bytes, image_path, CocoPanopticFormatError)
  if image.mode != 'RGB':  # grayscale ('L') and CMYK JPEGs exist in COCO
    encoded_image = np.asarray(image.convert('RGB'))
  else:
    encoded_image = image_bytes
  label_image = panoptic_release.open_image(png_path.read_bytes(), png_path, CocoPanopticFormatError)
  if label_image.mode != 'RGB':
    raise CocoPanopticFormatError(f'{png_path}: panoptic PNG has mode {label_image.mode}; the COCO '
                                  f'panoptic format is an 8-bit RGB PNG.')
  if label_image.size != image.size:
    raise CocoPanopticFormatError(f'{png_path} is {label_image.size[0]}x{label_image.size[1]} (WxH) but '
                                  f'its image {image_path} is {image.size[0]}x{image.size[1]}.')
  rgb = np.asarray(label_image, np.int32)
  panoptic, segments = convert_panoptic(rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2],
                                        annotation['segments_info'], str(png_path))
  return {
      'image': encoded_image,
      'panoptic': np.stack([panoptic % 256, panoptic // 256 % 256, panoptic // 65536], -1).astype(np.uint8),
      'segments': segments,
      'image_id': str(image_entry['id']),
      'file_name': image_entry['file_name'],
  }


def convert_panoptic(official: np.ndarray, segments_info: Sequence[dict],
                     file_name: str) -> Tuple[np.ndarray, Dict[str, list]]:
  """Official panoptic ids [H, W] + segments_info -> (our ids [H, W] int32, `segments` feature).

  See `panoptic_release.convert_panoptic`; official category ids map to their position in
  COCO_CATEGORY_IDS.
  """
  return panoptic_release.convert_panoptic(
      official, segments_info, file_name, class_tables.COCO_PANOPTIC, _CONTIGUOUS.get,
      'is not one of the 133 COCO panoptic categories', CocoPanopticFormatError)
