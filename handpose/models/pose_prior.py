"""Zimmermann & Brox's PosePrior and ViewPoint networks (ICCV 2017): 3D hand shape and viewpoint
from 2D score maps.

Zimmermann, Brox, "Learning to Estimate 3D Hand Pose from Single RGB Images", ICCV 2017. Both
networks read the 21 score maps of a 2D network (32x32 in the paper) and the hand's side, and
split 3D into two parts a single crop can learn independently of the hand's size and distance:

- :class:`PosePrior` predicts the canonical coordinates (21, 3): the hand's shape in the canonical
  frame of :mod:`handpose.geometry.canonical` (root at the origin, lengths in units of the middle
  finger's first phalanx, fixed palm orientation, every hand seen as a left one);
- :class:`ViewPoint` predicts the viewpoint as an axis-angle (3 numbers), turned into the rotation
  matrix that takes the canonical coordinates to the root-relative, scale-normalised camera frame.

Each is the paper's layout: a stack of 3x3 convolutions with leaky ReLUs, strides 1, 2, 1, 2, 1, 2
(32x32 maps -> 4x4), flattened; the hand side as a one-hot (left, right) concatenated to it; fully
connected layers with dropout (keep probability 0.8, so p = 0.2); a linear output. PosePrior has
channels 32-32-64-64-128-128 and FC 512-512; ViewPoint channels 64-64-128-128-256-256 and FC
256-128. ``width`` scales every channel and FC size (1.0 is the paper's, about 3.9 M parameters in
all at 32x32 maps), so tests and CPU runs can use a smaller copy of the same layout.

Networks only, no losses (as every file of :mod:`handpose.models`): the lifting estimator
(:mod:`handpose.estimators.lifting_3d`) owns the targets, the L2 losses and the composition.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from handpose.skeleton import NUM_JOINTS

#: Strides of the six 3x3 convolutions of both networks.
CONV_STRIDES = (1, 2, 1, 2, 1, 2)
POSE_PRIOR_CHANNELS = (32, 32, 64, 64, 128, 128)
POSE_PRIOR_FC = (512, 512)
VIEWPOINT_CHANNELS = (64, 64, 128, 128, 256, 256)
VIEWPOINT_FC = (256, 128)
#: The paper's dropout: keep probability 0.8 after each hidden FC layer.
DROPOUT = 0.2
LEAKY_SLOPE = 0.01
#: Below this angle (radians) Rodrigues' coefficients come from their Taylor series: the closed
#: forms divide 0 by 0 at the identity, where the gradient must stay finite.
_SMALL_ANGLE = 1e-4


def _scaled(sizes: Sequence[int], width: float) -> list[int]:
    return [max(1, round(size * width)) for size in sizes]


class ScoreMapRegressor(nn.Module):
    """Score maps (B, 21, S, S) and the hand side -> ``outputs`` numbers: the shared layout of
    PosePrior and ViewPoint (convolutions, hand side one-hot, FC layers with dropout, linear out)."""

    def __init__(
        self, map_size: int, channels: Sequence[int], fc: Sequence[int], outputs: int, dropout: float = DROPOUT
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous, size = NUM_JOINTS, int(map_size)
        for out_channels, stride in zip(channels, CONV_STRIDES, strict=True):
            layers += [nn.Conv2d(previous, out_channels, 3, stride, padding=1), nn.LeakyReLU(LEAKY_SLOPE)]
            previous, size = out_channels, (size - 1) // stride + 1
        self.convs = nn.Sequential(*layers)
        hidden: list[nn.Module] = []
        features = previous * size * size + 2  # + the hand side one-hot
        for width in fc:
            hidden += [nn.Linear(features, width), nn.LeakyReLU(LEAKY_SLOPE), nn.Dropout(dropout)]
            features = width
        self.hidden = nn.Sequential(*hidden)
        self.out = nn.Linear(features, outputs)

    def forward(self, score_maps: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """``right`` (B,): 1 for a right hand, 0 for a left one."""
        side = torch.stack([1.0 - right, right], dim=1).to(score_maps.dtype)
        features = torch.cat([self.convs(score_maps).flatten(1), side], dim=1)
        return self.out(self.hidden(features))


class PosePrior(ScoreMapRegressor):
    """Canonical coordinates (B, 21, 3) from score maps and the hand side."""

    def __init__(self, map_size: int = 32, width: float = 1.0, dropout: float = DROPOUT) -> None:
        super().__init__(
            map_size, _scaled(POSE_PRIOR_CHANNELS, width), _scaled(POSE_PRIOR_FC, width), 3 * NUM_JOINTS, dropout
        )

    def forward(self, score_maps: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return super().forward(score_maps, right).unflatten(1, (NUM_JOINTS, 3))


class ViewPoint(ScoreMapRegressor):
    """The viewpoint as an axis-angle (B, 3) from score maps and the hand side."""

    def __init__(self, map_size: int = 32, width: float = 1.0, dropout: float = DROPOUT) -> None:
        super().__init__(map_size, _scaled(VIEWPOINT_CHANNELS, width), _scaled(VIEWPOINT_FC, width), 3, dropout)


class PosePriorViewPoint(nn.Module):
    """Both networks side by side, as the paper runs them on the same score maps.

    ``forward(score_maps, right)`` returns "canonical" (B, 21, 3), "axis_angle" (B, 3) and
    "rotation" (B, 3, 3), the axis-angle's matrix: a row of canonical coordinates times it (the
    paper's ``coords @ rot_mat``) is the scale-normalised, root-relative camera-frame point, once
    a right hand's canonical z is mirrored back.
    """

    def __init__(self, map_size: int = 32, width: float = 1.0, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.map_size = int(map_size)
        self.pose_prior = PosePrior(map_size, width, dropout)
        self.viewpoint = ViewPoint(map_size, width, dropout)

    def forward(self, score_maps: torch.Tensor, right: torch.Tensor) -> dict[str, torch.Tensor]:
        axis_angle = self.viewpoint(score_maps, right)
        return {
            "canonical": self.pose_prior(score_maps, right),
            "axis_angle": axis_angle,
            "rotation": axis_angle_to_matrix(axis_angle),
        }


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of axis-angle vectors (..., 3) (Rodrigues' formula,
    ``I + sin(t)/t [v]x + (1 - cos(t))/t^2 [v]x^2`` with t = |v|, as cv2.Rodrigues), differentiable
    everywhere, the identity included."""
    theta_sq = (axis_angle * axis_angle).sum(dim=-1, keepdim=True)[..., None]
    small = theta_sq < _SMALL_ANGLE**2
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    sin_term = torch.where(small, 1.0 - theta_sq / 6.0, torch.sin(theta) / theta)
    cos_term = torch.where(small, 0.5 - theta_sq / 24.0, (1.0 - torch.cos(theta)) / (theta * theta))
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).unflatten(-1, (3, 3))
    identity = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return identity + sin_term * cross + cos_term * (cross @ cross)
