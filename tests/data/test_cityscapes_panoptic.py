"""Tests of the `cityscapes_panoptic` TFDS builder on a tiny fake official release."""

import os
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests.data import cityscapes_fixtures as fixtures
from widescale.data import pipeline
from widescale.data.datasets import class_tables
# Imported for its side effect: registers the `cityscapes_panoptic` builder with TFDS.
from widescale.data.datasets import cityscapes_panoptic
from widescale.data.datasets.shapes import decode_panoptic_rgb


@pytest.fixture(scope='module')
def release(tmp_path_factory) -> str:
  root = str(tmp_path_factory.mktemp('cityscapes'))
  fixtures.write_fake_cityscapes(root)
  return root


@pytest.fixture(scope='module')
def data_dir(release, tmp_path_factory) -> str:
  data_dir = str(tmp_path_factory.mktemp('tensorflow_datasets'))
  pipeline.prepare_builder('cityscapes_panoptic', data_dir=data_dir, manual_dir=release)
  return data_dir


def _examples(data_dir, split):
  builder = tfds.builder('cityscapes_panoptic', data_dir=data_dir)
  return {example['image_id'].decode(): example for example in tfds.as_numpy(builder.as_dataset(split))}


def test_builder_is_registered_with_manual_instructions():
  builder_cls = tfds.builder_cls('cityscapes_panoptic')
  assert builder_cls is cityscapes_panoptic.CityscapesPanoptic
  assert '--use-train-id' in builder_cls.MANUAL_DOWNLOAD_INSTRUCTIONS


def test_split_counts(data_dir):
  builder = tfds.builder('cityscapes_panoptic', data_dir=data_dir)
  assert {name: split.num_examples for name, split in builder.info.splits.items()} == {
      'train': len(fixtures.SPLIT_IMAGES['train']), 'validation': len(fixtures.SPLIT_IMAGES['val'])}


@pytest.mark.parametrize('split,official', [('train', 'train'), ('validation', 'val')])
def test_images_and_labels_match_the_release(data_dir, split, official):
  examples = _examples(data_dir, split)
  assert sorted(examples) == sorted(fixtures.SPLIT_IMAGES[official])
  for index, image_id in enumerate(fixtures.SPLIT_IMAGES[official]):
    example = examples[image_id]
    np.testing.assert_array_equal(example['image'], fixtures.expected_image(index))
    np.testing.assert_array_equal(decode_panoptic_rgb(example['panoptic']), fixtures.expected_panoptic(index))


def test_known_pixels(data_dir):
  """Spot checks of the conversion rules, independent of the fixture's expected maps."""
  example = _examples(data_dir, 'validation')['munster_000000_000019']  # image 1: person at cols 68-75
  panoptic = decode_panoptic_rgb(example['panoptic'])
  image = example['image']
  car, person, void = 13, 11, 255 * 1000
  assert panoptic[0, 0] == 10 * 1000 and tuple(image[0, 0]) == (70, 130, 180)        # sky (stuff)
  assert panoptic[33, 0] == 0 and tuple(image[33, 0]) == (128, 64, 128)             # road, trainId 0
  assert panoptic[10, 10] == 2 * 1000                                               # building
  assert panoptic[40, 10] == car * 1000 + 1 and tuple(image[40, 10]) == (0, 0, 142)  # first car
  assert panoptic[40, 40] == car * 1000 + 2                                          # second car
  assert panoptic[30, 70] == person * 1000 + 1 and panoptic[30, 66] == 10 * 1000     # person moved
  assert panoptic[55, 100] == car * 1000 and tuple(image[55, 100]) == (250, 250, 0)  # crowd of cars
  assert panoptic[40, 85] == void                                                   # caravan: ignored
  assert (panoptic[60:] == void).all()                                               # ego vehicle


