"""Every shipped gin file parses and builds what it names; model files give SPEC.md's sizes."""

import glob
import json
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

# Trainable parameters of the full 19-class Panoptic-DeepLab (SPEC.md section 1), in millions to the
# published precision.
PUBLISHED_CITYSCAPES_PARAMS = {
    'models/wide_resnet41.gin': 140.48,
    'models/swidernet_sac_1_1_1.gin': 144.42,
    'models/swidernet_sac_0.25_0.25_0.75.gin': 13.26,
}


def test_the_issue_model_files_exist():
  assert set(PUBLISHED_CITYSCAPES_PARAMS) <= set(MODEL_FILES)
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
def test_model_file_summary(model_file, capsys):
  # The model at the data file's class count, through the real CLI, at 513x513 (SPEC's FLOPs size).
  code = cli_runner.run_in_process([
      '--mode=summary', f'--gin_file={model_file}', '--gin_file=data/cityscapes_panoptic.gin',
      '--gin_bindings=Experiment.summary_input_size = (513, 513)'])
  assert code == 0
  summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert summary['num_classes'] == 19
  assert summary['input_shape'] == [1, 513, 513, 3]
  assert summary['output_shapes']['semantic_logits'] == [1, 513, 513, 19]
  if model_file in PUBLISHED_CITYSCAPES_PARAMS:
    assert round(summary['trainable_params'] / 1e6, 2) == PUBLISHED_CITYSCAPES_PARAMS[model_file]
  tf_keras.backend.clear_session()
  gin.clear_config()
