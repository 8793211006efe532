"""RGB uint8 images -> the normalised float tensors every network here takes.

The mean and standard deviation are ImageNet's, as pretrained backbones expect; a weights file
records them (:mod:`handpose.inference.weights`), so inference feeds a network exactly as it
was trained.
"""

from __future__ import annotations

import numpy as np
import torch

#: Per-channel RGB mean and standard deviation (ImageNet's).
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def normalize_image(
    image: np.ndarray | torch.Tensor,
    mean: tuple[float, float, float] = IMAGE_MEAN,
    std: tuple[float, float, float] = IMAGE_STD,
) -> torch.Tensor:
    """RGB uint8 (..., H, W, 3) -> float32 (..., 3, H, W), ``(pixel / 255 - mean) / std``."""
    pixels = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(image))
    if pixels.dtype != torch.uint8 or pixels.ndim < 3 or pixels.shape[-1] != 3:
        raise ValueError(f"expected an RGB uint8 image (..., H, W, 3), got {tuple(pixels.shape)} {pixels.dtype}")
    std_t = torch.tensor(std).view(3, 1, 1)
    gain = 1.0 / (255.0 * std_t)
    offset = torch.tensor(mean).view(3, 1, 1) / std_t
    return pixels.movedim(-1, -3).to(torch.float32).mul_(gain).sub_(offset)