def test_segments_feature(data_dir):
  example = _examples(data_dir, 'train')['aachen_000000_000019']
  segments = example['segments']
  by_id = dict(zip(segments['id'].tolist(), zip(segments['label'].tolist(), segments['is_crowd'].tolist(),
                                                segments['area'].tolist())))
  assert by_id[13000] == (13, True, 8 * 30)
  assert by_id[13001] == (13, False, 12 * 20)
  assert by_id[11001] == (11, False, 24 * 8)
  assert 255000 not in by_id  # void is no segment


def test_build_panoptic_dataset_yields_batches(data_dir):
  dataset = pipeline.build_panoptic_dataset(
      class_tables.CITYSCAPES_PANOPTIC, 'validation', is_training=False, batch_size=2, crop_size=(64, 128),
      tfds_name='cityscapes_panoptic', data_dir=data_dir)
  batches = list(dataset.as_numpy_iterator())
  assert len(batches) == 1
  assert batches[0]['image'].shape == (2, 64, 128, 3)
  panoptic = batches[0]['panoptic']
  assert panoptic.shape == (2, 64, 128)
  assert sorted(np.unique(panoptic).tolist()) == [0, 2000, 10000, 11001, 13000, 13001, 13002, 255000]


def test_convert_panoptic_numbers_things_in_segments_info_order():
  official = np.array([[26001, 26000, 24000, 26, 0, 7]])
  segments_info = [
      {'id': 26001, 'category_id': 13, 'area': 1, 'iscrowd': 0},
      {'id': 26000, 'category_id': 13, 'area': 1, 'iscrowd': 0},
      {'id': 24000, 'category_id': 11, 'area': 1, 'iscrowd': 0},
      {'id': 26, 'category_id': 13, 'area': 1, 'iscrowd': 1},
      {'id': 7, 'category_id': 0, 'area': 1, 'iscrowd': 0},
  ]
  ours, segments = cityscapes_panoptic.cityscapes_panoptic.convert_panoptic(official, segments_info, 'x.png')
  np.testing.assert_array_equal(ours, [[13001, 13002, 11001, 13000, 255000, 0]])
  assert segments['is_crowd'] == [False, False, False, True, False]


# Bad input: every error names the file (and the segment or id) at fault.

def _build(release, tmp_path):
  pipeline.prepare_builder('cityscapes_panoptic', data_dir=str(tmp_path / 'tfds'), manual_dir=release)


def _fresh_release(tmp_path) -> str:
  root = str(tmp_path / 'release')
  fixtures.write_fake_cityscapes(root)
  return root


def test_missing_release_lists_files_and_where_it_looked(tmp_path):
  unrelated = tmp_path / 'unrelated'
  unrelated.mkdir()
  (unrelated / 'README').write_text('not cityscapes')  # TFDS itself rejects an empty manual_dir
  with pytest.raises(cityscapes_panoptic.CityscapesPanopticFormatError) as error:
    _build(str(unrelated), tmp_path)
  message = str(error.value)
  assert f'manual_dir {unrelated} is not a complete Cityscapes panoptic release' in message
  for missing in ('leftImg8bit/train/', 'leftImg8bit/val/', 'gtFine/cityscapes_panoptic_train_trainId.json',
                  'gtFine/cityscapes_panoptic_val_trainId/'):
    assert os.path.join(str(unrelated), missing) in message
  assert 'csCreatePanopticImgs --use-train-id' in message


def test_partial_release_lists_only_what_is_missing(tmp_path):
  root = _fresh_release(tmp_path)
  shutil.rmtree(os.path.join(root, 'gtFine', 'cityscapes_panoptic_val_trainId'))
  with pytest.raises(cityscapes_panoptic.CityscapesPanopticFormatError) as error:
    _build(root, tmp_path)
  listed = str(error.value).split('\n\n')[0]  # the list, without the instructions
  assert os.path.join(root, 'gtFine', 'cityscapes_panoptic_val_trainId/') in listed
  assert 'leftImg8bit' not in listed and '.json' not in listed


