"""The synthetic hand generator: handpose's embedded default dataset.

Articulated hands with randomised shape, pose, skin, clothing, lighting, background and camera,
ray-cast with exact labels (2D/3D keypoints, visibility by depth test, RHD-style segmentation,
depth). :func:`generate_dataset` writes a dataset; :func:`render_scene` renders one picture in
memory (``SynthScene.hand_samples`` turns it into :class:`~handpose.structures.HandSample`), and
:func:`render_detection_scene` one for a hand detector (several hands or none, all scales).
"""

#: Raised whenever a change to the generator changes its images or labels, so that caches of
#: generated sets (keyed by it) are never mistaken for the current generator's output.
GENERATOR_VERSION = 1

from handpose.synth.generate import generate_dataset  # noqa: E402
from handpose.synth.scene import HandLabels, SynthScene, render_detection_scene, render_scene  # noqa: E402

__all__ = [
    "GENERATOR_VERSION", "HandLabels", "SynthScene", "generate_dataset", "render_detection_scene", "render_scene",
]
