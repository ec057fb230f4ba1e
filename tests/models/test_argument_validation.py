"""Wrong arguments fail at construction, with a message naming the argument and the value received.

Across the three backbone families, the meta-architectures and the heads. The per-module tests
(test_swidernet.py, test_resnet_rs.py, test_wide_resnet38.py, test_semantic_segmentation.py,
test_panoptic_deeplab_*.py, tests/layers/) already check most single arguments of their own class; this
file holds the cases they leave out and the ones that should hold for every family alike. Every check runs
before a variable (or, for the backbones, a layer) is made, so nothing here builds a network.
"""

import gin
import pytest
import tf_keras

from widescale import gin_registry
from widescale import main
from widescale.layers import conv_bn_act
from widescale.models import image_classifier
from widescale.models import panoptic_deeplab
from widescale.models import semantic_segmentation
from widescale.models.backbones import resnet_rs
from widescale.models.backbones import swidernet
from widescale.models.backbones import wide_resnet38
from widescale.models.heads import panoptic_deeplab as panoptic_heads
from widescale.models.heads import semantic


class _Backbone(tf_keras.layers.Layer):
  """Stands in for a backbone: meta-architectures only read its output_stride at construction."""

  def __init__(self, output_stride=16, **kwargs):
    super().__init__(**kwargs)
    self.output_stride = output_stride

  def call(self, images):
    return {}


def _assert_rejected(make, argument, value):
  """make() raises ValueError whose message shows `argument=value` as the user wrote it."""
  with pytest.raises(ValueError) as error:
    make()
  assert f'{argument}={value!r}' in str(error.value), str(error.value)


FAMILIES = {
    'swidernet': swidernet.SWideRNet,
    'resnet_rs': resnet_rs.ResNetRS,
    'wide_resnet38': wide_resnet38.WideResNet38,
}
# One valid variant name per family, for from_variant.
KNOWN_VARIANT = {'swidernet': 'wide_resnet41', 'resnet_rs': 'resnet_rs_50', 'wide_resnet38': 'a1'}


@pytest.mark.parametrize('family', sorted(FAMILIES))
@pytest.mark.parametrize('output_stride', [4, 12, 64, '16', None])
def test_every_family_rejects_a_bad_output_stride(family, output_stride):
  _assert_rejected(lambda: FAMILIES[family](output_stride=output_stride), 'output_stride', output_stride)


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_every_family_rejects_an_unknown_variant_and_lists_the_known_ones(family):
  with pytest.raises(ValueError) as error:
    FAMILIES[family].from_variant('resnet_rs_51_wide')
  message = str(error.value)
  assert "variant='resnet_rs_51_wide'" in message
  assert KNOWN_VARIANT[family] in message  # the known names are listed


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_from_variant_overrides_are_validated(family):
  _assert_rejected(lambda: FAMILIES[family].from_variant(KNOWN_VARIANT[family], output_stride=4),
                   'output_stride', 4)


@pytest.mark.parametrize('make, argument, value', [
    (lambda: swidernet.SWideRNet(width_multiplier=-0.5), 'width_multiplier', -0.5),
    (lambda: swidernet.SWideRNet(stem_width_multiplier=-0.25), 'stem_width_multiplier', -0.25),
    (lambda: swidernet.SWideRNet.from_variant('swidernet_sac_1_1_1', width_multiplier=-1.0),
     'width_multiplier', -1.0),
    (lambda: wide_resnet38.WideResNet38(width_multiplier=-0.5), 'width_multiplier', -0.5),
    (lambda: wide_resnet38.WideResNet38.from_variant('a', width_multiplier=-2), 'width_multiplier', -2),
], ids=['swidernet', 'swidernet_stem', 'swidernet_from_variant', 'wide_resnet38', 'wide_resnet38_from_variant'])
def test_negative_width_multiplier(make, argument, value):
  _assert_rejected(make, argument, value)


@pytest.mark.parametrize('family, argument', [('resnet_rs', 'width_multiplier'),
                                              ('wide_resnet38', 'depth_multiplier'),
                                              ('swidernet', 'block_counts')])
def test_an_argument_the_family_does_not_have_is_named(family, argument):
  # ResNet-RS has no width multiplier (its sizes are the block tables), Wide-ResNet-38 no depth multiplier,
  # SWideRNet no block counts: Keras rejects the unknown keyword and names it.
  with pytest.raises(TypeError, match=argument):
    FAMILIES[family](**{argument: 1})


