"""Process-wide test set-up: one TF import, two logical CPU devices for MirroredStrategy tests."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402  (must follow the environment set-up above)

# Two logical CPUs let a MirroredStrategy with 2 replicas run on this machine. This has to happen before
# TF initialises its runtime, i.e. here, before any test touches a tensor.
_cpus = tf.config.list_physical_devices('CPU')
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])


import pytest  # noqa: E402


@pytest.fixture(scope='session')
def shapes_data_dir(tmp_path_factory) -> str:
  """A TFDS data dir holding the tiny `shapes` config (64 train / 16 validation images).

  Also exported as $WIDESCALE_DATA_DIR, so CLI runs (in-process or subprocesses) read it and never
  touch the user's cache.
  """
  from widescale.data import pipeline
  data_dir = str(tmp_path_factory.mktemp('tensorflow_datasets'))
  pipeline.prepare_builder('shapes', builder_config='tiny', data_dir=data_dir)
  os.environ[pipeline.DATA_DIR_ENV_VAR] = data_dir
  return data_dir


@pytest.fixture(scope='session')
def full_shapes_data_dir(shapes_data_dir) -> str:
  """The same data dir with the full `shapes` dataset (2,000 / 200 images) built too (~15 s)."""
  from widescale.data import pipeline
  pipeline.prepare_builder('shapes', data_dir=shapes_data_dir)
  return shapes_data_dir


@pytest.fixture(scope='session')
def mirrored_strategy():
  """One MirroredStrategy over the two logical CPUs, shared by every test that needs one.

  Two MirroredStrategy objects in one process hand out the same collective group and instance keys,
  so the second one's all-reduces collide with the first's ("Shape mismatch in the collective
  instance 100"); a job has one strategy, and so does the test process.
  """
  devices = [device.name for device in tf.config.list_logical_devices('CPU')[:2]]
  assert len(devices) == 2, 'conftest.py should have created two logical CPUs'
  return tf.distribute.MirroredStrategy(devices)
