"""TFDS builder of `shapes_classification`, the embedded image classification dataset.

    import widescale.data.datasets.shapes  # registers the builder with TFDS
    builder = tfds.builder('shapes_classification', data_dir=...)       # 3,000 train / 300 validation
    builder = tfds.builder('shapes_classification/tiny', data_dir=...)  # 96 / 24, for tests

Its features follow TFDS's `imagenet2012` (image, label, file_name), so the classification pipeline
reads both the same way. Each image shows one circle, square or triangle (28-64 px, random colour) on
the stuff bands of `shapes`; the label is the shape (`class_tables.SHAPES_CLASSIFICATION`).
"""

import dataclasses

from etils import epath
import tensorflow_datasets as tfds

from widescale.data.datasets.class_tables import SHAPES_CLASSIFICATION
from widescale.data.datasets.shapes import generator

_DESCRIPTION = """\
Synthetic image classification: one circle, square or triangle of a random colour on three stuff bands
(sky, ground, water) with pixel noise; the label is the shape. Deterministic given the seed.
"""


@dataclasses.dataclass(eq=False)
class ShapesClassificationConfig(tfds.core.BuilderConfig):
  """A size of the `shapes_classification` dataset (see `ShapesConfig` for the attributes)."""
  num_train: int = 3000
  num_validation: int = 300
  seed: int = 0


class ShapesClassification(tfds.core.GeneratorBasedBuilder):
  """The embedded classification dataset; see the module docstring."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  BUILDER_CONFIGS = [  # the first one is the default
      ShapesClassificationConfig(name='full', description='3,000 train / 300 validation images.'),
      ShapesClassificationConfig(name='tiny', description='96 train / 24 validation images, for tests.',
                                 num_train=96, num_validation=24),
  ]
  # See Shapes.code_path: avoids TFDS's importlib_resources look-up of the builder's source file.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    size = generator.IMAGE_SIZE
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(size, size, 3), encoding_format='png'),
            'label': tfds.features.ClassLabel(names=list(SHAPES_CLASSIFICATION.class_names)),
            'file_name': tfds.features.Text(),
        }),
        supervised_keys=('image', 'label'),
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
      image, label = generator.generate_classification_example(self.builder_config.seed, split, index)
      file_name = f'{split}_{index:05d}.png'
      yield file_name, {'image': image, 'label': label, 'file_name': file_name}
