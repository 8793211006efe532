"""Pose networks in plain PyTorch, one self-contained file each."""
