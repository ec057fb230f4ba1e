"""The command line: bad input ends with one line naming the culprit and harms nothing saved."""

import hashlib
import json
import os

import pytest

from tests import cli_runner

SMOKE = '--gin_file=smoke/panoptic_tiny.gin'


def _snapshot(directory):
  """{relative path: sha1} of every file under `directory`."""
  result = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        result[os.path.relpath(path, directory)] = hashlib.sha1(f.read()).hexdigest()
  return result


def _error_line(capsys):
  err = capsys.readouterr().err.strip().splitlines()
  errors = [line for line in err if line.startswith('widescale: error:')]
  assert len(errors) == 1, err
  return errors[0]


@pytest.fixture(scope='module')
def trained_model_dir(tmp_path_factory, shapes_data_dir):
  """A model dir after a short smoke training: checkpoints, summaries, configs."""
  model_dir = str(tmp_path_factory.mktemp('trained'))
  code = cli_runner.run_in_process(['--mode=train', SMOKE, '--gin_bindings=TRAIN_STEPS = 2',
                                    f'--model_dir={model_dir}'])
  assert code == 0
  return model_dir


def test_missing_gin_file(tmp_path, capsys):
  code = cli_runner.run_in_process(['--gin_file=models/no_such_model.gin', f'--model_dir={tmp_path}/m'])
  assert code == 2
  line = _error_line(capsys)
  assert '--gin_file=models/no_such_model.gin' in line and 'no such file' in line
  assert not os.path.exists(tmp_path / 'm')  # failed before creating anything


@pytest.mark.parametrize('binding, culprit', [
    ('NoSuchThing.value = 3', 'NoSuchThing'),         # unknown configurable
    ('Trainer.train_stepz = 3', 'train_stepz'),       # misspelt parameter
    ('SWideRNet.widht_multiplier = 0.5', 'widht_multiplier'),
])
def test_unknown_or_misspelt_binding_harms_nothing(trained_model_dir, capsys, binding, culprit):
  before = _snapshot(trained_model_dir)
  code = cli_runner.run_in_process(['--mode=train', SMOKE, f'--gin_bindings={binding}',
                                    f'--model_dir={trained_model_dir}'])
  assert code == 2
  line = _error_line(capsys)
  assert culprit in line and '--gin_bindings' in line
  assert _snapshot(trained_model_dir) == before


def test_bad_value_names_the_argument(trained_model_dir, capsys):
  before = _snapshot(trained_model_dir)
  code = cli_runner.run_in_process(['--mode=train', SMOKE, '--gin_bindings=Trainer.steps_per_loop = 0',
                                    f'--model_dir={trained_model_dir}'])
  assert code == 2
  assert 'steps_per_loop' in _error_line(capsys)
  assert _snapshot(trained_model_dir) == before


def test_model_dir_that_is_a_file(tmp_path, capsys):
  path = tmp_path / 'results.txt'
  path.write_text('precious')
  code = cli_runner.run_in_process(['--mode=train', SMOKE, f'--model_dir={path}'])
  assert code == 2
  line = _error_line(capsys)
  assert f'--model_dir={path}' in line and 'is a file' in line
  assert path.read_text() == 'precious'


def test_model_dir_not_writable(capsys):
  # /proc refuses new directories even to root, where a chmod'ed directory would not.
  code = cli_runner.run_in_process(['--mode=train', SMOKE, '--model_dir=/proc/widescale_test_dir'])
  assert code == 2
  line = _error_line(capsys)
  assert '--model_dir=/proc/widescale_test_dir' in line and 'not writable' in line


def test_model_dir_required(capsys):
  assert cli_runner.run_in_process(['--mode=train', SMOKE]) == 2
  assert '--model_dir' in _error_line(capsys)


def test_train_writes_checkpoints_summaries_and_operative_config(trained_model_dir):
  files = os.listdir(trained_model_dir)
  assert 'checkpoint' in files and any(f.startswith('ckpt-2') for f in files), files
  with open(os.path.join(trained_model_dir, 'operative_config.gin')) as f:
    operative = f.read()
  # The operative config holds the values actually used, including the model's.
  assert 'SWideRNet.width_multiplier = 0.0625' in operative
  assert 'Trainer.train_steps = 2' in operative or 'TRAIN_STEPS = 2' in operative
  assert os.listdir(os.path.join(trained_model_dir, 'train'))  # TensorBoard events


def test_summary_prints_json_last(capsys):
  code = cli_runner.run_in_process(['--mode=summary', SMOKE])
  assert code == 0
  last = capsys.readouterr().out.strip().splitlines()[-1]
  summary = json.loads(last)
  assert summary['input_shape'] == [1, 128, 128, 3]
  assert summary['output_shapes']['semantic_logits'] == [1, 128, 128, 6]
  assert summary['trainable_params'] > 0 and summary['flops'] > 0


def test_bad_model_value_fails_at_construction_and_harms_nothing(trained_model_dir, capsys):
  before = _snapshot(trained_model_dir)
  code = cli_runner.run_in_process(['--mode=train', SMOKE, '--gin_bindings=SWideRNet.width_multiplier = -1.0',
                                    f'--model_dir={trained_model_dir}'])
  assert code == 2
  line = _error_line(capsys)
  assert 'width_multiplier' in line and '-1' in line
  assert _snapshot(trained_model_dir) == before


def test_eval_mode_scores_the_latest_checkpoint(trained_model_dir, capsys):
  code = cli_runner.run_in_process(['--mode=eval', SMOKE, f'--model_dir={trained_model_dir}'])
  assert code == 0
  out = capsys.readouterr().out
  assert 'Validation metrics (step 2, 16 images)' in out
  assert any(line.startswith('PQ: ') for line in out.splitlines())
  with open(os.path.join(trained_model_dir, 'eval', 'metrics_step_2.json')) as f:
    assert 0.0 <= json.load(f)['pq'] <= 1.0


def test_eval_mode_without_checkpoint(tmp_path, capsys):
  code = cli_runner.run_in_process(['--mode=eval', SMOKE, f'--model_dir={tmp_path}'])
  assert code == 2
  assert 'no checkpoint' in _error_line(capsys)
  assert os.listdir(tmp_path) == []


def test_gin_includes_work_beside_a_runs_directory(tmp_path, monkeypatch, capsys):
  # `make demo` leaves runs/demo in the checkout; gin's package-resource reader used to take `runs/`
  # in `include 'runs/train.gin'` for a Python namespace package and crash.
  (tmp_path / 'runs' / 'demo').mkdir(parents=True)
  (tmp_path / 'data').mkdir()
  monkeypatch.chdir(tmp_path)
  assert cli_runner.run_in_process(['--mode=summary', SMOKE]) == 0
  assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])['trainable_params'] > 0