@pytest.mark.parametrize('make, argument, value', [
    (lambda: swidernet.SWideRNet(depth_multiplier=0), 'depth_multiplier', 0),
    (lambda: swidernet.SWideRNet(depth_multiplier=-3), 'depth_multiplier', -3),
    # int(3 * 0.3) = 0 blocks in res2, res4 and res5.
    (lambda: swidernet.SWideRNet(depth_multiplier=0.3), 'depth_multiplier', 0.3),
    (lambda: swidernet.SWideRNet.from_variant('swidernet_sac_0.25_0.25_0.75', depth_multiplier=0.25),
     'depth_multiplier', 0.25),
    (lambda: resnet_rs.ResNetRS(block_counts=(3, 4, 6, -1)), 'block_counts', (3, 4, 6, -1)),
    (lambda: resnet_rs.ResNetRS(block_counts=(3.0, 4, 6, 3)), 'block_counts', (3.0, 4, 6, 3)),
    (lambda: resnet_rs.ResNetRS.from_variant('resnet_rs_50', block_counts=(0, 0, 0, 0)), 'block_counts',
     (0, 0, 0, 0)),
], ids=['l=0', 'l<0', 'l=0.3', 'l=0.25_from_variant', 'negative_block_count', 'float_block_count',
        'zero_blocks_from_variant'])
def test_depth_that_leaves_no_blocks(make, argument, value):
  _assert_rejected(make, argument, value)


def test_too_small_depth_multiplier_says_which_stages_are_empty():
  with pytest.raises(ValueError, match=r"depth_multiplier=0\.3 leaves no blocks in \['res2', 'res4', 'res5'\]"):
    swidernet.SWideRNet(depth_multiplier=0.3)


@pytest.mark.parametrize('make, argument, value', [
    (lambda: resnet_rs.ResNetRS(squeeze_excite_ratio=-0.1), 'squeeze_excite_ratio', -0.1),
    (lambda: resnet_rs.ResNetRS(squeeze_excite_ratio=1.01), 'squeeze_excite_ratio', 1.01),
    (lambda: resnet_rs.ResNetRS(squeeze_excite_ratio='0.25'), 'squeeze_excite_ratio', '0.25'),
    (lambda: resnet_rs.ResNetRS.from_variant('resnet_rs_101', squeeze_excite_ratio=2), 'squeeze_excite_ratio', 2),
    # The block used to accept any ratio: a negative one silently switched SE off, one above 1 widened it.
    (lambda: resnet_rs.ResNetRSBottleneck(8, squeeze_excite_ratio=-1), 'squeeze_excite_ratio', -1),
    (lambda: resnet_rs.ResNetRSBottleneck(8, squeeze_excite_ratio=1.5), 'squeeze_excite_ratio', 1.5),
], ids=['negative', 'above_1', 'string', 'from_variant', 'block_negative', 'block_above_1'])
def test_squeeze_excite_ratio_out_of_range(make, argument, value):
  _assert_rejected(make, argument, value)


@pytest.mark.parametrize('make, argument, value', [
    (lambda: swidernet.SWideRNet(drop_path_keep_prob=1.5), 'drop_path_keep_prob', 1.5),
    (lambda: swidernet.SWideRNet(drop_path_keep_prob=-0.2), 'drop_path_keep_prob', -0.2),
    (lambda: swidernet.SWideRNet(drop_path_keep_prob='0.8'), 'drop_path_keep_prob', '0.8'),
    (lambda: swidernet.SWideRNet(drop_path_keep_prob=0.5, drop_path_schedule='Block'),
     'drop_path_schedule', 'Block'),
    (lambda: swidernet.ResidualBlock((8, 8), drop_path_keep_prob=0.0), 'drop_path_keep_prob', 0.0),
    (lambda: swidernet.ResidualBlock((8, 8), drop_path_keep_prob=1.2), 'drop_path_keep_prob', 1.2),
    (lambda: resnet_rs.ResNetRS(stochastic_depth_rate='0.1'), 'stochastic_depth_rate', '0.1'),
    (lambda: resnet_rs.ResNetRS.from_variant('resnet_rs_200', stochastic_depth_rate=1.5),
     'stochastic_depth_rate', 1.5),
    (lambda: resnet_rs.ResNetRSBottleneck(8, drop_path_keep_prob=2.0), 'drop_path_keep_prob', 2.0),
    (lambda: resnet_rs.ResNetRSBottleneck(8, drop_path_keep_prob=0), 'drop_path_keep_prob', 0),
], ids=['swidernet_above_1', 'swidernet_negative', 'swidernet_string', 'swidernet_schedule_case',
        'residual_block_0', 'residual_block_above_1', 'resnet_rs_string', 'resnet_rs_from_variant',
        'resnet_rs_block_above_1', 'resnet_rs_block_0'])
def test_drop_path_arguments_out_of_range(make, argument, value):
  _assert_rejected(make, argument, value)


