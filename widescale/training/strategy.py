"""Choosing the tf.distribute strategy: one code path for CPU, GPUs and TPUs."""

from typing import Optional

from absl import logging
import tensorflow as tf

DISTRIBUTIONS = ('default', 'mirrored', 'multi_worker_mirrored', 'tpu')


def create_strategy(distribution: str = 'default', tpu: Optional[str] = None,
                    num_gpus: Optional[int] = None) -> tf.distribute.Strategy:
  """Returns the strategy named by `distribution`.

  Args:
    distribution: 'default' (one device, the default strategy), 'mirrored' (all local GPUs, or all
      logical CPUs when there is no GPU), 'multi_worker_mirrored' (workers from $TF_CONFIG) or 'tpu'.
    tpu: for 'tpu': 'local' on a TPU VM, else a TPU name or grpc:// address. Ignored otherwise.
    num_gpus: for 'mirrored', how many local GPUs to use (default all).

  Raises:
    ValueError: for an unknown distribution name.
  """
  if distribution == 'default':
    return tf.distribute.get_strategy()
  if distribution == 'mirrored':
    gpus = tf.config.list_logical_devices('GPU')
    if num_gpus is not None:
      gpus = gpus[:num_gpus]
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices('CPU')]
    logging.info('MirroredStrategy over %s', devices)
    return tf.distribute.MirroredStrategy(devices=devices)
  if distribution == 'multi_worker_mirrored':
    return tf.distribute.MultiWorkerMirroredStrategy()
  if distribution == 'tpu':
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or 'local')
    if tpu not in (None, '', 'local'):
      tf.config.experimental_connect_to_cluster(resolver)
    # The TPU system is initialised once per process; a second initialisation would wipe its state.
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f'Unknown distribution {distribution!r} (--distribution or run_experiment.distribution);'
                   f' expected one of {DISTRIBUTIONS}.')
