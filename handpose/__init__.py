"""handpose: hand pose estimation from single RGB images."""

__version__ = "0.1.0"
