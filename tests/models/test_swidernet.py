"""Tests of widescale.models.backbones.swidernet (tiny shapes; full-size counts: test_model_sizes.py)."""

import numpy as np
import pytest
import tensorflow as tf

from widescale.models.backbones import swidernet

_TINY = dict(stem_width_multiplier=0.25, width_multiplier=0.125, depth_multiplier=0.5)


def _num_params(model):
  return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


@pytest.mark.parametrize('output_stride, stride_in_last_block', [(32, False), (16, False), (8, False),
                                                                 (16, True)])
def test_endpoint_shapes_and_strides(output_stride, stride_in_last_block):
  model = swidernet.SWideRNet(**_TINY, output_stride=output_stride, stride_in_last_block=stride_in_last_block)
  endpoints = model(tf.random.normal([2, 64, 64, 3]), training=False)
  strides = {'stem': 2, 'res1': 2, 'res2': 4, 'res3': 8, 'res4': 16, 'res5': 32}
  # round(64 * 0.25); round(32 * 0.25) * 4; round(base * 0.125) * 4 for res2..res4; res5 ends at base * 4.
  channels = {'stem': 16, 'res1': 32, 'res2': 32, 'res3': 64, 'res4': 128, 'res5': 256}
  assert list(endpoints) == list(strides)
  for name, tensor in endpoints.items():
    size = 64 // min(strides[name], output_stride)
    assert tensor.shape == (2, size, size, channels[name]), name


def test_odd_input_sizes_follow_symmetric_padding():
  model = swidernet.SWideRNet(**_TINY, output_stride=16)
  endpoints = model(tf.zeros([1, 65, 65, 3]))
  assert [endpoints[name].shape[1] for name in ('stem', 'res2', 'res3', 'res4', 'res5')] == [33, 17, 9, 5, 5]


def test_blocks_per_stage_follow_the_depth_multiplier():
  for depth, expected in [(1, (3, 3, 6, 3, 3)), (3, (3, 9, 18, 9, 9)), (4.5, (3, 13, 27, 13, 13)),
                          (0.75, (3, 2, 4, 2, 2))]:
    model = swidernet.SWideRNet(depth_multiplier=depth)
    assert model.num_blocks == expected
    assert tuple(len(stage) for stage in model.stages) == expected


def test_deeplab2_plan_at_output_stride_16():
  plan = swidernet.SWideRNet(output_stride=16, use_switchable_atrous_conv=True).block_plan()
  res5 = plan[4]
  assert [block['filters'] for block in res5] == [(512, 1024, 2048)] * 3
  # res5 replaces its stride by dilation: the first block's 3x3 keeps rate 1, the later ones use rate 2.
  assert [(b['strides'], b['dilation_rate'], b['second_dilation_rate']) for b in res5] == [(1, 1, 2), (1, 2, 2),
                                                                                            (1, 2, 2)]
  assert [b['strides'] for b in plan[1]] == [2, 1, 1]
  # SAC beyond stride 32 is res5 only.
  assert [any(b['use_switchable_atrous_conv'] for b in stage) for stage in plan] == [False] * 4 + [True]
  # deeplab2's per-stage drop path: 1 - 0.2 * (log2(input stride) - 1) / 4, from stride 4 on.
  keep = [[round(b['drop_path_keep_prob'], 4) for b in stage] for stage in plan]
  assert keep == [[1.0] * 3, [1.0, 0.95, 0.95], [0.95] + [0.9] * 5, [0.9, 0.85, 0.85], [0.85, 0.8, 0.8]]


def test_output_stride_8_dilates_res4_and_res5():
  plan = swidernet.SWideRNet(output_stride=8).block_plan()
  assert [(b['strides'], b['dilation_rate'], b['second_dilation_rate']) for b in plan[3]] == [(1, 1, 2),
                                                                                               (1, 2, 2),
                                                                                               (1, 2, 2)]
  assert [(b['strides'], b['dilation_rate']) for b in plan[4]] == [(1, 2), (1, 4), (1, 4)]


def test_paper_layout_strides_in_the_last_block():
  plan = swidernet.SWideRNet(stride_in_last_block=True, output_stride=32).block_plan()
  assert [b['strides'] for b in plan[2]] == [1, 1, 1, 1, 1, 2]


def test_per_block_drop_path_schedule_reaches_keep_prob_at_the_last_block():
  model = swidernet.SWideRNet(drop_path_keep_prob=0.6, drop_path_schedule='block')
  keep = [b['drop_path_keep_prob'] for stage in model.block_plan() for b in stage]
  assert keep[-1] == pytest.approx(0.6)
  assert keep[0] == pytest.approx(1 - 0.4 / 18)
  assert all(a > b for a, b in zip(keep, keep[1:]))