def test_squeeze_excite_stages_as_a_bare_string_is_rejected():
  # ('res2') without the comma is a string in gin and Python; it used to be read as 'r', 'e', 's', '2'.
  _assert_rejected(lambda: swidernet.SWideRNet(use_squeeze_excite=True, squeeze_excite_stages='res2'),
                   'squeeze_excite_stages', 'res2')
  model = swidernet.SWideRNet(use_squeeze_excite=True, squeeze_excite_stages=['res2', 'res5'])
  assert model.squeeze_excite_stages == ('res2', 'res5')


@pytest.mark.parametrize('make, owner', [
    (lambda **bn: swidernet.SWideRNet(**bn), 'SWideRNet'),
    (lambda **bn: resnet_rs.ResNetRS(**bn), 'ResNetRS'),
    (lambda **bn: wide_resnet38.WideResNet38(**bn), 'WideResNet38'),
    (lambda **bn: panoptic_deeplab.PanopticDeepLab(_Backbone(), 3, **bn), 'PanopticDeepLab'),
    (lambda **bn: semantic.DeepLabV3Head(3, **bn), 'DeepLabV3Head'),
    (lambda **bn: panoptic_heads.PanopticDeepLabDecoder(**bn), 'ConvBNAct'),
    (lambda **bn: panoptic_heads.PanopticDeepLabHead(8, 3, **bn), 'ConvBNAct'),
    (lambda **bn: swidernet.ResidualBlock((8, 8), **bn), 'ConvBNAct'),
    (lambda **bn: resnet_rs.ResNetRSBottleneck(8, **bn), 'ConvBNAct'),
    (lambda **bn: conv_bn_act.ConvBNAct(8, 3, **bn), 'ConvBNAct'),
], ids=['swidernet', 'resnet_rs', 'wide_resnet38', 'panoptic_deeplab', 'deeplabv3_head', 'panoptic_decoder',
        'panoptic_head', 'residual_block', 'resnet_rs_block', 'conv_bn_act'])
def test_batch_norm_arguments_everywhere(make, owner):
  for argument, value in (('bn_momentum', 1.5), ('bn_momentum', -0.1), ('bn_epsilon', 0.0),
                          ('bn_epsilon', -1e-3)):
    with pytest.raises(ValueError) as error:
      make(**{argument: value})
    assert f'{owner}: {argument}' in str(error.value) and f'{argument}={value!r}' in str(error.value)
  make(bn_momentum=0.0, bn_epsilon=1e-5)  # the bounds themselves are valid (ResNet-RS's EMA recipe uses 0)


@pytest.mark.parametrize('make, argument, value', [
    (lambda: image_classifier.ImageClassifier('resnet_rs_50', 10), 'backbone', 'resnet_rs_50'),
    (lambda: image_classifier.ImageClassifier(_Backbone(), 0), 'num_classes', 0),
    (lambda: image_classifier.ImageClassifier(_Backbone(), 'ten'), 'num_classes', 'ten'),
    (lambda: image_classifier.ImageClassifier(_Backbone(), 2.5), 'num_classes', 2.5),
    (lambda: image_classifier.ImageClassifier(_Backbone(), 10, endpoint=5), 'endpoint', 5),
    (lambda: image_classifier.ImageClassifier(_Backbone(), 10, dropout_rate=1.0), 'dropout_rate', 1.0),
    (lambda: semantic_segmentation.SemanticSegmentation('wide_resnet38', semantic.SemanticHead(3)),
     'backbone', 'wide_resnet38'),
    (lambda: panoptic_deeplab.PanopticDeepLab('swidernet', 3, atrous_rates=(6, 12, 18)), 'backbone', 'swidernet'),
    (lambda: panoptic_deeplab.PanopticDeepLab(_Backbone(), -1), 'num_classes', -1),
    (lambda: panoptic_deeplab.PanopticDeepLab(_Backbone(output_stride=12), 3), 'output_stride', 12),
    (lambda: panoptic_deeplab.PanopticDeepLab(_Backbone(), 3, atrous_rates=(6, 12)), 'atrous_rates', (6, 12)),
    (lambda: panoptic_deeplab.PanopticDeepLab(_Backbone(), 3, aspp_dropout_rate=1.5), 'aspp_dropout_rate', 1.5),
    (lambda: panoptic_deeplab.PanopticDeepLab(_Backbone(), 3, aspp_pool_size=(0, 33)), 'aspp_pool_size', (0, 33)),
    (lambda: panoptic_deeplab.PanopticDeepLab(_Backbone(), 3, semantic_low_level_channels=(64,)),
     'semantic_low_level_channels', (64,)),
    (lambda: panoptic_deeplab.PanopticDeepLab(_Backbone(), 3, instance_low_level_channels=(32, 0)),
     'instance_low_level_channels', (32, 0)),
    (lambda: panoptic_deeplab.PanopticDeepLab(_Backbone(), 3, low_level_feature_keys=('res3',)),
     'semantic_low_level_channels', (64, 32)),
], ids=['classifier_backbone', 'classifier_classes_0', 'classifier_classes_string', 'classifier_classes_float',
        'classifier_endpoint', 'classifier_dropout', 'segmentation_backbone', 'panoptic_backbone',
        'panoptic_classes', 'panoptic_backbone_output_stride', 'panoptic_atrous_rates', 'panoptic_aspp_dropout',
        'panoptic_aspp_pool_size', 'panoptic_semantic_low_level', 'panoptic_instance_low_level',
        'panoptic_low_level_keys'])
