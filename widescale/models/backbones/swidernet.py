"""SWideRNet-(w1, w2, l) and Wide-ResNet-41.

References:
  - Chen, Wang, Qiao, "Scaling Wide Residual Networks for Panoptic Segmentation", arXiv 2011.11675
    (SWideRNet: Wide-ResNet-41 + squeeze-and-excite + switchable atrous convolution, scaled by the stem
    width w1, the width w2 of the other stages and the depth l of the other stages).
  - Chen et al., "Naive-Student", ECCV 2020, arXiv 2005.10266 (Wide-ResNet-41: Wide-ResNet-38 of Wu et al.
    without its last residual block and with the second-last block repeated twice more).
  - google-research/deeplab2 `model/encoder/axial_resnet_instances.py` (`SWideRNet`), whose choices are
    the defaults here: strided convolution in the first block of a stage, a 3x3 stride-2 stem without
    max-pool, SE (when on) in all five stages.

Layout at w1 = w2 = l = 1 (blocks per stage 3, 3, 6, 3, 3; l scales all but res1):
  stem  3x3 conv 64, stride 2, BN-ReLU                       stride 2
  res1  basic [128, 128] x 3                                 stride 2
  res2  basic [256, 256] x 3                                 stride 4
  res3  basic [512, 512] x 6                                 stride 8
  res4  basic [1024, 1024] x 3                               stride 16
  res5  bottleneck [512, 1024, 2048] x 3                     stride 32 (or dilated to output_stride)
"""

import dataclasses
import math
import numbers
from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf
import tf_keras

from widescale.layers import conv_bn_act
from widescale.layers import drop_path
from widescale.layers import squeeze_excite

STAGE_NAMES = ('res1', 'res2', 'res3', 'res4', 'res5')
DROP_PATH_SCHEDULES = ('stage', 'block')


@dataclasses.dataclass(frozen=True)
class _Stage:
  """One stage of Wide-ResNet-41: block widths are round(base_width * multiplier) * expansion."""
  name: str
  base_width: int
  expansions: Tuple[int, ...]  # two entries: basic block; three: bottleneck
  num_blocks: int  # at depth_multiplier 1
  stride: int  # stride of the stage in the original network (res1 keeps the stem's resolution)


_STAGES = (
    _Stage('res1', 32, (4, 4), 3, 1),
    _Stage('res2', 64, (4, 4), 3, 2),
    _Stage('res3', 128, (4, 4), 6, 2),
    _Stage('res4', 256, (4, 4), 3, 2),
    _Stage('res5', 512, (1, 2, 4), 3, 2),
)


