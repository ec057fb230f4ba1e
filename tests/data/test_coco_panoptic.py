"""The `coco_panoptic` TFDS builder on a tiny fake release in the official layout (coco_fixtures.py)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from tests.data import coco_fixtures
from widescale.data import pipeline
from widescale.data.datasets import class_tables
from widescale.data.datasets import coco_panoptic  # registers the builder
from widescale.data.datasets.coco_panoptic import CocoPanopticFormatError

VOID = 255 * 1000


@pytest.fixture(scope='module')
def built(tmp_path_factory):
  """(manual_dir, data_dir) of a fake release built once for the module."""
  manual_dir = str(tmp_path_factory.mktemp('coco'))
  coco_fixtures.write_coco_panoptic_release(manual_dir)
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  pipeline.prepare_builder('coco_panoptic', data_dir=data_dir, manual_dir=manual_dir)
  return manual_dir, data_dir


def _examples(data_dir, split):
  builder = tfds.builder('coco_panoptic', data_dir=data_dir)
  return {ex['file_name'].decode(): ex for ex in tfds.as_numpy(builder.as_dataset(split=split))}


def test_category_table_matches_the_official_release():
  ids = coco_panoptic.COCO_CATEGORY_IDS
  assert len(ids) == len(set(ids)) == 133 == class_tables.COCO_PANOPTIC.num_classes
  assert ids[:80] == tuple(i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83))
  assert ids[80] == 92 and ids[-17:] == tuple(range(184, 201))
  names = class_tables.COCO_PANOPTIC.class_names
  assert (names[0], names[79], names[80], names[119], names[132]) == (
      'person', 'toothbrush', 'banner', 'sky-other-merged', 'rug-merged')
  assert class_tables.COCO_PANOPTIC.thing_class_ids == tuple(range(80))
  assert class_tables.get_dataset_info('coco_panoptic') is class_tables.COCO_PANOPTIC


def test_build_reads_ids_classes_and_crowd(built):
  _, data_dir = built
  builder = tfds.builder('coco_panoptic', data_dir=data_dir)
  assert builder.info.splits['train'].num_examples == 2
  assert builder.info.splits['validation'].num_examples == 2
  for split, folder in (('train', 'train2017'), ('validation', 'val2017')):
    examples = _examples(data_dir, split)
    for image_id, height, width, _ in coco_fixtures.SPLIT_IMAGES[folder]:
      example = examples[f'{image_id:012d}.jpg']
      assert example['image_id'].decode() == str(image_id)
      assert example['image'].shape == (height, width, 3)
      panoptic = pipeline.decode_panoptic_rgb(example['panoptic']).numpy()
      np.testing.assert_array_equal(panoptic, coco_fixtures.expected_panoptic(height, width))
      # Known pixels, independent of the fixture's own helper.
      assert panoptic[0, 0] == 119 * 1000  # sky-other-merged, stuff: instance 0
      assert panoptic[height - 1, 5] == 0 * 1000 + 1  # first person
      assert panoptic[height - 1, width // 2] == 0 * 1000 + 2  # second person
      assert panoptic[height - 1, width - 1] == 2 * 1000 + 0  # crowd car: instance 0
      assert panoptic[height - 1, 0] == VOID
      segments = example['segments']
      np.testing.assert_array_equal(segments['id'], [119000, 1, 2, 2000])
      np.testing.assert_array_equal(segments['label'], [119, 0, 0, 2])
      np.testing.assert_array_equal(segments['is_crowd'], [False, False, False, True])
      np.testing.assert_array_equal(segments['area'], [np.sum(panoptic == i) for i in segments['id']])


def test_image_and_label_are_aligned(built):
  _, data_dir = built
  examples = _examples(data_dir, 'validation')
  for image_id, height, width, grayscale in coco_fixtures.SPLIT_IMAGES['val2017']:
    example = examples[f'{image_id:012d}.jpg']
    image, panoptic = example['image'].astype(int), pipeline.decode_panoptic_rgb(example['panoptic']).numpy()
    # Each segment's interior (away from JPEG ringing at edges) has the segment's colour.
    for index, ((y0, y1, x0, x1), our_id) in enumerate(zip(coco_fixtures.segment_boxes(height, width)[0],
                                                         (119000, 1, 2, 2000))):
      y, x = (y0 + y1) // 2, max((x0 + x1) // 2, 8)
      assert panoptic[y, x] == our_id
      expected = ((coco_fixtures.GRAY_LEVELS[index],) * 3 if grayscale
                  else coco_fixtures.SEGMENT_COLORS[index])
      np.testing.assert_allclose(image[y, x], expected, atol=12)
    assert np.all(image[height - 2, 1] < 20)  # void strip is black
    if grayscale:  # decoded to 3 equal channels
      np.testing.assert_array_equal(image[..., 0], image[..., 2])


def test_grayscale_jpeg_is_stored_as_rgb(built):
  _, data_dir = built
  builder = tfds.builder('coco_panoptic', data_dir=data_dir)
  for example in builder.as_dataset(split='validation', decoders={'image': tfds.decode.SkipDecoding()}):
    # channels=0 keeps the file's own channel count, so a passed-through grayscale JPEG would give 1.
    assert tf.io.decode_jpeg(example['image'], channels=0).shape[-1] == 3


def test_detectron2_png_location(tmp_path):
  manual_dir = str(tmp_path / 'coco')
  coco_fixtures.write_coco_panoptic_release(manual_dir, png_location='sibling')
  assert os.path.isdir(os.path.join(manual_dir, 'panoptic_val2017'))
  assert not os.path.isdir(os.path.join(manual_dir, 'annotations', 'panoptic_val2017'))
  builder = pipeline.prepare_builder('coco_panoptic', data_dir=str(tmp_path / 'tfds'), manual_dir=manual_dir)
  assert builder.info.splits['validation'].num_examples == 2


def test_build_panoptic_dataset_yields_batches(built):
  manual_dir, data_dir = built
  dataset = pipeline.build_panoptic_dataset(
      class_tables.COCO_PANOPTIC, 'validation', is_training=False, batch_size=2, crop_size=(64, 64),
      tfds_name='coco_panoptic', data_dir=data_dir, manual_dir=manual_dir)
  batches = list(dataset)
  assert len(batches) == 1
  assert batches[0]['image'].shape == (2, 64, 64, 3)
  panoptic = batches[0]['panoptic'].numpy()
  assert panoptic.shape == (2, 64, 64)
  assert set(np.unique(panoptic)) == {1, 2, 2000, 119000, VOID}


# --- bad input -------------------------------------------------------------------------------------------


def _build(tmp_path, manual_dir):
  return pipeline.prepare_builder('coco_panoptic', data_dir=str(tmp_path / 'tfds'), manual_dir=manual_dir)


def _edit_json(manual_dir, folder, edit):
  path = os.path.join(manual_dir, 'annotations', f'panoptic_{folder}.json')
  with open(path) as f:
    release = json.load(f)
  edit(release)
  with open(path, 'w') as f:
    json.dump(release, f)


@pytest.fixture
def release(tmp_path):
  manual_dir = str(tmp_path / 'coco')
  coco_fixtures.write_coco_panoptic_release(manual_dir)
  return manual_dir


def test_missing_files_are_listed(tmp_path, release):
  os.remove(os.path.join(release, 'annotations', 'panoptic_val2017.json'))
  os.rename(os.path.join(release, 'annotations', 'panoptic_train2017'),
            os.path.join(release, 'annotations', 'panoptic_train2017.zip'))  # "not yet extracted"
  with pytest.raises(CocoPanopticFormatError) as error:
    _build(tmp_path, release)
  message = str(error.value)
  assert 'panoptic_val2017.json' in message
  assert os.path.join(release, 'annotations', 'panoptic_train2017') in message
  assert os.path.join(release, 'panoptic_train2017') in message  # the other place looked at
  assert 'unzip' in message


def test_missing_image_named(tmp_path, release):
  os.remove(os.path.join(release, 'val2017', '000000000285.jpg'))
  with pytest.raises(CocoPanopticFormatError, match='000000000285.jpg'):
    _build(tmp_path, release)


@pytest.mark.parametrize('file_name', ['val2017/000000000139.jpg',
                                       'annotations/panoptic_val2017/000000000139.png'])
def test_corrupt_image_named(tmp_path, release, file_name):
  path = os.path.join(release, file_name)
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[:len(data) // 3])  # truncated
  with pytest.raises(CocoPanopticFormatError, match=os.path.basename(file_name)):
    _build(tmp_path, release)


def test_unknown_category_named(tmp_path, release):
  def edit(data):
    data['annotations'][1]['segments_info'][1]['category_id'] = 12  # a gap in the thing ids
  _edit_json(release, 'val2017', edit)
  with pytest.raises(CocoPanopticFormatError, match=r'000000000285\.png.*category_id 12 '):
    _build(tmp_path, release)


def test_area_mismatch_named(tmp_path, release):
  def edit(data):
    data['annotations'][0]['segments_info'][2]['area'] += 1
  _edit_json(release, 'train2017', edit)
  segment_id = coco_fixtures.official_segment_id(2)
  with pytest.raises(CocoPanopticFormatError,
                     match=rf'000000000009\.png, segment id {segment_id}: JSON area'):
    _build(tmp_path, release)


def test_stuff_crowd_rejected(tmp_path, release):
  def edit(data):
    data['annotations'][0]['segments_info'][0]['iscrowd'] = 1  # sky
  _edit_json(release, 'val2017', edit)
  with pytest.raises(CocoPanopticFormatError,
                     match=r'000000000139\.png.*stuff category 187 \(sky-other-merged\) is marked iscrowd'):
    _build(tmp_path, release)


def test_png_must_be_rgb(tmp_path, release):
  path = os.path.join(release, 'annotations', 'panoptic_val2017', '000000000139.png')
  Image.open(path).convert('RGBA').save(path)
  with pytest.raises(CocoPanopticFormatError, match='000000000139.png: panoptic PNG has mode RGBA'):
    _build(tmp_path, release)


def test_wrong_category_table_rejected(tmp_path, release):
  def edit(data):
    data['categories'][0]['name'] = 'human'
  _edit_json(release, 'val2017', edit)
  with pytest.raises(CocoPanopticFormatError, match="category id 1 is 'human'"):
    _build(tmp_path, release)