def test_meta_architectures(make, argument, value):
  _assert_rejected(make, argument, value)


@pytest.mark.parametrize('argument', ['aspp_channels', 'semantic_decoder_channels', 'instance_aspp_channels',
                                      'instance_decoder_channels', 'semantic_head_channels',
                                      'center_head_channels', 'offset_head_channels'])
def test_panoptic_deeplab_names_its_own_channel_argument(argument):
  # The decoders and heads check their widths too, but under their own names (e.g. the ASPP's
  # `output_channels` for both aspp_channels and instance_aspp_channels); the model names the binding.
  with pytest.raises(ValueError) as error:
    panoptic_deeplab.PanopticDeepLab(_Backbone(), 3, **{argument: 0})
  assert str(error.value).startswith(f'PanopticDeepLab: {argument} ')
  assert f'{argument}=0' in str(error.value)


@pytest.mark.parametrize('make, argument, value', [
    (lambda: semantic.DeepLabV3Head(3, aspp_channels=0), 'aspp_channels', 0),
    (lambda: semantic.DeepLabV3Head(3, aspp_dropout_rate=1.0), 'aspp_dropout_rate', 1.0),
    (lambda: semantic.DeepLabV3Head(3, aspp_pool_size=(33,)), 'aspp_pool_size', (33,)),
    (lambda: semantic.DeepLabV3Head(3, atrous_rates=(12, 24, 0)), 'atrous_rates', (12, 24, 0)),
    (lambda: semantic.SemanticHead(3, hidden_channels=0), 'hidden_channels', 0),
    (lambda: semantic.SemanticHead(3, num_convs=2, dilation_rate=-12), 'dilation_rate', -12),
    (lambda: panoptic_heads.PanopticDeepLabHead(8, 3, kernel_size=0), 'kernel_size', 0),
    (lambda: panoptic_heads.PanopticDeepLabHead(8, 0), 'output_channels', 0),
    (lambda: panoptic_heads.PanopticDeepLabDecoder(fusion_kernel_size=0), 'fusion_kernel_size', 0),
    (lambda: panoptic_heads.PanopticDeepLabDecoder(aspp_channels=0), 'aspp_channels', 0),
    (lambda: panoptic_heads.PanopticDeepLabDecoder(decoder_channels=-8), 'decoder_channels', -8),
], ids=['deeplabv3_aspp_channels', 'deeplabv3_aspp_dropout', 'deeplabv3_pool_size', 'deeplabv3_rates',
        'semantic_hidden_channels', 'semantic_dilation', 'panoptic_head_kernel', 'panoptic_head_outputs',
        'decoder_fusion_kernel', 'decoder_aspp_channels', 'decoder_channels'])
def test_heads(make, argument, value):
  _assert_rejected(make, argument, value)


@pytest.mark.parametrize('model_file, binding, shown', [
    ('models/wide_resnet41.gin', 'SWideRNet.width_multiplier = -0.5', 'width_multiplier=-0.5'),
    ('models/wide_resnet41.gin', 'SWideRNet.depth_multiplier = 0.0', 'depth_multiplier=0.0'),
    ('models/resnet_rs_50.gin', 'ResNetRS.squeeze_excite_ratio = 1.5', 'squeeze_excite_ratio=1.5'),
    ('models/wide_resnet38_a.gin', "WideResNet38.variant = 'b'", "variant='b'"),
    ('models/wide_resnet41.gin', 'PanopticDeepLab.center_head_channels = 0', 'center_head_channels=0'),
])
def test_a_bad_gin_binding_fails_when_the_model_is_constructed(model_file, binding, shown):
  """The way users meet these errors: a binding in a shipped model file, raised by the constructor before
  any layer or variable of the backbone exists."""
  main.parse_gin([model_file, 'data/cityscapes_panoptic.gin'], [binding])
  try:
    experiment = gin_registry.configured('Experiment')()
    with pytest.raises(ValueError, match=shown.replace('(', r'\(').replace(')', r'\)')):
      experiment.model_fn(num_classes=19)
  finally:
    gin.clear_config()