@tf_keras.utils.register_keras_serializable(package='widescale')
class ResidualBlock(tf_keras.layers.Layer):
  """Wide-ResNet residual block: basic (3x3, 3x3) or bottleneck (1x1, 3x3, 1x1), post-activation.

  relu(drop_path(se(branch(x))) + shortcut(x)); the branch's last BN starts with gamma = 0 so the block
  starts as its shortcut (Goyal et al., arXiv 1706.02677). The shortcut is a 1x1 conv + BN whenever the
  block changes the number of channels or the resolution (SPEC); deeplab2 only projects on a change of
  channels and subsamples otherwise, which differs only for blocks that stride without widening -- none
  in deeplab2's layout of any variant in `VARIANTS`.

  Args:
    filters: two (basic) or three (bottleneck) output channel counts of the branch convolutions.
    strides: stride of the block, applied by the first 3x3 conv (and the shortcut).
    dilation_rate: atrous rate of the first 3x3 conv.
    second_dilation_rate: atrous rate of a basic block's second 3x3 conv (default: dilation_rate); it
      differs in the block where a stride is replaced by dilation.
    use_squeeze_excite: apply `SqueezeExcite` at the end of the branch.
    use_switchable_atrous_conv: make every stride-1 3x3 conv a `SwitchableAtrousConv`.
    sac_learned_delta_kernel: SAC's large rate learns its own kernel delta (DetectoRS option).
    drop_path_keep_prob: keep probability of the branch in training (1 disables drop path).
    bn_momentum: BN momentum.
    bn_epsilon: BN epsilon.
    sync_batch_norm: synchronise BN statistics across replicas.
    kernel_initializer: convolution kernel initializer.
    **kwargs: Layer arguments (name, dtype, ...).
  """

  def __init__(self,
               filters: Sequence[int],
               strides: int = 1,
               dilation_rate: int = 1,
               second_dilation_rate: Optional[int] = None,
               use_squeeze_excite: bool = False,
               use_switchable_atrous_conv: bool = False,
               sac_learned_delta_kernel: bool = False,
               drop_path_keep_prob: float = 1.0,
               bn_momentum: float = 0.99,
               bn_epsilon: float = 1e-3,
               sync_batch_norm: bool = False,
               kernel_initializer='he_normal',
               **kwargs):
    super().__init__(**kwargs)
    if len(filters) not in (2, 3):
      raise ValueError(f'ResidualBlock: filters must have 2 (basic) or 3 (bottleneck) entries, '
                       f'got filters={filters!r}.')
    if not (isinstance(drop_path_keep_prob, numbers.Real) and 0.0 < drop_path_keep_prob <= 1.0):
      raise ValueError(f'ResidualBlock: drop_path_keep_prob must be in (0, 1], '
                       f'got drop_path_keep_prob={drop_path_keep_prob!r}.')
    self.filters = tuple(int(f) for f in filters)
    self.strides = int(strides)
    self.dilation_rate = int(dilation_rate)
    self.second_dilation_rate = self.dilation_rate if second_dilation_rate is None else int(
        second_dilation_rate)
    self.use_squeeze_excite = use_squeeze_excite
    self.use_switchable_atrous_conv = use_switchable_atrous_conv
    self.sac_learned_delta_kernel = sac_learned_delta_kernel
    self.drop_path_keep_prob = drop_path_keep_prob
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm
    self.kernel_initializer = kernel_initializer

    def conv(filters, kernel_size, name, strides=1, rate=1, activation='relu', gamma='ones'):
      conv_type = 'standard'
      if use_switchable_atrous_conv and kernel_size == 3 and strides == 1:
        conv_type = 'switchable_atrous'
      return conv_bn_act.ConvBNAct(
          filters, kernel_size, strides=strides, dilation_rate=rate, conv_type=conv_type,
          activation=activation, bn_gamma_initializer=gamma, bn_momentum=bn_momentum,
          bn_epsilon=bn_epsilon, sync_batch_norm=sync_batch_norm, kernel_initializer=kernel_initializer,
          sac_learned_delta_kernel=sac_learned_delta_kernel, name=name)

    if len(self.filters) == 2:
      self.branch = [
          conv(self.filters[0], 3, 'conv1', self.strides, self.dilation_rate),
          conv(self.filters[1], 3, 'conv2', 1, self.second_dilation_rate, activation=None, gamma='zeros'),
      ]
    else:
      self.branch = [
          conv(self.filters[0], 1, 'conv1'),
          conv(self.filters[1], 3, 'conv2', self.strides, self.dilation_rate),
          conv(self.filters[2], 1, 'conv3', activation=None, gamma='zeros'),
      ]
    self.squeeze_excite = squeeze_excite.SqueezeExcite(name='squeeze_excite') if use_squeeze_excite else None
    self.drop_path = drop_path.DropPath(drop_path_keep_prob, name='drop_path')
    self.shortcut = None

  def build(self, input_shape):
    if int(input_shape[-1]) != self.filters[-1] or self.strides != 1:
      self.shortcut = conv_bn_act.ConvBNAct(
          self.filters[-1], 1, strides=self.strides, activation=None, bn_momentum=self.bn_momentum,
          bn_epsilon=self.bn_epsilon, sync_batch_norm=self.sync_batch_norm,
          kernel_initializer=self.kernel_initializer, name='shortcut')
    super().build(input_shape)

  def call(self, inputs, training=None):
    shortcut = inputs if self.shortcut is None else self.shortcut(inputs, training=training)
    x = inputs
    for layer in self.branch:
      x = layer(x, training=training)
    if self.squeeze_excite is not None:
      x = self.squeeze_excite(x)
    x = self.drop_path(x, training=training)
    return tf.nn.relu(x + shortcut)

  def get_config(self):
    config = super().get_config()
    config.update(
        filters=list(self.filters),
        strides=self.strides,
        dilation_rate=self.dilation_rate,
        second_dilation_rate=self.second_dilation_rate,
        use_squeeze_excite=self.use_squeeze_excite,
        use_switchable_atrous_conv=self.use_switchable_atrous_conv,
        sac_learned_delta_kernel=self.sac_learned_delta_kernel,
        drop_path_keep_prob=self.drop_path_keep_prob,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
        kernel_initializer=conv_bn_act.serialize_initializer(self.kernel_initializer),
    )
    return config


