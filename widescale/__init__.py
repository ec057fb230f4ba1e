"""widescale: wide residual networks for panoptic segmentation, semantic segmentation and classification."""

__version__ = "0.1.0"