def test_label_id_release_hints_at_use_train_id(tmp_path):
  root = _fresh_release(tmp_path)
  gt = os.path.join(root, 'gtFine')
  os.rename(os.path.join(gt, 'cityscapes_panoptic_val_trainId.json'),
            os.path.join(gt, 'cityscapes_panoptic_val.json'))
  with pytest.raises(cityscapes_panoptic.CityscapesPanopticFormatError,
                     match=r'cityscapes_panoptic_val\.json exists, but it has labelIds'):
    _build(root, tmp_path)


def test_corrupt_png_names_the_file(tmp_path):
  root = _fresh_release(tmp_path)
  bad = os.path.join(root, 'gtFine', 'cityscapes_panoptic_val_trainId',
                     'frankfurt_000000_000294_gtFine_panoptic.png')
  with open(bad, 'r+b') as f:
    f.truncate(60)  # a PNG header without its image data
  with pytest.raises(cityscapes_panoptic.CityscapesPanopticFormatError,
                     match='frankfurt_000000_000294_gtFine_panoptic.png: cannot decode image'):
    _build(root, tmp_path)


def test_corrupt_image_names_the_file(tmp_path):
  root = _fresh_release(tmp_path)
  bad = os.path.join(root, 'leftImg8bit', 'train', 'bochum', 'bochum_000000_000313_leftImg8bit.png')
  with open(bad, 'wb') as f:
    f.write(b'not a png')
  with pytest.raises(cityscapes_panoptic.CityscapesPanopticFormatError,
                     match='bochum_000000_000313_leftImg8bit.png: cannot decode image'):
    _build(root, tmp_path)


def test_unknown_category_id_names_id_and_file(tmp_path):
  root = _fresh_release(tmp_path)

  def edit(release):
    release['annotations'][1]['segments_info'][0]['category_id'] = 26  # a labelId, not a trainId
  fixtures.edit_json(root, 'val', edit)
  with pytest.raises(cityscapes_panoptic.CityscapesPanopticFormatError,
                     match=r'munster_000000_000019_gtFine_panoptic\.png, segment id 7: category_id 26 is not '
                           r'a trainId'):
    _build(root, tmp_path)


def test_area_mismatch_names_file_and_segment(tmp_path):
  root = _fresh_release(tmp_path)

  def edit(release):
    segment = next(s for s in release['annotations'][0]['segments_info'] if s['id'] == 26001)
    segment['area'] += 1
  fixtures.edit_json(root, 'train', edit)
  with pytest.raises(cityscapes_panoptic.CityscapesPanopticFormatError,
                     match=r'aachen_000000_000019_gtFine_panoptic\.png, segment id 26001: JSON area 241 but '
                           r'the PNG has 240 pixels'):
    _build(root, tmp_path)


def test_label_id_categories_under_the_train_id_name_are_rejected(tmp_path):
  root = _fresh_release(tmp_path)
  label_ids = {train_id: label_id for label_id, train_id, *_ in fixtures.EVALUATED_LABELS}

  def edit(release):
    for category in release['categories']:
      category['id'] = label_ids[category['id']]
  fixtures.edit_json(root, 'train', edit)
  with pytest.raises(cityscapes_panoptic.CityscapesPanopticFormatError,
                     match=r'cityscapes_panoptic_train_trainId\.json: category ids \[7, 8, 11, .* '
                           r'without --use-train-id'):
    _build(root, tmp_path)


def test_png_id_missing_from_segments_info_names_file_and_id(tmp_path):
  root = _fresh_release(tmp_path)

  def edit(release):
    release['annotations'][0]['segments_info'] = [
        s for s in release['annotations'][0]['segments_info'] if s['id'] != 24000]
  fixtures.edit_json(root, 'val', edit)
  with pytest.raises(cityscapes_panoptic.CityscapesPanopticFormatError,
                     match=r'frankfurt_000000_000294_gtFine_panoptic\.png: PNG ids \[24000\] are neither'):
    _build(root, tmp_path)