@tf_keras.utils.register_keras_serializable(package='widescale')
class SWideRNet(tf_keras.Model):
  """SWideRNet-(w1, w2, l) backbone; Wide-ResNet-41 is SWideRNet-(1, 1, 1) without SE and SAC.

  `call(images, training=None)` takes normalised images [B, H, W, 3] and returns a dict of ReLU-activated
  endpoints: 'stem' (stride 2), 'res1' (2), 'res2' (4), 'res3' (8), 'res4' (16), 'res5' (32, or
  `output_stride` when stages past it dilate instead of striding).

  Args:
    stem_width_multiplier: w1, scales the stem (round(64 * w1)) and res1 channels.
    width_multiplier: w2, scales the channels of res2..res5.
    depth_multiplier: l, res2..res5 get int(n * l) blocks for n in (3, 6, 3, 3); res1 keeps 3.
    output_stride: 8, 16 or 32; stages that would stride past it dilate instead.
    use_squeeze_excite: add the simplified squeeze-and-excite to the blocks of `squeeze_excite_stages`.
    squeeze_excite_stages: stage names with SE; deeplab2 uses all five, the paper the last four
      ('res2', 'res3', 'res4', 'res5').
    use_switchable_atrous_conv: use SAC for the stride-1 3x3 convs of stages at or beyond
      `sac_beyond_stride`.
    sac_beyond_stride: original-network output stride from which SAC applies (32: res5 only).
    sac_learned_delta_kernel: SAC's large rate learns a kernel delta (DetectoRS option; off in deeplab2).
    drop_path_keep_prob: drop-path keep probability at the last stage (1 disables drop path).
    drop_path_schedule: 'stage' (deeplab2): keep = 1 - (1 - keep_prob) * (log2(s) - 1) / 4 for a block
      whose input is at original stride s >= 4, else 1; 'block': keep falls linearly over all blocks,
      reaching `drop_path_keep_prob` at the last one.
    stride_in_last_block: stride in the last block of a stage (the paper) instead of the first (deeplab2).
    bn_momentum: BN momentum (0.99).
    bn_epsilon: BN epsilon (1e-3, the Keras and deeplab2 default).
    sync_batch_norm: synchronise BN statistics across replicas (needed for the papers' batch statistics
      under MirroredStrategy / TPUStrategy).
    conv_kernel_initializer: initializer of the convolution kernels (deeplab2: he_normal).
    **kwargs: Model arguments (name, ...).
  """

  def __init__(self,
               stem_width_multiplier: float = 1.0,
               width_multiplier: float = 1.0,
               depth_multiplier: float = 1.0,
               output_stride: int = 16,
               use_squeeze_excite: bool = False,
               squeeze_excite_stages: Sequence[str] = STAGE_NAMES,
               use_switchable_atrous_conv: bool = False,
               sac_beyond_stride: int = 32,
               sac_learned_delta_kernel: bool = False,
               drop_path_keep_prob: float = 0.8,
               drop_path_schedule: str = 'stage',
               stride_in_last_block: bool = False,
               bn_momentum: float = 0.99,
               bn_epsilon: float = 1e-3,
               sync_batch_norm: bool = False,
               conv_kernel_initializer='he_normal',
               **kwargs):
    kwargs.setdefault('name', 'swidernet')
    super().__init__(**kwargs)
    _check_positive('stem_width_multiplier', stem_width_multiplier)
    _check_positive('width_multiplier', width_multiplier)
    _check_positive('depth_multiplier', depth_multiplier)
    if output_stride not in (8, 16, 32):
      raise ValueError(f'SWideRNet: output_stride must be 8, 16 or 32, got output_stride={output_stride!r}.')
    # A bare string ('res2') would be read as its characters; ask for a sequence of names instead.
    stages = squeeze_excite_stages if isinstance(squeeze_excite_stages, str) else tuple(squeeze_excite_stages)
    if isinstance(stages, str) or any(stage not in STAGE_NAMES for stage in stages):
      raise ValueError(f'SWideRNet: squeeze_excite_stages must be a sequence of stage names from '
                       f'{STAGE_NAMES}, got squeeze_excite_stages={stages!r}.')
    if sac_beyond_stride not in (2, 4, 8, 16, 32):
      raise ValueError(f'SWideRNet: sac_beyond_stride must be 2, 4, 8, 16 or 32, '
                       f'got sac_beyond_stride={sac_beyond_stride!r}.')
    if not (isinstance(drop_path_keep_prob, numbers.Real) and 0.0 < drop_path_keep_prob <= 1.0):
      raise ValueError(f'SWideRNet: drop_path_keep_prob must be in (0, 1], '
                       f'got drop_path_keep_prob={drop_path_keep_prob!r}.')
    if drop_path_schedule not in DROP_PATH_SCHEDULES:
      raise ValueError(f'SWideRNet: drop_path_schedule must be one of {DROP_PATH_SCHEDULES}, '
                       f'got drop_path_schedule={drop_path_schedule!r}.')
    conv_bn_act.check_batch_norm_args('SWideRNet', bn_momentum, bn_epsilon)

    self.stem_width_multiplier = stem_width_multiplier
    self.width_multiplier = width_multiplier
    self.depth_multiplier = depth_multiplier
    self.output_stride = output_stride
    self.use_squeeze_excite = use_squeeze_excite
    self.squeeze_excite_stages = tuple(squeeze_excite_stages)
    self.use_switchable_atrous_conv = use_switchable_atrous_conv
    self.sac_beyond_stride = sac_beyond_stride
    self.sac_learned_delta_kernel = sac_learned_delta_kernel
    self.drop_path_keep_prob = drop_path_keep_prob
    self.drop_path_schedule = drop_path_schedule
    self.stride_in_last_block = stride_in_last_block
    self.bn_momentum = bn_momentum
    self.bn_epsilon = bn_epsilon
    self.sync_batch_norm = sync_batch_norm
    self.conv_kernel_initializer = conv_kernel_initializer

    self.num_blocks = self._num_blocks()
    bn_kwargs = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, sync_batch_norm=sync_batch_norm)
    stem_channels = int(round(64 * stem_width_multiplier))
    if stem_channels < 1:
      raise ValueError(f'SWideRNet: stem_width_multiplier={stem_width_multiplier!r} leaves the stem with '
                       f'{stem_channels} channels.')
    self.stem = conv_bn_act.ConvBNAct(
        stem_channels, 3, strides=2, kernel_initializer=conv_kernel_initializer, name='stem', **bn_kwargs)
    self.stages = []
    for stage, blocks in zip(_STAGES, self.block_plan()):
      self.stages.append([
          ResidualBlock(kernel_initializer=conv_kernel_initializer, name=f'{stage.name}_block{index + 1}',
                        **bn_kwargs, **block)
          for index, block in enumerate(blocks)
      ])

  def _num_blocks(self) -> Tuple[int, ...]:
    counts = [_STAGES[0].num_blocks] + [int(stage.num_blocks * self.depth_multiplier) for stage in _STAGES[1:]]
    empty = [stage.name for stage, count in zip(_STAGES, counts) if count < 1]
    if empty:
      raise ValueError(f'SWideRNet: depth_multiplier={self.depth_multiplier!r} leaves no blocks in {empty}; '
                       f'it must be >= 1/3.')
    return tuple(counts)

  def _stage_filters(self, stage: _Stage) -> Tuple[int, ...]:
    multiplier = self.stem_width_multiplier if stage.name == 'res1' else self.width_multiplier
    # deeplab2 rounds the base width before expanding it, so every block width is a multiple of it.
    base = int(round(stage.base_width * multiplier))
    if base < 1:
      raise ValueError(f'SWideRNet: {"stem_" if stage.name == "res1" else ""}width_multiplier='
                       f'{multiplier!r} leaves {stage.name} with no channels.')
    return tuple(base * expansion for expansion in stage.expansions)

  def block_plan(self) -> Tuple[Tuple[Dict, ...], ...]:
    """Per stage, the ResidualBlock arguments of each block (strides, rates, SE, SAC, drop path)."""
    total_blocks = sum(self.num_blocks)
    original_stride = 2  # after the stem, in the network without dilation
    rate = 1  # product of the strides replaced by dilation so far
    block_index = 0
    plan = []
    for stage, num_blocks in zip(_STAGES, self.num_blocks):
      filters = self._stage_filters(stage)
      use_sac = (self.use_switchable_atrous_conv and
                 original_stride * stage.stride >= self.sac_beyond_stride)
      use_se = self.use_squeeze_excite and stage.name in self.squeeze_excite_stages
      stride_block = num_blocks - 1 if self.stride_in_last_block else 0
      blocks = []
      for index in range(num_blocks):
        block = dict(filters=filters, strides=1, dilation_rate=rate, second_dilation_rate=rate,
                     use_squeeze_excite=use_se, use_switchable_atrous_conv=use_sac,
                     sac_learned_delta_kernel=self.sac_learned_delta_kernel,
                     drop_path_keep_prob=self._keep_prob(original_stride, block_index, total_blocks))
        if index == stride_block and stage.stride > 1:
          if original_stride < self.output_stride:
            block['strides'] = stage.stride
          else:
            # Past the output stride the stride becomes dilation from the next convolution on, as in
            # DeepLab; the conv that would have strided keeps the current rate.
            rate *= stage.stride
            block['second_dilation_rate'] = rate
          original_stride *= stage.stride
        blocks.append(block)
        block_index += 1
      plan.append(tuple(blocks))
    return tuple(plan)

  def _keep_prob(self, input_stride: int, block_index: int, total_blocks: int) -> float:
    if self.drop_path_schedule == 'block':
      return 1.0 - (1.0 - self.drop_path_keep_prob) * (block_index + 1) / total_blocks
    if input_stride < 4:
      return 1.0
    stage = math.log2(input_stride) - 1
    return 1.0 - (1.0 - self.drop_path_keep_prob) * stage / 4

  def call(self, images, training=None):
    x = self.stem(images, training=training)
    endpoints = {'stem': x}
    for stage, blocks in zip(_STAGES, self.stages):
      for block in blocks:
        x = block(x, training=training)
      endpoints[stage.name] = x
    return endpoints

  @classmethod
  def from_variant(cls, variant: str, **overrides) -> 'SWideRNet':
    """Builds a named variant of `VARIANTS`; `overrides` set any other constructor argument."""
    if variant not in VARIANTS:
      raise ValueError(f'SWideRNet.from_variant: unknown variant={variant!r}; known: {sorted(VARIANTS)}.')
    kwargs = VARIANTS[variant].kwargs()
    kwargs.setdefault('name', variant.replace('.', '_'))
    kwargs.update(overrides)
    return cls(**kwargs)

  def get_config(self):
    # Model.get_config of a subclassed model drops name/trainable/dtype; Layer's keeps them.
    config = tf_keras.layers.Layer.get_config(self)
    config.update(
        stem_width_multiplier=self.stem_width_multiplier,
        width_multiplier=self.width_multiplier,
        depth_multiplier=self.depth_multiplier,
        output_stride=self.output_stride,
        use_squeeze_excite=self.use_squeeze_excite,
        squeeze_excite_stages=list(self.squeeze_excite_stages),
        use_switchable_atrous_conv=self.use_switchable_atrous_conv,
        sac_beyond_stride=self.sac_beyond_stride,
        sac_learned_delta_kernel=self.sac_learned_delta_kernel,
        drop_path_keep_prob=self.drop_path_keep_prob,
        drop_path_schedule=self.drop_path_schedule,
        stride_in_last_block=self.stride_in_last_block,
        bn_momentum=self.bn_momentum,
        bn_epsilon=self.bn_epsilon,
        sync_batch_norm=self.sync_batch_norm,
        conv_kernel_initializer=conv_bn_act.serialize_initializer(self.conv_kernel_initializer),
    )
    return config

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


