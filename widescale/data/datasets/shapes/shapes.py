"""TFDS builder of `shapes`, the embedded synthetic panoptic dataset (nothing to download).

    import widescale.data.datasets.shapes  # registers the builder with TFDS
    builder = tfds.builder('shapes', data_dir=...)        # 2,000 train / 200 validation images
    builder = tfds.builder('shapes/tiny', data_dir=...)   # 64 / 16, for tests

or `widescale.data.pipeline.load_or_build('shapes', split='train')`, which builds it on first use. The
full build takes about 15 s on two CPU cores (~2 ms to draw an example, the rest is PNG encoding and
writing) and 74 MB on disk.

Features of one example:
  image:    uint8 [128, 128, 3], PNG.
  panoptic: uint8 [128, 128, 3], PNG holding the int panoptic map `semantic * 1000 + instance` in the
            COCO RGB encoding id = R + 256 G + 256^2 B (`generator.decode_panoptic_rgb`, or
            `widescale.data.pipeline.decode_panoptic_rgb` in TF). Void pixels are 255 * 1000.
  image_id: string '<split>_<index:05d>', e.g. 'train_00042'.
Class ids, colours, ignore label and label divisor are `class_tables.SHAPES`.
"""

import dataclasses

from etils import epath
import tensorflow_datasets as tfds

from widescale.data.datasets.shapes import generator

_DESCRIPTION = """\
Synthetic panoptic segmentation: 3 stuff classes (sky, ground, water) as bands split by wavy boundaries,
with 1-6 circles, squares and triangles (10-40 px, random colours) on top, later shapes occluding
earlier ones; a void band along one border in about 30% of the images. Deterministic given the seed.
"""


@dataclasses.dataclass(eq=False)
class ShapesConfig(tfds.core.BuilderConfig):
  """A size of the `shapes` dataset.

  Attributes:
    num_train: number of training images.
    num_validation: number of validation images.
    seed: every example is a function of (seed, split, index).
  """
  num_train: int = 2000
  num_validation: int = 200
  seed: int = 0


class Shapes(tfds.core.GeneratorBasedBuilder):
  """The embedded synthetic panoptic dataset; see the module docstring."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  BUILDER_CONFIGS = [  # the first one is the default
      ShapesConfig(name='full', description='2,000 train / 200 validation images.'),
      ShapesConfig(name='tiny', description='64 train / 16 validation images, for tests.',
                   num_train=64, num_validation=16),
  ]

  # TFDS finds a builder's source file (to look for a checksums file beside it) through a lazy import of
  # `importlib_resources`, which tensorflow-datasets 4.9.10 only declares for Python < 3.9: without that
  # package download_and_prepare fails with ModuleNotFoundError. Naming the file here skips that look-up.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    size = generator.IMAGE_SIZE
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(size, size, 3), encoding_format='png'),
            'panoptic': tfds.features.Image(shape=(size, size, 3), encoding_format='png'),
            'image_id': tfds.features.Text(),
        }),
        homepage='https://github.com/widescale/widescale',
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    return {
        'train': self._generate_examples('train', self.builder_config.num_train),
        'validation': self._generate_examples('validation', self.builder_config.num_validation),
    }

  def _generate_examples(self, split: str, num_examples: int):
    for index in range(num_examples):
      image, panoptic = generator.generate_example(self.builder_config.seed, split, index)
      image_id = f'{split}_{index:05d}'
      yield image_id, {
          'image': image,
          'panoptic': generator.encode_panoptic_rgb(panoptic),
          'image_id': image_id,
      }
