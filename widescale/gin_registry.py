"""The only place gin meets the library: which classes and functions gin files may name.

Library modules do not import gin, so no library call can silently pick up a binding. Each name below is
what a gin file writes, e.g. `Experiment.task = @PanopticTask()` or `PanopticDeepLab.backbone = @SWideRNet()`.
"""

import difflib
import inspect
from typing import List

import gin

from widescale.models import image_classifier
from widescale.models import panoptic_deeplab
from widescale.models import semantic_segmentation
from widescale.models.backbones import resnet_rs
from widescale.models.backbones import swidernet
from widescale.models.backbones import wide_resnet38
from widescale.models.heads import semantic
from widescale.tasks import classification
from widescale.tasks import panoptic
from widescale.tasks import semantic as semantic_task
from widescale.training import experiment
from widescale.training import loop
from widescale.training import optimizers
from widescale.training import schedules

_CONFIGURABLES = (
    experiment.Experiment,
    loop.Trainer,
    panoptic.PanopticTask,
    semantic_task.SemanticTask,
    classification.ClassificationTask,
    panoptic_deeplab.PanopticDeepLab,
    image_classifier.ImageClassifier,
    semantic_segmentation.SemanticSegmentation,
    semantic.SemanticHead,
    semantic.DeepLabV3Head,
    swidernet.SWideRNet,
    resnet_rs.ResNetRS,
    wide_resnet38.WideResNet38,
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


# Keyword arguments every Keras layer/model accepts through **kwargs.
_KERAS_BASE_KWARGS = ('name', 'dtype', 'trainable')


def _explicit_parameters(fn_or_cls) -> List[str]:
  target = fn_or_cls.__init__ if inspect.isclass(fn_or_cls) else fn_or_cls
  parameters = inspect.signature(target).parameters.values()
  names = [p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
  if any(p.kind == p.VAR_KEYWORD for p in parameters):
    names += _KERAS_BASE_KWARGS
  return [n for n in names if n != 'self']


def unknown_bindings() -> List[str]:
  """Describes every parsed binding that names no parameter of its configurable.

  gin itself rejects unknown names only for functions without **kwargs; our Keras classes take
  **kwargs (for name/dtype), so a misspelt `SWideRNet.widht_multiplier` would otherwise pass parsing
  and fail, or be ignored, much later. This reads gin's parsed bindings (gin 0.5 internals, pinned).
  """
  problems = []
  for (scope, selector), parameters in gin.config._CONFIG.items():  # pylint: disable=protected-access
    configurable = gin.config._REGISTRY.get_match(selector)  # pylint: disable=protected-access
    if configurable is None or selector == 'gin.macro':
      continue
    known = _explicit_parameters(configurable.wrapped)
    for name in parameters:
      if name not in known:
        short = selector.split('.')[-1]
        where = f'{scope}/{short}' if scope else short
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f'; it takes {sorted(known)}'
        problems.append(f"'{where}.{name}': {short} has no parameter '{name}'{hint}")
  return problems