def _check_positive(name: str, value) -> None:
  if not (isinstance(value, (int, float)) and value > 0):
    raise ValueError(f'SWideRNet: {name} must be a positive number, got {name}={value!r}.')


@dataclasses.dataclass(frozen=True)
class Variant:
  """A named SWideRNet: (w1, w2, l), whether it uses SE and SAC, and where it comes from."""
  stem_width_multiplier: float
  width_multiplier: float
  depth_multiplier: float
  use_squeeze_excite: bool
  use_switchable_atrous_conv: bool
  reference: str
  squeeze_excite_stages: Optional[Tuple[str, ...]] = None  # None: the SWideRNet default (all five)

  def kwargs(self) -> Dict:
    kwargs = dict(stem_width_multiplier=self.stem_width_multiplier, width_multiplier=self.width_multiplier,
                  depth_multiplier=self.depth_multiplier, use_squeeze_excite=self.use_squeeze_excite,
                  use_switchable_atrous_conv=self.use_switchable_atrous_conv)
    if self.squeeze_excite_stages is not None:
      kwargs['squeeze_excite_stages'] = self.squeeze_excite_stages
    return kwargs


_DEEPLAB2_ZOO = ('deeplab2 g3doc/projects/panoptic_deeplab.md, Cityscapes model zoo '
                 '(SAC without SE; configs/cityscapes/panoptic_deeplab/')
