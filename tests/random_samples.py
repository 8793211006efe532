"""Random hands with a consistent camera, shared by the geometry tests."""

import numpy as np

from handpose.geometry.camera import project
from handpose.structures import HandSample


def random_hand_sample(
    rng: np.random.Generator, K: np.ndarray, points: np.ndarray, height: int, width: int, side: str | None, sample_id: str
) -> HandSample:
    """A sample whose 2D keypoints are ``points`` projected with ``K``, on random image/mask/depth."""
    keypoints_2d = project(points, K)
    return HandSample(
        image=rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        keypoints_2d=keypoints_2d,
        visibility=np.full(21, 2, dtype=np.int8),
        hand_side=side,
        box=np.concatenate([keypoints_2d.min(0), keypoints_2d.max(0)]),
        source="test",
        sample_id=sample_id,
        keypoints_3d=points,
        K=K,
        mask=rng.integers(0, 3, (height, width), dtype=np.uint8),
        depth=rng.uniform(300, 900, (height, width)).astype(np.float32),
    )
