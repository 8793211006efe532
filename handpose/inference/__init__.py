"""Inference: weights files, the Predictor, image sources."""
