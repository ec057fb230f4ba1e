"""Training-step speed of small Panoptic-DeepLab models on this machine (for sizing the CPU demo).

One step = forward + backward of a loss on all three outputs (softmax cross-entropy, center MSE, offset L1
on random targets) + an Adam update, inside one tf.function, training=True (BN batch statistics, drop
path). Prints one row per configuration: trainable parameters, steps/s and images/s.

  .venv/bin/python benchmarks/model_step_speed.py                # all configurations, batch 8, 128x128
  .venv/bin/python benchmarks/model_step_speed.py --configs=narrow_0.25_0.25_0.5_os32 --steps=20

Cost: about 3-4 minutes for all configurations on 2 CPU cores. Measured on this project's 2-core Xeon
(TF 2.21, no XLA), batch 8 at 128x128, steps/s: sac_0.25_0.25_0.75 OS16 0.39, OS16 with rates (1, 2, 3)
1.49, OS32 1.08; narrow_0.25_0.25_0.5 OS16 1.71, OS16 rates (1, 2, 3) 3.22, OS32 3.02;
narrow_0.125_0.25_0.5_os32 4.29; narrow_0.125_0.125_0.5_os32 6.28. With --jit_compile the narrow OS32
model runs 0.67 steps/s (XLA on this CPU is slower).
"""

import argparse
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402  (after the log level is set)
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from widescale.models import panoptic_deeplab  # noqa: E402
from widescale.models import summary  # noqa: E402
from widescale.models.backbones import swidernet  # noqa: E402

NUM_CLASSES = 6  # the synthetic 'shapes' dataset

# Decoder and head widths of a narrow Panoptic-DeepLab (deeplab2's defaults are 256/128/256/32/32).
_NARROW_HEADS = dict(
    aspp_channels=64, semantic_decoder_channels=64, semantic_low_level_channels=(32, 16),
    instance_aspp_channels=32, instance_decoder_channels=32, instance_low_level_channels=(16, 8),
    semantic_head_channels=64, center_head_channels=16, offset_head_channels=16)

# name -> (backbone arguments, PanopticDeepLab arguments)
CONFIGS = {
    'sac_0.25_0.25_0.75_os16': (dict(stem_width_multiplier=0.25, width_multiplier=0.25, depth_multiplier=0.75,
                                     use_switchable_atrous_conv=True, output_stride=16), {}),
    'sac_0.25_0.25_0.75_os32': (dict(stem_width_multiplier=0.25, width_multiplier=0.25, depth_multiplier=0.75,
                                     use_switchable_atrous_conv=True, output_stride=32), {}),
    'narrow_0.25_0.25_0.5_os16': (dict(stem_width_multiplier=0.25, width_multiplier=0.25, depth_multiplier=0.5,
                                       output_stride=16), _NARROW_HEADS),
    'sac_0.25_0.25_0.75_os16_rates123': (dict(stem_width_multiplier=0.25, width_multiplier=0.25,
                                              depth_multiplier=0.75, use_switchable_atrous_conv=True,
                                              output_stride=16), dict(atrous_rates=(1, 2, 3))),
    # At 128x128 the OS-16 map is 8x8: rates (6, 12, 18) only reach padding, and CPU/GPU TensorFlow runs
    # dilated convs through space-to-batch, which is slow on maps that small. Rates 1, 2, 3 fit the crop.
    'narrow_0.25_0.25_0.5_os16_rates123': (dict(stem_width_multiplier=0.25, width_multiplier=0.25,
                                                depth_multiplier=0.5, output_stride=16),
                                           dict(_NARROW_HEADS, atrous_rates=(1, 2, 3))),
    'narrow_0.25_0.25_0.5_os32': (dict(stem_width_multiplier=0.25, width_multiplier=0.25, depth_multiplier=0.5,
                                       output_stride=32), _NARROW_HEADS),
    'narrow_0.125_0.25_0.5_os32': (dict(stem_width_multiplier=0.125, width_multiplier=0.25,
                                        depth_multiplier=0.5, output_stride=32), _NARROW_HEADS),
    'narrow_0.125_0.125_0.5_os32': (dict(stem_width_multiplier=0.125, width_multiplier=0.125,
                                         depth_multiplier=0.5, output_stride=32), _NARROW_HEADS),
}


def build(name: str) -> tf_keras.Model:
  backbone_kwargs, model_kwargs = CONFIGS[name]
  return panoptic_deeplab.PanopticDeepLab(swidernet.SWideRNet(**backbone_kwargs), NUM_CLASSES, **model_kwargs)


def measure(name: str, batch_size: int, size: int, steps: int, jit_compile: bool) -> dict:
  """Builds configuration `name`, compiles its train step, and times `steps` steps after two warm-ups."""
  tf_keras.backend.clear_session()
  model = build(name)
  optimizer = tf_keras.optimizers.Adam(1e-3)
  images = tf.random.uniform([batch_size, size, size, 3], 0, 255)
  semantic = tf.random.uniform([batch_size, size, size], 0, NUM_CLASSES, tf.int32)
  center = tf.random.uniform([batch_size, size, size])
  offsets = tf.random.normal([batch_size, size, size, 2])

  @tf.function(jit_compile=jit_compile)
  def train_step():
    with tf.GradientTape() as tape:
      outputs = model(images, training=True)
      loss = (tf.reduce_mean(tf_keras.losses.sparse_categorical_crossentropy(
          semantic, outputs['semantic_logits'], from_logits=True))
              + 200.0 * tf.reduce_mean(tf.square(outputs['center_heatmap'] - center))
              + 0.01 * tf.reduce_mean(tf.abs(outputs['center_offsets'] - offsets)))
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return loss

  start = time.perf_counter()
  train_step().numpy()
  compile_seconds = time.perf_counter() - start
  train_step().numpy()
  step_seconds = []
  for _ in range(steps):
    start = time.perf_counter()
    train_step().numpy()
    step_seconds.append(time.perf_counter() - start)
  # The median step resists other processes sharing the cores for part of the run.
  seconds = float(np.median(step_seconds))
  return {
      'name': name,
      'params': summary.count_trainable_params(model),
      'steps_per_second': 1.0 / seconds,
      'images_per_second': batch_size / seconds,
      'first_step_seconds': compile_seconds,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--configs', default=','.join(CONFIGS), help=f'comma-separated subset of {list(CONFIGS)}')
  parser.add_argument('--batch_size', type=int, default=8)
  parser.add_argument('--size', type=int, default=128, help='square input size')
  parser.add_argument('--steps', type=int, default=10, help='timed steps per configuration')
  parser.add_argument('--jit_compile', action='store_true', help='compile the step with XLA')
  args = parser.parse_args()
  names = args.configs.split(',')
  unknown = [name for name in names if name not in CONFIGS]
  if unknown:
    parser.error(f'--configs: unknown {unknown}; known: {list(CONFIGS)}')

  print(f'batch {args.batch_size}, {args.size}x{args.size}, median of {args.steps} steps, '
        f'jit_compile={args.jit_compile}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}')
  print(f'{"configuration":<36} {"params":>12} {"steps/s":>8} {"images/s":>9} {"1st step s":>10}')
  for name in names:
    row = measure(name, args.batch_size, args.size, args.steps, args.jit_compile)
    print(f'{row["name"]:<36} {row["params"]:>12,} {row["steps_per_second"]:>8.2f} '
          f'{row["images_per_second"]:>9.1f} {row["first_step_seconds"]:>10.1f}', flush=True)


if __name__ == '__main__':
  main()
