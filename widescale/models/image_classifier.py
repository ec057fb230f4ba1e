"""Image classifier meta-architecture: backbone -> global average pool -> dropout -> fully connected."""

import numbers
from typing import Optional

import tensorflow as tf
import tf_keras


@tf_keras.utils.register_keras_serializable(package='widescale')
class ImageClassifier(tf_keras.Model):
  """Classifies images from one endpoint of a backbone that returns a dict of endpoints.

  Args:
    backbone: a layer whose call(images, training) returns a dict of feature maps.
    num_classes: number of output logits.
    endpoint: the backbone endpoint pooled for classification (its last stage).
    dropout_rate: dropout before the fully connected layer (ResNet-RS: 0.25, or 0.4 for the largest).
    kernel_initializer: of the fully connected layer (ResNet-RS: random normal, stddev 0.01).
    normalize_input: divide images in [0, 255] by 127.5 and subtract 1 first (the backbones expect
      normalised input).
    **kwargs: Model arguments (name, ...).

  Call returns {'logits': [B, num_classes]} (float32 whatever the compute dtype).
  """

  def __init__(self,
               backbone: tf_keras.layers.Layer,
               num_classes: int,
               endpoint: str = 'res5',
               dropout_rate: float = 0.0,
               kernel_initializer='glorot_uniform',
               normalize_input: bool = True,
               **kwargs):
    kwargs.setdefault('name', 'image_classifier')
    super().__init__(**kwargs)
    if not isinstance(backbone, tf_keras.layers.Layer):
      raise ValueError(f'ImageClassifier: backbone must be a tf_keras Layer returning a dict of endpoints, '
                       f'got backbone={backbone!r}.')
    if not (isinstance(num_classes, numbers.Integral) and not isinstance(num_classes, bool)
            and num_classes >= 1):
      raise ValueError(f'ImageClassifier: num_classes must be an int >= 1, got num_classes={num_classes!r}.')
    if not isinstance(endpoint, str):
      raise ValueError(f'ImageClassifier: endpoint must be the name of a backbone endpoint, '
                       f'got endpoint={endpoint!r}.')
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError(f'ImageClassifier: dropout_rate must be in [0, 1), got dropout_rate={dropout_rate!r}.')
    self.backbone = backbone
    self.num_classes = int(num_classes)
    self.endpoint = endpoint
    self.dropout_rate = dropout_rate
    self.kernel_initializer = kernel_initializer
    self.normalize_input = normalize_input
    self.pool = tf_keras.layers.GlobalAveragePooling2D(name='pool')
    self.dropout = tf_keras.layers.Dropout(dropout_rate, name='dropout')
    self.fc = tf_keras.layers.Dense(self.num_classes, kernel_initializer=kernel_initializer, name='fc')

  def call(self, images, training=None):
    x = tf.cast(images, self.compute_dtype)
    if self.normalize_input:
      x = x / 127.5 - 1.0
    features = self.backbone(x, training=training)
    if self.endpoint not in features:
      raise KeyError(f'ImageClassifier: backbone has no endpoint {self.endpoint!r}; it has '
                     f'{sorted(features)}.')
    x = self.pool(features[self.endpoint])
    x = self.dropout(x, training=training)
    return {'logits': tf.cast(self.fc(x), tf.float32)}

  def get_config(self):
    return {
        'name': self.name,
        'backbone': tf_keras.layers.serialize(self.backbone),
        'num_classes': self.num_classes,
        'endpoint': self.endpoint,
        'dropout_rate': self.dropout_rate,
        'kernel_initializer': tf_keras.initializers.serialize(
            tf_keras.initializers.get(self.kernel_initializer)),
        'normalize_input': self.normalize_input,
    }

  @classmethod
  def from_config(cls, config, custom_objects=None):
    config = dict(config)
    config['backbone'] = tf_keras.layers.deserialize(config['backbone'], custom_objects=custom_objects)
    config['kernel_initializer'] = tf_keras.initializers.deserialize(config['kernel_initializer'])
    return cls(**config)
