"""Tests of widescale.layers.drop_path."""

import numpy as np
import pytest
import tensorflow as tf

from widescale.layers import drop_path


def test_identity_at_inference():
  layer = drop_path.DropPath(0.5)
  inputs = tf.random.normal([8, 3, 3, 2])
  for training in (False, None):
    np.testing.assert_array_equal(layer(inputs, training=training).numpy(), inputs.numpy())


def test_training_drops_whole_samples_and_rescales_the_kept_ones():
  tf.random.set_seed(0)
  layer = drop_path.DropPath(0.5)
  inputs = tf.random.normal([256, 3, 3, 2]) + 10.0  # no zeros in the input
  outputs = layer(inputs, training=True).numpy()
  dropped = np.all(outputs == 0.0, axis=(1, 2, 3))
  kept = ~dropped
  np.testing.assert_allclose(outputs[kept], inputs.numpy()[kept] / 0.5, rtol=1e-6)
  assert not np.any(outputs[dropped] != 0.0)
  assert 0.3 < dropped.mean() < 0.7  # Binomial(256, 0.5): far outside is a broken mask


def test_keep_prob_one_is_an_identity_in_training():
  inputs = tf.random.normal([4, 2, 2, 1])
  np.testing.assert_array_equal(drop_path.DropPath(1.0)(inputs, training=True).numpy(), inputs.numpy())


def test_works_inside_tf_function_with_a_tensor_training_flag():
  layer = drop_path.DropPath(0.25)
  inputs = tf.ones([64, 2, 2, 1])
  run = tf.function(lambda x, training: layer(x, training=training))
  np.testing.assert_array_equal(run(inputs, tf.constant(False)).numpy(), inputs.numpy())
  assert np.any(run(inputs, tf.constant(True)).numpy() == 0.0)


@pytest.mark.parametrize('keep_prob', [0.0, -0.1, 1.5])
def test_invalid_keep_prob_names_the_value(keep_prob):
  with pytest.raises(ValueError, match=f'keep_prob={keep_prob!r}'):
    drop_path.DropPath(keep_prob)


def test_config_round_trip():
  layer = drop_path.DropPath(0.7, name='dp')
  assert drop_path.DropPath.from_config(layer.get_config()).get_config() == layer.get_config()
