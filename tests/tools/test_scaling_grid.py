"""Tests of widescale.tools.scaling_grid and widescale.tools.pareto_plot."""

import contextlib
import csv
import io
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf
from PIL import Image

from tests import cli_runner
from widescale.tools import pareto_plot
from widescale.tools import scaling_grid

SIZE = 33  # the smallest input where every stride of the OS-16 model still leaves a pixel
GRID = ['--w1=0.25', '--w2=0.25,0.5', '--l=0.75,1', '--se=false', '--sac=true', f'--input_size={SIZE},{SIZE}',
        '--latency_runs=2', '--warmup_runs=1']


@pytest.fixture(scope='module')
def grid(tmp_path_factory):
  """(output dir, grid.json contents, stdout) of one run of the tool over 4 small candidates."""
  output_dir = str(tmp_path_factory.mktemp('grid'))
  stdout = io.StringIO()
  with contextlib.redirect_stdout(stdout):
    code = scaling_grid.main(['scaling_grid', *GRID, f'--output_dir={output_dir}'])
  assert code == 0
  with open(os.path.join(output_dir, 'grid.json'), encoding='utf-8') as f:
    report = json.load(f)
  return output_dir, report, stdout.getvalue()


def _row(report, w2, l):
  [row] = [row for row in report['rows'] if (row['w2'], row['l']) == (w2, l)]
  return row


def _summary_cli(capsys, gin_args):
  capsys.readouterr()
  code = cli_runner.run_in_process(['--mode=summary', *gin_args, '--gin_file=data/cityscapes_panoptic.gin',
                                    f'--gin_bindings=Experiment.summary_input_size = ({SIZE}, {SIZE})'])
  assert code == 0
  return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_grid_has_every_candidate_in_flag_order(grid):
  _, report, stdout = grid
  assert [(row['w1'], row['w2'], row['l'], row['se'], row['sac']) for row in report['rows']] == [
      (0.25, 0.25, 0.75, False, True), (0.25, 0.25, 1.0, False, True),
      (0.25, 0.5, 0.75, False, True), (0.25, 0.5, 1.0, False, True)]
  assert '[4/4] (0.25, 0.5, 1): 44.29M params' in stdout
  assert 'Pareto front (params vs flops): (0.25, 0.25, 0.75)' in stdout


@pytest.mark.parametrize('w2, l, gin_args', [
    # The shipped SWideRNet-SAC-(0.25, 0.25, 0.75) file: the grid reproduces a zoo model (13.26M, SPEC).
    (0.25, 0.75, ['--gin_file=models/swidernet_sac_0.25_0.25_0.75.gin']),
    (0.25, 1.0, ['--gin_file=models/swidernet_sac_0.25_0.25_0.75.gin',
                 '--gin_bindings=SWideRNet.depth_multiplier = 1.0']),
    (0.5, 0.75, ['--gin_file=models/wide_resnet41.gin',
                 '--gin_bindings=SWideRNet.stem_width_multiplier = 0.25',
                 '--gin_bindings=SWideRNet.width_multiplier = 0.5',
                 '--gin_bindings=SWideRNet.depth_multiplier = 0.75',
                 '--gin_bindings=SWideRNet.use_switchable_atrous_conv = True']),
    (0.5, 1.0, ['--gin_file=models/swidernet_sac_1_1_1.gin',
                '--gin_bindings=SWideRNet.stem_width_multiplier = 0.25',
                '--gin_bindings=SWideRNet.width_multiplier = 0.5']),
])
def test_rows_agree_with_widescale_summary(grid, capsys, w2, l, gin_args):
  row = _row(grid[1], w2, l)
  summary = _summary_cli(capsys, gin_args)
  assert (row['trainable_params'], row['total_params'], row['flops']) == (
      summary['trainable_params'], summary['total_params'], summary['flops'])


def test_zoo_model_row_has_the_spec_size(grid):
  assert _row(grid[1], 0.25, 0.75)['trainable_params'] == 13_263_832


def test_pareto_column_and_latency(grid):
  _, report, _ = grid
  # Parameters and FLOPs both grow with w2 and l here, so the smallest candidate alone is on the front.
  assert [row['pareto'] for row in report['rows']] == [True, False, False, False]
  for row in report['rows']:
    assert 0 < row['latency_ms_min'] <= row['latency_ms_median']


def test_metadata_says_how_it_was_measured(grid):
  _, report, _ = grid
  assert report['input_size'] == [SIZE, SIZE] and report['batch_size'] == 1
  assert report['num_classes'] == 19 and report['complete'] and report['num_candidates'] == 4
  assert report['tensorflow_version'] == tf.__version__
  assert 'CPU' in report['device'] and report['device_name'].startswith('CPU')
  assert report['command'].startswith('python -m widescale.tools.scaling_grid --w1=0.25 --w2=0.25,0.5')
  assert report['pareto_against'] == 'flops'


def test_csv_and_json_hold_the_same_rows(grid):
  output_dir, report, _ = grid
  assert sorted(os.listdir(output_dir)) == ['grid.csv', 'grid.json', 'grid.png']  # no .tmp left over
  with open(os.path.join(output_dir, 'grid.csv'), encoding='utf-8', newline='') as f:
    csv_rows = list(csv.DictReader(f))

  def as_csv(value):
    return str(value).lower() if isinstance(value, bool) else '' if value is None else str(value)

  assert list(csv_rows[0]) == list(scaling_grid.COLUMNS)
  assert csv_rows == [{key: as_csv(value) for key, value in row.items()} for row in report['rows']]


