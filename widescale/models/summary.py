"""Size of a model: trainable parameters, FLOPs and output shapes, without running it.

FLOPs are counted by TensorFlow's graph profiler on the traced inference graph (2 per multiply-add for
convolutions and matmuls, 1 per element for element-wise ops and reductions), the way deeplab2's and the
SWideRNet paper's FLOPs are reported. Tracing builds the graph only: nothing is executed, so a 500M
parameter model at 1025x2049 is counted in seconds (after its variables exist).
"""

from typing import Dict, List, Sequence

import numpy as np
import tensorflow as tf
import tf_keras


def count_trainable_params(model: tf_keras.layers.Layer) -> int:
  """Number of trainable scalars of a built model (BN moving statistics are not trainable)."""
  if not model.built:
    raise ValueError(f'count_trainable_params: {model.name!r} is not built; call it once (e.g. on '
                     f'tf_keras.Input) or use summarize(model, input_shape).')
  return int(sum(np.prod(variable.shape) for variable in model.trainable_weights))


def _trace(model: tf_keras.layers.Layer, input_shape: Sequence[int]):
  """Concrete inference function of `model` for a fully static float32 input shape."""
  if len(input_shape) != 4 or any(dim is None or int(dim) < 1 for dim in input_shape):
    raise ValueError(f'input_shape must be a static [batch, height, width, channels], got '
                     f'input_shape={list(input_shape)!r}.')
  spec = tf.TensorSpec([int(dim) for dim in input_shape], tf.float32)
  return tf.function(lambda images: model(images, training=False), autograph=False).get_concrete_function(spec)


def _profile_flops(graph: tf.Graph) -> int:
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options['output'] = 'none'
  return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def count_flops(model: tf_keras.layers.Layer, input_shape: Sequence[int]) -> int:
  """FLOPs of one inference call on a float32 batch of `input_shape` (e.g. [1, 513, 513, 3])."""
  return _profile_flops(_trace(model, input_shape).graph)


def summarize(model: tf_keras.layers.Layer, input_shape: Sequence[int]) -> Dict:
  """Parameters, FLOPs and output shapes of `model` on `input_shape`, as plain (JSON-able) Python values.

  Args:
    model: a Keras model whose call takes a batch of images; built on first trace if needed.
    input_shape: static [batch, height, width, channels].

  Returns:
    {'trainable_params': int, 'total_params': int (trainable + BN moving statistics, the way
     ResNet-RS and other classification papers count), 'flops': int, 'gflops': float,
     'input_shape': list, 'output_shapes': {name: list}} (a single output is named 'output').
  """
  concrete = _trace(model, input_shape)
  outputs = concrete.structured_outputs
  if not isinstance(outputs, dict):
    outputs = {'output': outputs}
  output_shapes: Dict[str, List[int]] = {
      name: [int(dim) for dim in tensor.shape] for name, tensor in sorted(outputs.items())}
  flops = _profile_flops(concrete.graph)
  return {
      'trainable_params': count_trainable_params(model),
      'total_params': int(sum(np.prod(variable.shape) for variable in model.weights)),
      'flops': flops,
      'gflops': round(flops / 1e9, 2),
      'input_shape': [int(dim) for dim in input_shape],
      'output_shapes': output_shapes,
  }
