"""Bilinear resizing with aligned corners, as DeepLab decoders upsample."""

import tensorflow as tf


def resize_bilinear_align_corners(images: tf.Tensor, size) -> tf.Tensor:
  """Resizes [B, H, W, C] to `size` (h, w) with corner pixels aligned; returns float32.

  Aligned corners map input pixel 0 and H-1 onto output pixel 0 and h-1, so features at stride s of a
  (s*k + 1)-sized input (e.g. 513 or 1025) land exactly on input pixels, as in DeepLab and deeplab2.
  This is the op `tf.compat.v1.image.resize_bilinear(..., align_corners=True)` builds, called directly
  so that no deprecation warning is printed on every trace.
  """
  return tf.raw_ops.ResizeBilinear(images=images, size=size, align_corners=True,
                                   half_pixel_centers=False)