def test_png_marks_the_front(grid):
  output_dir, report, _ = grid
  with Image.open(os.path.join(output_dir, 'grid.png')) as image:
    image.load()
    assert image.format == 'PNG' and image.size == (pareto_plot.WIDTH, pareto_plot.HEIGHT)
    rows = report['rows']
    centres = pareto_plot.pixel_positions([row['trainable_params'] / 1e6 for row in rows],
                                          [row['flops'] / 1e9 for row in rows])
    for row, centre in zip(rows, centres):
      expected = pareto_plot.FRONT_COLOUR if row['pareto'] else pareto_plot.POINT_COLOUR
      assert image.convert('RGB').getpixel(centre) == expected


@pytest.mark.parametrize('args, culprits', [
    (['--w2=0.25,-0.5'], ['--w2=-0.5', 'width_multiplier', 'positive']),  # the first candidate is fine
    (['--l=0'], ['--l=0 ', 'depth_multiplier']),
    (['--l=0.25'], ['--l=0.25', 'leaves no blocks']),
    (['--w1=abc'], ['--w1=abc', 'numbers']),
    (['--sac=maybe'], ['--sac=maybe']),
    (['--input_size=0,65'], ['--input_size=0,65']),
    (['--batch_size=0'], ['--batch_size=0']),
    (['--plot_y=latency', '--latency_runs=0'], ['--plot_y=latency', '--latency_runs=0']),
    (['--plot_y=speed'], ['plot_y', 'speed']),
    (['--nope=1'], ['nope']),
    (['--gin_bindings=SWideRNet.width_multiplier = 2.0'], ['width_multiplier', '--w2']),
    (['--model_gin_file=models/no_such.gin'], ['--model_gin_file=models/no_such.gin', 'no such file']),
    (['--model_gin_file=models/resnet_rs_50.gin'], ['resnet_rs_50.gin', 'ResNetRS']),
])
def test_bad_flags_exit_2_naming_the_culprit_and_write_nothing(tmp_path, capsys, args, culprits):
  output_dir = tmp_path / 'out'
  code = scaling_grid.main(['scaling_grid', '--w1=0.25', '--w2=0.25', '--l=0.75', f'--input_size={SIZE}',
                            '--latency_runs=1', *args, f'--output_dir={output_dir}'])
  assert code == 2
  errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith('widescale: error:')]
  assert len(errors) == 1
  for culprit in culprits:
    assert culprit in errors[0] + ' '
  assert not output_dir.exists()


def test_help_lists_the_flags(capsys):
  assert scaling_grid.main(['scaling_grid', '--help']) == 0
  out = capsys.readouterr().out
  assert all(f'--{name}' in out for name in ('w1', 'w2', 'l', 'se', 'sac', 'input_size', 'plot_y'))


def test_module_runs_as_a_command(tmp_path):
  # The one subprocess: `python -m` reaches main and the exit code reaches the shell (no TF import needed).
  result = subprocess.run([sys.executable, '-m', 'widescale.tools.scaling_grid', '--w1=abc',
                           f'--output_dir={tmp_path / "out"}'], cwd=cli_runner.REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith('widescale: error: --w1=abc')


@pytest.mark.parametrize('points, expected', [
    ([(1, 5), (2, 3), (3, 4), (4, 1), (5, 5)], [True, True, False, True, False]),
    ([(1, 1), (1, 1), (2, 2)], [True, True, False]),  # identical points do not dominate each other
    ([(1, 2), (1, 1)], [False, True]),  # equal x, lower y dominates
    ([(2, 1), (1, 1)], [False, True]),  # equal y, lower x dominates
    ([(1, 3), (3, 1)], [True, True]),
    ([(7, 7)], [True]),
    ([], []),
])
def test_pareto_front(points, expected):
  assert pareto_plot.pareto_front([x for x, _ in points], [y for _, y in points]) == expected


def test_pareto_front_needs_matching_lengths():
  with pytest.raises(ValueError, match='differ in length'):
    pareto_plot.pareto_front([1, 2], [1])


def test_render_draws_front_and_others_in_their_colours_and_logs_wide_ranges():
  xs, ys = [1.0, 10.0, 100.0, 100.0], [3.0, 2.0, 1.0, 4.0]
  on_front = pareto_plot.pareto_front(xs, ys)
  assert on_front == [True, True, True, False]
  image = pareto_plot.render(xs, ys, ['a', 'b', 'c', 'd'], on_front, 'x', 'y', title='t', size=(500, 400))
  assert image.size == (500, 400)
  centres = pareto_plot.pixel_positions(xs, ys, size=(500, 400))
  for centre, front in zip(centres, on_front):
    assert image.getpixel(centre) == (pareto_plot.FRONT_COLOUR if front else pareto_plot.POINT_COLOUR)
  # x spans two decades: log scale puts 1, 10 and 100 at equal distances; y (1 to 4) stays linear.
  columns = [column for column, _ in centres[:3]]
  assert abs((columns[1] - columns[0]) - (columns[2] - columns[1])) <= 1
  rows = [row for _, row in centres]
  assert abs((rows[0] - rows[1]) - (rows[1] - rows[2])) <= 1 and rows[3] < rows[0]
  # The front is joined by a line: the midpoint between two front markers is drawn in the front colour.
  midpoint = tuple(round((a + b) / 2) for a, b in zip(centres[0], centres[1]))
  assert image.getpixel(midpoint) == pareto_plot.FRONT_COLOUR
