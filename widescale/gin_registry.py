"""The only place gin meets the library: which classes and functions gin files may name.

Library modules do not import gin, so no library call can silently pick up a binding. Each name below is
what a gin file writes, e.g. `Experiment.task = @PanopticTask()` or `PanopticDeepLab.backbone = @SWideRNet()`.
"""

import gin

from widescale.models import panoptic_deeplab
from widescale.models.backbones import swidernet
from widescale.tasks import panoptic
from widescale.training import experiment
from widescale.training import loop
from widescale.training import optimizers
from widescale.training import schedules

_CONFIGURABLES = (
    experiment.Experiment,
    loop.Trainer,
    panoptic.PanopticTask,
    panoptic_deeplab.PanopticDeepLab,
    swidernet.SWideRNet,
    optimizers.adam,
    schedules.PolynomialDecayWithWarmup,
)


_REGISTERED = {}


def register_all() -> None:
  """Registers every configurable once (safe to call again)."""
  for configurable in _CONFIGURABLES:
    name = configurable.__name__
    if name not in _REGISTERED:
      _REGISTERED[name] = gin.external_configurable(configurable, name=name, module='widescale')


def configured(name: str):
  """The gin-configured version of a registered class or function, e.g. configured('Experiment')()."""
  register_all()
  return _REGISTERED[name]
