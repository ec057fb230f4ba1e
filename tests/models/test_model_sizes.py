"""Full-size parameter counts and FLOPs against the published numbers (SPEC section 1).

Models are traced, never run: variables are created with zero kernels (filling 500M random numbers would
dominate the test time and the counts do not depend on values) and the profiler reads the traced graph.
Output stride 16 and deeplab2's Panoptic-DeepLab defaults at 19 classes reproduce every number below; the
"SWideRNet-SAC" models are SAC without SE, as deeplab2's model zoo states.
"""

import gc

import pytest
import tf_keras

from widescale.models import panoptic_deeplab
from widescale.models import summary
from widescale.models.backbones import swidernet

# variant: (backbone params, Panoptic-DeepLab params, (GFLOPs at 513x513, decimals)); ints are exact,
# floats are millions to the published precision.
_PUBLISHED = {
    'wide_resnet41': (109_014_080, 140.48, (703.7, 1)),
    'swidernet_sac_1_1_1': (112_952_387, 144.42, (738.5, 1)),
    'swidernet_sac_1_1_3': (345.06, 376.53, (1879, 0)),
    'swidernet_sac_1_1_4.5': (504.52, 535.99, (2680, 0)),
    'swidernet_sac_0.25_0.25_0.75': (4.65, 13.26, (57.1, 1)),
}
# GFLOPs at 1025x2049 (Cityscapes full resolution), checked for the cheaper models.
_PUBLISHED_CITYSCAPES_GFLOPS = {'wide_resnet41': (5475, 0), 'swidernet_sac_0.25_0.25_0.75': (438.6, 1)}


def _matches(count, published):
  if isinstance(published, int):
    return count == published
  return round(count / 1e6, 2) == published


@pytest.fixture(autouse=True)
def _free_memory():
  yield
  tf_keras.backend.clear_session()
  gc.collect()


@pytest.mark.parametrize('variant', sorted(_PUBLISHED))
def test_panoptic_deeplab_matches_published_size(variant):
  backbone_params, model_params, (gflops, decimals) = _PUBLISHED[variant]
  backbone = swidernet.SWideRNet.from_variant(variant, output_stride=16, conv_kernel_initializer='zeros')
  model = panoptic_deeplab.PanopticDeepLab(backbone, num_classes=19)
  result = summary.summarize(model, [1, 513, 513, 3])
  assert _matches(summary.count_trainable_params(backbone), backbone_params)
  assert _matches(result['trainable_params'], model_params)
  assert round(result['flops'] / 1e9, decimals) == gflops
  assert result['output_shapes']['semantic_logits'] == [1, 513, 513, 19]
  if variant in _PUBLISHED_CITYSCAPES_GFLOPS:
    gflops, decimals = _PUBLISHED_CITYSCAPES_GFLOPS[variant]
    assert round(summary.count_flops(model, [1, 1025, 2049, 3]) / 1e9, decimals) == gflops


@pytest.mark.parametrize('depth_multiplier, params', [(3, 333_245_504), (4.5, 487_453_760)])
def test_deep_wide_resnet_backbones_without_se_or_sac(depth_multiplier, params):
  backbone = swidernet.SWideRNet(depth_multiplier=depth_multiplier, conv_kernel_initializer='zeros')
  summary.count_flops(backbone, [1, 33, 33, 3])  # builds the variables by tracing
  assert summary.count_trainable_params(backbone) == params


def test_sac_adds_exactly_its_published_parameters_at_1_1_1():
  plain = swidernet.SWideRNet(conv_kernel_initializer='zeros')
  sac = swidernet.SWideRNet(use_switchable_atrous_conv=True, conv_kernel_initializer='zeros')
  for model in (plain, sac):
    summary.count_flops(model, [1, 33, 33, 3])
  assert summary.count_trainable_params(sac) - summary.count_trainable_params(plain) == 3_938_307
