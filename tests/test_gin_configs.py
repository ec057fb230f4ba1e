"""Every shipped gin file parses and builds what it names; model files give SPEC.md's sizes."""

import glob
import json
import os
import re

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


# Built through the CLI here; the other model files (ResNet-RS 101-420, WR-38 A1: large, and counted by
# tests/models without a forward pass) are parsed and their bindings checked.
BUILT_MODEL_FILES = sorted(PUBLISHED_CITYSCAPES_PARAMS) + [
    'models/swidernet_0.25_0.25_0.5_narrow.gin', 'models/resnet_rs_50.gin', 'models/wide_resnet38_a.gin']


def _is_classifier(model_file):
  with open(os.path.join(GIN_DIR, model_file)) as f:
    text = f.read()
  return '@ImageClassifier' in text or any(
      _is_classifier(include) for include in re.findall(r"^include '([^']+)'", text, flags=re.M))


@pytest.mark.parametrize('model_file', BUILT_MODEL_FILES)
def test_model_file_summary(model_file, capsys):
  # The model at the data file's class count, through the real CLI; panoptic models at 513x513 (SPEC's
  # FLOPs size), classifiers at 64x64.
  size = 64 if _is_classifier(model_file) else 513
  code = cli_runner.run_in_process([
      '--mode=summary', f'--gin_file={model_file}', '--gin_file=data/cityscapes_panoptic.gin',
      f'--gin_bindings=Experiment.summary_input_size = ({size}, {size})'])
  assert code == 0
  summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert summary['num_classes'] == 19
  assert summary['input_shape'] == [1, size, size, 3]
  if _is_classifier(model_file):
    assert summary['output_shapes']['logits'] == [1, 19]
  else:
    assert summary['output_shapes']['semantic_logits'] == [1, size, size, 19]
  if model_file in PUBLISHED_CITYSCAPES_PARAMS:
    assert round(summary['trainable_params'] / 1e6, 2) == PUBLISHED_CITYSCAPES_PARAMS[model_file]
  assert summary['total_params'] > summary['trainable_params']  # + BN moving statistics
  tf_keras.backend.clear_session()
  gin.clear_config()


@pytest.mark.parametrize('model_file', MODEL_FILES)
def test_every_model_file_parses_with_known_bindings(model_file):
  # parse_gin rejects unknown configurables and parameters; the model_fn must be bound.
  main.parse_gin([model_file, 'data/cityscapes_panoptic.gin'], [])
  assert gin.query_parameter('Experiment.model_fn') is not None
  gin.clear_config()