def test_squeeze_excite_and_sac_stages():
  model = swidernet.SWideRNet(**_TINY, use_squeeze_excite=True, squeeze_excite_stages=('res2', 'res5'),
                              use_switchable_atrous_conv=True, sac_beyond_stride=16)
  plan = model.block_plan()
  assert [stage[0]['use_squeeze_excite'] for stage in plan] == [False, True, False, False, True]
  assert [stage[0]['use_switchable_atrous_conv'] for stage in plan] == [False, False, False, True, True]
  model(tf.zeros([1, 32, 32, 3]))
  # At output stride 16 res4's first block strides, so its first 3x3 stays plain (SAC is stride-1 only).
  res4_first = model.stages[3][0]
  assert [layer.conv_type for layer in res4_first.branch] == ['standard', 'switchable_atrous']
  assert model.stages[1][0].squeeze_excite is not None and model.stages[2][0].squeeze_excite is None


def test_blocks_start_as_identities():
  """Zero-initialised last BN gammas: a block without projection returns its (ReLU'd) input."""
  model = swidernet.SWideRNet(0.25, 0.125, 1, use_switchable_atrous_conv=True, use_squeeze_excite=True)
  images = tf.random.normal([2, 32, 32, 3])
  model(images)
  res1 = model.stages[0]
  stem = model.stem(images)
  first = res1[0](stem)
  np.testing.assert_allclose(res1[1](first).numpy(), first.numpy(), rtol=1e-6)
  res5 = model.stages[4]
  features = first
  for stage in model.stages[1:4]:
    for block in stage:
      features = block(features)
  after_first = res5[0](features)
  np.testing.assert_allclose(res5[1](after_first).numpy(), after_first.numpy(), rtol=1e-6)


def test_drop_path_only_changes_training_outputs():
  model = swidernet.SWideRNet(**_TINY, drop_path_keep_prob=0.5)
  images = tf.random.normal([4, 32, 32, 3])
  model(images)
  for stage in model.stages:  # make the branches non-zero so dropping them is visible
    for block in stage:
      block.branch[-1].bn.gamma.assign(tf.ones_like(block.branch[-1].bn.gamma))
  inference = [model(images, training=False)['res5'].numpy() for _ in range(2)]
  np.testing.assert_array_equal(inference[0], inference[1])
  tf.random.set_seed(3)
  training = [model(images, training=True)['res5'].numpy() for _ in range(2)]
  assert not np.allclose(training[0], training[1])


def test_config_round_trip():
  model = swidernet.SWideRNet(**_TINY, output_stride=32, use_squeeze_excite=True,
                              squeeze_excite_stages=('res3',), use_switchable_atrous_conv=True,
                              sac_beyond_stride=16, sac_learned_delta_kernel=True, drop_path_keep_prob=0.7,
                              drop_path_schedule='block', stride_in_last_block=True, bn_momentum=0.9,
                              bn_epsilon=1e-5, sync_batch_norm=True, conv_kernel_initializer='glorot_uniform',
                              name='tiny')
  clone = swidernet.SWideRNet.from_config(model.get_config())
  assert clone.get_config() == model.get_config()
  model(tf.zeros([1, 32, 32, 3]))
  clone(tf.zeros([1, 32, 32, 3]))
  assert _num_params(clone) == _num_params(model)
  assert [v.name for v in clone.weights] == [v.name for v in model.weights]


@pytest.mark.parametrize('name', sorted(swidernet.VARIANTS))
def test_every_variant_constructs(name):
  variant = swidernet.VARIANTS[name]
  model = swidernet.SWideRNet.from_variant(name, output_stride=32)
  assert (model.stem_width_multiplier, model.width_multiplier, model.depth_multiplier) == (
      variant.stem_width_multiplier, variant.width_multiplier, variant.depth_multiplier)
  assert model.use_squeeze_excite == variant.use_squeeze_excite
  assert model.use_switchable_atrous_conv == variant.use_switchable_atrous_conv
  assert model.output_stride == 32
  assert variant.reference


def test_unknown_variant_lists_the_known_ones():
  with pytest.raises(ValueError, match="variant='swidernet_2_2_2'.*wide_resnet41"):
    swidernet.SWideRNet.from_variant('swidernet_2_2_2')


@pytest.mark.parametrize('kwargs, message', [
    (dict(width_multiplier=-1), 'width_multiplier=-1'),
    (dict(stem_width_multiplier=0), 'stem_width_multiplier=0'),
    (dict(depth_multiplier=0), 'depth_multiplier=0'),
    (dict(depth_multiplier=0.2), r'depth_multiplier=0.2 leaves no blocks'),
    (dict(output_stride=12), 'output_stride=12'),
    (dict(drop_path_keep_prob=0.0), 'drop_path_keep_prob=0.0'),
    (dict(drop_path_schedule='cosine'), "drop_path_schedule='cosine'"),
    (dict(squeeze_excite_stages=('res6',)), r"squeeze_excite_stages=\('res6',\)"),
    (dict(sac_beyond_stride=64), 'sac_beyond_stride=64'),
    (dict(bn_momentum=1.0), 'bn_momentum=1.0'),
    (dict(bn_epsilon=0), 'bn_epsilon=0'),
    (dict(width_multiplier=0.001), r'width_multiplier=0.001 leaves res2 with no channels'),
])
def test_invalid_arguments_name_the_value(kwargs, message):
  with pytest.raises(ValueError, match=message):
    swidernet.SWideRNet(**kwargs)