_PAPER = 'Chen, Wang, Qiao, arXiv 2011.11675'
_PAPER_SE_STAGES = ('res2', 'res3', 'res4', 'res5')

# Parameter counts are trainable backbone parameters at output stride 16 (tests/models/test_swidernet.py).
VARIANTS = {
    'wide_resnet41': Variant(
        1, 1, 1, False, False,
        'Wide-ResNet-41, Naive-Student (Chen et al., arXiv 2005.10266); deeplab2 wide_resnet41_os16. '
        '109,014,080 params.'),
    'swidernet_sac_1_1_1': Variant(
        1, 1, 1, False, True, _DEEPLAB2_ZOO + 'swidernet_sac_1_1_1_os16.textproto). 112,952,387 params.'),
    'swidernet_sac_1_1_3': Variant(
        1, 1, 3, False, True, _DEEPLAB2_ZOO + 'swidernet_sac_1_1_3_os16.textproto). 345.06M params.'),
    'swidernet_sac_1_1_4': Variant(
        1, 1, 4, False, True,
        f'{_PAPER} strong model (COCO, ADE20K), built the deeplab2 way (SAC without SE).'),
    'swidernet_sac_1_1_4.5': Variant(
        1, 1, 4.5, False, True, _DEEPLAB2_ZOO + 'swidernet_sac_1_1_4.5_os16.textproto). 504.52M params.'),
    'swidernet_sac_0.25_0.25_0.75': Variant(
        0.25, 0.25, 0.75, False, True,
        f'{_PAPER} fast regime (w1 = 0.25 grid), built the deeplab2 way (SAC without SE). 4.65M params.'),
    # The paper's SWideRNet: SE in the last four stages and SAC in the last stage (Sec. 3.1).
    'swidernet_1_1_1': Variant(
        1, 1, 1, True, True, f'{_PAPER}, baseline of the scaling grids.', _PAPER_SE_STAGES),
    'swidernet_1_1_4': Variant(
        1, 1, 4, True, True, f'{_PAPER}, strong model (COCO, ADE20K).', _PAPER_SE_STAGES),
    'swidernet_1_1_4.5': Variant(
        1, 1, 4.5, True, True, f'{_PAPER}, strong model (Cityscapes, Mapillary Vistas).', _PAPER_SE_STAGES),
    'swidernet_0.25_0.25_0.75': Variant(
        0.25, 0.25, 0.75, True, True, f'{_PAPER}, fast regime.', _PAPER_SE_STAGES),
}
