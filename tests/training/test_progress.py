"""The progress line."""

from widescale.training import progress


def test_format_duration():
  assert progress.format_duration(42) == '42s'
  assert progress.format_duration(185) == '3m05s'
  assert progress.format_duration(3720) == '1h02m'


def test_progress_line_has_step_losses_lr_speed_and_eta():
  meter = progress.ProgressMeter(total_steps=100, start_step=0)
  line = meter.report(10, {'total_loss': 1.5, 'semantic_loss': 1.0, 'center_loss': 0.5}, 1e-3)
  assert line.startswith('step  10/100 | loss 1.5000 (semantic 1.0000 center 0.5000) | lr 0.001')
  assert 'steps/s' in line and 'ETA' in line
