"""Process-wide test set-up: one TF import, two logical CPU devices for MirroredStrategy tests."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402  (must follow the environment set-up above)

# Two logical CPUs let a MirroredStrategy with 2 replicas run on this machine. This has to happen before
# TF initialises its runtime, i.e. here, before any test touches a tensor.
_cpus = tf.config.list_physical_devices('CPU')
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
