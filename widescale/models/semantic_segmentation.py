"""Semantic segmentation meta-architecture: backbone -> semantic head -> logits at input resolution.

Wide-ResNet-38 for segmentation (Wu et al., arXiv 1611.10080) is `SemanticSegmentation(
WideResNet38('a1', output_stride=8), SemanticHead(num_classes, num_convs=2))`; any backbone returning an
endpoint dict and any head reading it (e.g. `DeepLabV3Head`) fit. The model returns predictions only;
losses live in `widescale.tasks`.
"""

from typing import Callable, Optional, Union

import tensorflow as tf
import tf_keras

from widescale.layers import resize


@tf_keras.utils.register_keras_serializable(package='widescale')
class SemanticSegmentation(tf_keras.Model):
  """Backbone + semantic head; `call(images, training=None)` returns {'semantic_logits': [B, H, W, C]}.

  `images` are [B, H, W, 3] in [0, 255] (float or uint8); the model normalises them to x / 127.5 - 1.
  The head's logits are upsampled to the input size bilinearly with aligned corners (so stride-s feature
  pixel i sits on input pixel s*i, as the backbones' symmetric padding keeps it) and returned in float32.

  Args:
    backbone: a layer mapping images to a dict of endpoints, e.g. `WideResNet38`.
    head: a layer mapping that dict to [B, h, w, num_classes] logits, e.g. `SemanticHead(21)`; or a
      callable building one from `num_classes=` (the class itself, or gin's `@SemanticHead` without
      parentheses), so that the class count comes from the task alone.
    num_classes: number of classes; required when `head` is a callable, checked against a built head.
    normalize_input: map images in [0, 255] to [-1, 1] first.
    **kwargs: Model arguments (name, ...).
  """

  def __init__(self,
               backbone: tf_keras.layers.Layer,
               head: Union[tf_keras.layers.Layer, Callable[..., tf_keras.layers.Layer]],
               num_classes: Optional[int] = None,
               normalize_input: bool = True,
               **kwargs):
    kwargs.setdefault('name', 'semantic_segmentation')
    super().__init__(**kwargs)
    if not isinstance(backbone, tf_keras.layers.Layer):
      raise ValueError(f'SemanticSegmentation: backbone must be a tf_keras Layer, got backbone={backbone!r}.')
    if num_classes is not None and not (isinstance(num_classes, int) and num_classes >= 1):
      raise ValueError(f'SemanticSegmentation: num_classes must be a positive int, '
                       f'got num_classes={num_classes!r}.')
    if not isinstance(head, tf_keras.layers.Layer):
      if not callable(head):
        raise ValueError(f'SemanticSegmentation: head must be a tf_keras Layer or a callable building one, '
                         f'got head={head!r}.')
      if num_classes is None:
        raise ValueError(f'SemanticSegmentation: head={head!r} is built here and needs num_classes; got '
                         f'num_classes=None.')
      head = head(num_classes=num_classes, name='semantic_head')
    head_classes = getattr(head, 'num_classes', None)
    if num_classes is not None and head_classes is not None and head_classes != num_classes:
      raise ValueError(f'SemanticSegmentation: num_classes={num_classes!r} but the head predicts '
                       f'{head_classes} classes.')
    self.backbone = backbone
    self.head = head
    self.num_classes = num_classes if num_classes is not None else head_classes
    self.normalize_input = normalize_input

  def call(self, images, training=None):
    x = tf.cast(images, self.compute_dtype)
    if self.normalize_input:
      x = x / 127.5 - 1.0
    logits = self.head(self.backbone(x, training=training), training=training)
    # float32 for the outputs: losses and metrics run in float32 even when the model is bfloat16.
    logits = resize.resize_bilinear_align_corners(tf.cast(logits, tf.float32), tf.shape(images)[1:3])
    logits.set_shape(images.shape[:-1].concatenate(logits.shape[-1:]))
    return {'semantic_logits': logits}

  def get_config(self):
    # Model.get_config of a subclassed model drops name/trainable/dtype; Layer's keeps them.
    config = tf_keras.layers.Layer.get_config(self)
    config.update(
        backbone=tf_keras.layers.serialize(self.backbone),
        head=tf_keras.layers.serialize(self.head),
        num_classes=self.num_classes,
        normalize_input=self.normalize_input,
    )
    return config

  @classmethod
  def from_config(cls, config, custom_objects=None):
    config = dict(config)
    config['backbone'] = tf_keras.layers.deserialize(config['backbone'], custom_objects=custom_objects)
    config['head'] = tf_keras.layers.deserialize(config['head'], custom_objects=custom_objects)
    return cls(**config)
