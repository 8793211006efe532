"""Random but anatomically proportioned hand shapes (bone lengths, finger spacing, thicknesses).

Proportions follow adult anthropometry (phalanx lengths after Buryanov & Kotiuk, palm breadth and
thickness from hand surveys) for a reference hand of 185 mm from the wrist joint to the middle
fingertip; each sample scales that hand to its own length and perturbs finger ratios, spacing and
thickness so that networks do not learn one person's hand. Right-hand frame of
:mod:`handpose.synth.kinematics`, millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handpose.synth.kinematics import FingerChains, frame_from

REFERENCE_LENGTH = 185.0

#: The fingertip keypoint lies this many pad radii behind the fingertip's end (the pad sphere's
#: centre is the rest of a radius further back), as annotators place tips just inside the outline.
TIP_INSET = 0.5

#: Base joints of the reference hand: thumb CMC, index, middle, ring, pinky MCP (x radial, y distal, z palmar).
_BASES = np.array([[21.0, 27.0, 9.0], [24.0, 86.0, 2.0], [3.0, 89.0, 0.0], [-15.0, 84.0, 1.5], [-31.0, 75.0, 4.5]])

#: Bone lengths base to tip (thumb: metacarpal, proximal, distal; fingers: proximal, middle, distal).
_LENGTHS = np.array([[42.0, 32.0, 28.0], [44.0, 25.0, 22.0], [48.0, 29.0, 23.0], [45.0, 28.0, 23.0], [35.0, 20.0, 20.0]])

#: Radius of each finger at its four joints (base, two inner joints, tip pad).
_RADII = np.array(
    [[13.0, 11.0, 9.9, 8.8], [10.3, 9.3, 8.3, 7.4], [10.7, 9.6, 8.6, 7.6], [10.0, 9.0, 8.1, 7.3], [8.9, 8.0, 7.2, 6.5]]
)

#: Rest direction of each first bone, and the direction it flexes towards.
_REST_ALONG = np.array([[0.52, 0.72, 0.46], [0.10, 1.0, 0.0], [0.0, 1.0, 0.0], [-0.08, 1.0, 0.0], [-0.18, 1.0, 0.0]])
_REST_FLEX = np.array([[-0.75, 0.05, 0.66], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])


@dataclass
class HandShape:
    """One person's hand and forearm; the kinematic chains plus the flesh around them."""

    chains: FingerChains
    radii: np.ndarray  # (5, 4) finger radius at each joint, mm
    palm_half_thickness: float  # mm
    wrist_half_width: float  # mm, half the distance between the wrist's radial and ulnar rims
    forearm_radius: tuple[float, float]  # radius of each of the two forearm rods at the wrist and the elbow
    forearm_length: float  # wrist joint to where the arm is cut off (past the elbow, out of frame), mm
    length: float  # wrist joint to middle fingertip at rest, mm

    def scale(self) -> float:
        """Size relative to the reference hand."""
        return self.length / REFERENCE_LENGTH


def reference_hand_length() -> float:
    """Wrist to middle fingertip of the unscaled reference proportions, mm."""
    return float(np.linalg.norm(_BASES[2]) + _LENGTHS[2].sum())


def sample_hand_shape(rng: np.random.Generator) -> HandShape:
    """A random adult-like hand: 150-220 mm long, with individual proportions and thickness."""
    length = float(np.clip(rng.normal(185.0, 14.0), 150.0, 220.0))
    scale = length / reference_hand_length()
    thickness = float(np.clip(rng.normal(1.0, 0.08), 0.82, 1.2))
    breadth = float(np.clip(rng.normal(1.0, 0.05), 0.9, 1.12))

    finger_ratio = np.clip(rng.normal(1.0, 0.035, size=(5, 1)), 0.92, 1.08)
    finger_ratio[2] = 1.0  # the middle finger keeps the sampled hand length exact
    bone_ratio = np.clip(rng.normal(1.0, 0.03, size=(5, 3)), 0.93, 1.07)
    bone_ratio[2] /= (bone_ratio[2] * _LENGTHS[2]).sum() / _LENGTHS[2].sum()
    lengths = _LENGTHS * finger_ratio * bone_ratio * scale

    bases = _BASES * np.array([breadth, 1.0, 1.0]) * scale
    bases[1:, 1] += rng.normal(0.0, 1.5, size=4) * scale
    bases[2, 1] = _BASES[2, 1] * scale  # keeps the middle finger's reach exact

    along = _REST_ALONG + np.concatenate([rng.normal(0.0, [0.05, 0.03, 0.05], size=(1, 3)), np.zeros((4, 3))])
    along[1:, 0] += rng.normal(0.0, 0.02, size=4)
    rest_frames = frame_from(along, _REST_FLEX)

    radii = _RADII * thickness * scale * np.clip(rng.normal(1.0, 0.03, size=(5, 1)), 0.92, 1.08)
    forearm_wrist = 18.0 * thickness * scale
    return HandShape(
        chains=FingerChains(bases=bases, rest_frames=rest_frames, lengths=lengths),
        radii=radii,
        palm_half_thickness=12.5 * thickness * scale,
        wrist_half_width=27.0 * breadth * scale,
        forearm_radius=(forearm_wrist, forearm_wrist * rng.uniform(1.3, 1.6)),
        forearm_length=float(rng.uniform(300.0, 420.0) * scale),
        length=length,
    )
