"""Every shipped gin file parses and builds what it names.

The model files are built (once, at full size) and checked against SPEC.md's sizes by
tests/tools/test_model_zoo.py, through the path of `widescale --mode=summary`.
"""

import glob
import os

import gin
import pytest
import tf_keras

from tests import cli_runner
from widescale import gin_registry
from widescale import main

GIN_DIR = os.path.join(cli_runner.REPO_ROOT, 'gin_configs')
RUNNABLE = sorted(os.path.relpath(p, GIN_DIR) for tier in ('experiments', 'smoke')
                  for p in glob.glob(os.path.join(GIN_DIR, tier, '*.gin')))
MODEL_FILES = sorted(os.path.relpath(p, GIN_DIR) for p in glob.glob(os.path.join(GIN_DIR, 'models', '*.gin')))

# The models the first release was asked for (their sizes: tests/tools/test_model_zoo.py).
ISSUE_MODEL_FILES = ('models/wide_resnet41.gin', 'models/swidernet_sac_1_1_1.gin',
                     'models/swidernet_sac_0.25_0.25_0.75.gin')


def test_the_issue_model_files_exist():
  assert set(ISSUE_MODEL_FILES) <= set(MODEL_FILES)
  assert 'experiments/demo_shapes.gin' in RUNNABLE


@pytest.mark.parametrize('config', RUNNABLE)
def test_runnable_config_builds_experiment(config):
  main.parse_gin([config], [])
  experiment = gin_registry.configured('Experiment')()
  assert experiment.trainer.train_steps > 0
  model = experiment.model_fn(num_classes=experiment.task.num_classes)
  assert model is not None
  tf_keras.backend.clear_session()


@pytest.mark.parametrize('model_file', MODEL_FILES)
def test_every_model_file_parses_with_known_bindings(model_file):
  # parse_gin rejects unknown configurables and parameters; the model_fn must be bound.
  main.parse_gin([model_file, 'data/cityscapes_panoptic.gin'], [])
  assert gin.query_parameter('Experiment.model_fn') is not None
  gin.clear_config()
