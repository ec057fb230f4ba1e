"""The progress line a long run prints: step, losses, learning rate, speed and time left."""

import time
from typing import Dict, Optional


def format_duration(seconds: float) -> str:
  """'1h02m', '3m05s' or '42s'."""
  seconds = max(0, int(round(seconds)))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f'{hours}h{minutes:02d}m'
  if minutes:
    return f'{minutes}m{secs:02d}s'
  return f'{secs}s'


class ProgressMeter:
  """Measures steps/s between reports and estimates the time to `total_steps`.

  Args:
    total_steps: the step the run ends at.
    start_step: the step the run (re)starts from; speed is measured from here.
  """

  def __init__(self, total_steps: int, start_step: int):
    self.total_steps = total_steps
    self._last_step = start_step
    self._last_time = time.monotonic()

  def report(self, step: int, scalars: Dict[str, float], learning_rate: Optional[float]) -> str:
    """Returns the line for `step` and restarts the speed measurement there."""
    now = time.monotonic()
    elapsed = max(now - self._last_time, 1e-9)
    steps_per_sec = (step - self._last_step) / elapsed
    self._last_step, self._last_time = step, now
    remaining = (self.total_steps - step) / steps_per_sec if steps_per_sec > 0 else float('inf')
    eta = format_duration(remaining) if remaining != float('inf') else '?'
    terms = ' '.join(f'{name.replace("_loss", "")} {value:.4f}' for name, value in scalars.items()
                     if name != 'total_loss')
    lr = f' | lr {learning_rate:.3g}' if learning_rate is not None else ''
    width = len(str(self.total_steps))
    return (f'step {step:>{width}d}/{self.total_steps} | loss {scalars.get("total_loss", float("nan")):.4f}'
            f' ({terms}){lr} | {steps_per_sec:.2f} steps/s | ETA {eta}')
