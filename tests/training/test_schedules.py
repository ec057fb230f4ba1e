"""Learning-rate schedules at chosen steps, computed by hand."""

import numpy as np
import pytest

from widescale.training import schedules


def test_poly_decay_without_warmup():
  schedule = schedules.PolynomialDecayWithWarmup(1e-3, decay_steps=100, power=0.9)
  assert float(schedule(0)) == pytest.approx(1e-3)
  assert float(schedule(50)) == pytest.approx(1e-3 * 0.5 ** 0.9, rel=1e-6)
  assert float(schedule(100)) == pytest.approx(0.0, abs=1e-12)
  assert float(schedule(150)) == pytest.approx(0.0, abs=1e-12)  # stays at the end value


def test_poly_decay_with_linear_warmup():
  schedule = schedules.PolynomialDecayWithWarmup(2e-3, decay_steps=100, power=1.0, warmup_steps=10,
                                                 end_learning_rate=0.0)
  # Step 5: poly value 2e-3 * 0.95, times warmup fraction 0.5.
  assert float(schedule(5)) == pytest.approx(2e-3 * 0.95 * 0.5, rel=1e-6)
  # Step 10: warmup over, poly value 2e-3 * 0.9.
  assert float(schedule(10)) == pytest.approx(2e-3 * 0.9, rel=1e-6)
  assert np.isfinite(float(schedule(0)))


@pytest.mark.parametrize('kwargs, name', [
    (dict(initial_learning_rate=0.0, decay_steps=10), 'initial_learning_rate'),
    (dict(initial_learning_rate=1.0, decay_steps=0), 'decay_steps'),
    (dict(initial_learning_rate=1.0, decay_steps=10, warmup_steps=-1), 'warmup_steps'),
])
def test_bad_arguments_are_named(kwargs, name):
  with pytest.raises(ValueError, match=name):
    schedules.PolynomialDecayWithWarmup(**kwargs)
