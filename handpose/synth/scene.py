"""One synthetic picture: camera, one or two hands, occluders, background, and every label.

Everything random in a scene is drawn from one generator seeded by (seed, index), so a scene is a
pure function of those two numbers: the same on every machine and in every worker process.

Three kinds of scene (:data:`SCENE_KINDS`): "hands", the default (:func:`render_scene`), frames one
hand (sometimes two) for pose estimation; "detection" (:func:`render_detection_scene`) is what a
hand detector learns from: 0 to 4 hands of any side, their boxes from about 8% of the image side
(20 pixels at 256) to filling the frame, some cut by the frame's edge, and skin-coloured
distractors (arms crossing the frame, round skin blobs) that are not hands. A detection scene
labels only hands of which at least :data:`MIN_HAND_PIXELS` pixels are seen; it may hold none.
"whole_person" (:func:`handpose.synth.whole_person.render_whole_person_scene`) shows 1 to 3
people, each hand at the end of its arm, with COCO-17 body keypoints: what the whole-body hand
stage is trained and tested on. All kinds share :func:`render_bodies`, which casts the posed
solids, paints them and labels every hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from handpose.geometry.camera import backproject, intrinsics, project
from handpose.structures import OCCLUDED, VISIBLE, HandSample
from handpose.synth.appearance import (
    Skin,
    ambient_occlusion,
    sample_lighting,
    sample_skin,
    shade,
    solid_looks,
    to_srgb8,
)
from handpose.synth.backgrounds import Backgrounds, sample_background, smooth_noise
from handpose.synth.camera_effects import apply_camera_effects
from handpose.synth.hand_shape import HandShape, sample_hand_shape
from handpose.synth.kinematics import forward_kinematics
from handpose.synth.labels import hand_box, joint_tolerances, keypoint_visibility
from handpose.synth.poses import HandPose, sample_orientation, sample_pose
from handpose.synth.render import EMPTY, Fragments, RoundCones, SurfacePoints, rasterise, ray_grid, surface_points
from handpose.synth.surface import (
    BACKGROUND,
    NEAR_LIMIT,
    OBJECT,
    PERSON,
    SKIN,
    Body,
    build_hand,
    forearm_frame,
    hand_frame_joints,
    hand_labels,
    sample_arm_wear,
)

if TYPE_CHECKING:
    from handpose.synth.whole_person import PersonLabels

SceneKind = Literal["hands", "detection", "whole_person"]
SCENE_KINDS: tuple[str, ...] = get_args(SceneKind)

TWO_HAND_FRACTION = 0.12
OCCLUDER_FRACTION = 0.12
#: Forearms pointing at the camera more steeply than this (cosine) are re-drawn: a body is behind the hand.
MAX_FOREARM_TOWARDS_CAMERA = 0.45

#: Detection scenes: probability of 0, 1, 2, 3 and 4 hands.
DETECTION_HAND_COUNTS = (0.15, 0.35, 0.28, 0.12, 0.10)
#: Detection scenes: a hand's keypoint box side over the image side, drawn log-uniformly; with
#: several hands the upper end is lower, so that they do not all hide each other.
DETECTION_FRACTIONS = (0.08, 1.0)
DETECTION_FRACTION_SEVERAL = 0.6
#: Detection scenes: the share of hands placed anywhere in the frame (and so often cut by its
#: edge); the others lie inside it where their size allows.
DETECTION_CUT_FRACTION = 0.3
#: Detection scenes: the most skin-coloured distractors (a scene without hands has at least one).
MAX_DISTRACTORS = 3
#: Detection scenes label only hands of which at least this many pixels are seen.
MIN_HAND_PIXELS = 30
#: Most people of a whole-person scene.
MAX_PEOPLE = 3
#: Most hands a scene of each kind holds (COCO annotation ids are allotted per image by it).
MAX_HANDS: dict[str, int] = {"hands": 2, "detection": len(DETECTION_HAND_COUNTS) - 1, "whole_person": 2 * MAX_PEOPLE}


@dataclass
class HandLabels:
    """Ground truth of one hand in a scene, canonical joint order."""

    side: str
    keypoints_3d: np.ndarray  # (21, 3) mm, camera frame
    keypoints_2d: np.ndarray  # (21, 2) pixels
    visible: np.ndarray  # (21,) bool, by the depth test against the rendered depth
    box: np.ndarray  # (4,) x0, y0, x1, y1 pixels
    gesture: str


@dataclass
class SynthScene:
    """A rendered image with its labels. ``depth`` is 0 and ``mask`` is 0 where there is only background.

    ``people`` (whole-person scenes only) refer to their hands by index into ``hands``."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 mm, camera z
    mask: np.ndarray  # (H, W) uint8 RHD classes
    K: np.ndarray  # (3, 3)
    hands: list[HandLabels] = field(default_factory=list)
    people: list[PersonLabels] = field(default_factory=list)

    def hand_samples(self, sample_id: str, source: str = "synth") -> list[HandSample]:
        """One :class:`HandSample` per hand, holding the arrays in memory."""
        samples = []
        for hand in self.hands:
            samples.append(HandSample(
                image=self.image,
                keypoints_2d=hand.keypoints_2d.copy(),
                visibility=np.where(hand.visible, VISIBLE, OCCLUDED).astype(np.int8),
                hand_side=hand.side,  # type: ignore[arg-type]
                box=hand.box.copy(),
                source=source,
                sample_id=f"{sample_id}/{hand.side}",
                keypoints_3d=hand.keypoints_3d.copy(),
                K=self.K.copy(),
                mask=self.mask,
                depth=self.depth,
                extras={"gesture": hand.gesture},
            ))
        return samples


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of scene ``index`` of dataset ``seed``: independent of who renders it."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def sample_camera(rng: np.random.Generator, size: int) -> np.ndarray:
    """Webcam-like intrinsics: 45-75 degree field of view, principal point near the centre."""
    fov = np.radians(rng.uniform(45.0, 75.0))
    f = size / 2.0 / np.tan(fov / 2.0)
    centre = (size - 1) / 2.0 + rng.normal(0.0, 0.015 * size, size=2)
    return intrinsics(f, f, centre[0], centre[1])


def _place(joints_rotated: np.ndarray, K: np.ndarray, size: int, fraction: float, centre_px: np.ndarray) -> np.ndarray:
    """Translation putting the hand's keypoint box at ``centre_px`` with its longer side ``fraction`` of the image."""
    lo, hi = joints_rotated.min(axis=0), joints_rotated.max(axis=0)
    middle = (lo + hi) / 2.0
    target = fraction * size
    depth = K[0, 0] * max(hi[0] - lo[0], hi[1] - lo[1], 40.0) / target
    for _ in range(3):  # perspective: rescale the distance until the projected box has the wanted size
        depth = max(depth, NEAR_LIMIT + 80.0 + middle[2] - lo[2])
        uv = project(joints_rotated - middle + backproject(centre_px, np.array(depth), K), K)
        depth *= float(np.max(uv.max(axis=0) - uv.min(axis=0))) / target
    depth = max(depth, NEAR_LIMIT + 80.0 + middle[2] - lo[2])
    return backproject(centre_px, np.array(depth), K) - middle


def _occluder(rng: np.random.Generator, joints: np.ndarray, scale: float) -> Body:
    """A stick (pen, handle) or a ball between the camera and some joint."""
    target = joints[rng.integers(len(joints))]
    centre = target * rng.uniform(0.55, 0.9)
    centre[2] = max(centre[2], NEAR_LIMIT + 40.0)
    if rng.random() < 0.6:
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        half = rng.uniform(30.0, 120.0) * scale
        radius = rng.uniform(3.0, 12.0) * scale
        a, b, ra, rb = centre - half * direction, centre + half * direction, radius, radius * rng.uniform(0.8, 1.2)
        a[2], b[2] = max(a[2], NEAR_LIMIT + 20.0), max(b[2], NEAR_LIMIT + 20.0)
    else:
        a = b = centre
        ra = rb = rng.uniform(12.0, 35.0) * scale
    return Body(
        cones=RoundCones(a=a[None], b=b[None], ra=np.array([ra]), rb=np.array([rb])),
        plates=[],
        label=np.array([BACKGROUND], np.uint8),
        material=np.array([OBJECT], np.int8),
        hand=np.array([-1], np.int8),
        palmar=np.array([[0.0, 0.0, -1.0]]),
        nail=np.array([False]),
    )


@dataclass
class PlacedHand:
    """A hand posed in the camera frame, before rendering; ``owner`` is the index its solids carry
    (:attr:`Body.hand`), which picks its skin and tells its pixels from other hands'."""

    side: str
    shape: HandShape
    pose: HandPose
    body: Body
    joints: np.ndarray  # (21, 3) camera frame
    owner: int


def _place_hands(rng: np.random.Generator, K: np.ndarray, size: int, bands_at_wrist: bool = False) -> list[PlacedHand]:
    """One hand (or both, side by side) posed, oriented and framed in front of the camera
    (``bands_at_wrist``: :func:`~handpose.synth.surface.sample_arm_wear`'s)."""
    n_hands = 2 if rng.random() < TWO_HAND_FRACTION else 1
    first_side = "left" if rng.random() < 0.5 else "right"
    sides = [first_side, "right" if first_side == "left" else "left"][:n_hands]
    centre = (size - 1) / 2.0 + np.clip(rng.normal(0.0, 0.09 * size, size=2), -0.2 * size, 0.2 * size)
    if n_hands == 1:
        fractions, centres = [float(np.clip(rng.normal(0.55, 0.14), 0.22, 0.88))], [centre]
    else:
        fractions = list(rng.uniform(0.3, 0.5, size=2))
        offset = np.array([rng.uniform(0.17, 0.28) * size, rng.normal(0.0, 0.05 * size)])
        centres = [centre - offset, centre + offset] if first_side == "right" else [centre + offset, centre - offset]

    return [
        _posed_hand(rng, K, size, side, fractions[hand_index], centres[hand_index], hand_index, bands_at_wrist)
        for hand_index, side in enumerate(sides)
    ]


def _posed_hand(
    rng: np.random.Generator, K: np.ndarray, size: int, side: str, fraction: float, centre: np.ndarray, hand_index: int,
    bands_at_wrist: bool = False,
) -> PlacedHand:
    """A hand of random shape, pose, sleeve and orientation, its keypoint box ``fraction`` of the
    image at ``centre``."""
    shape = sample_hand_shape(rng)
    pose = sample_pose(rng, shape)
    wear = sample_arm_wear(rng, shape, bands_at_wrist)
    for _ in range(20):
        rotation = sample_orientation(rng)
        forearm_axis = rotation @ forearm_frame(pose) @ np.array([0.0, -1.0, 0.0])
        if forearm_axis[2] > -MAX_FOREARM_TOWARDS_CAMERA:
            break
    joints_rotated = hand_frame_joints(forward_kinematics(shape.chains, pose.fingers), side) @ rotation.T
    translation = _place(joints_rotated, K, size, fraction, centre)
    body, joints = build_hand(shape, pose, side, wear, rotation, translation, hand_index)
    return PlacedHand(side, shape, pose, body, joints, hand_index)


def _place_detection_hands(rng: np.random.Generator, K: np.ndarray, size: int) -> list[PlacedHand]:
    """0 to 4 hands of independent sides, sizes and places (see the module docstring)."""
    n_hands = int(rng.choice(len(DETECTION_HAND_COUNTS), p=DETECTION_HAND_COUNTS))
    low, high = DETECTION_FRACTIONS
    if n_hands > 1:
        high = DETECTION_FRACTION_SEVERAL
    placed = []
    for hand_index in range(n_hands):
        side = "left" if rng.random() < 0.5 else "right"
        fraction = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        half = min(fraction * size / 2.0, (size - 1) / 2.0)
        anywhere = rng.random() < DETECTION_CUT_FRACTION
        centre = rng.uniform(0.0, size - 1.0, 2) if anywhere else rng.uniform(half, size - 1.0 - half, 2)
        placed.append(_posed_hand(rng, K, size, side, fraction, centre, hand_index))
    return placed


def _skin_distractor(rng: np.random.Generator, K: np.ndarray, size: int, owner: int) -> Body:
    """Skin that is not a hand: an arm or leg crossing the whole frame, or a round blob (a knee,
    an elbow, a bald head). ``owner`` is its index among the scene's skins (as a hand's index)."""
    depth = rng.uniform(250.0, 1500.0)
    focal = K[0, 0]
    if rng.random() < 0.5:  # a limb whose ends both lie outside the frame
        angle = rng.uniform(0.0, np.pi)
        along = 1.5 * size * np.array([np.cos(angle), np.sin(angle)])
        through = rng.uniform(0.0, size - 1.0, 2)
        ends_px = [through - along, through + along]
        radius_px = rng.uniform(0.03, 0.12) * size * np.array([1.0, rng.uniform(0.7, 1.1)])
    else:  # a ball or a short thick capsule
        centre = rng.uniform(0.0, size - 1.0, 2)
        radius = rng.uniform(0.03, 0.15) * size
        turn = rng.uniform(0.0, 2.0 * np.pi)
        offset = rng.uniform(0.0, 1.5) * radius * np.array([np.cos(turn), np.sin(turn)])
        ends_px = [centre - offset / 2.0, centre + offset / 2.0]
        radius_px = radius * np.array([1.0, rng.uniform(0.8, 1.2)])
    depths = depth * rng.uniform(0.85, 1.15, 2)
    a, b = (backproject(end, np.array(z), K) for end, z in zip(ends_px, depths))
    return Body(
        cones=RoundCones(a=a[None], b=b[None], ra=radius_px[:1] * depths[0] / focal,
                         rb=radius_px[1:] * depths[1] / focal),
        plates=[],
        label=np.array([PERSON], np.uint8),
        material=np.array([SKIN], np.int8),
        hand=np.array([owner], np.int8),
        palmar=np.array([[0.0, 0.0, -1.0]]),
        nail=np.array([False]),
    )


def _paint(
    rng: np.random.Generator, body: Body, fragments: Fragments, points: SurfacePoints, skins: list[Skin],
    backgrounds: Backgrounds,
) -> tuple[np.ndarray, np.ndarray]:
    """The camera's picture (RGB uint8) and the mask of the person painted into the background.

    Solids of owner ``k`` wear ``skins[k]``; the background's painted person wears the first."""
    size = fragments.depth.shape[0]
    lighting = sample_lighting(rng)
    looks = solid_looks(rng, body, skins)
    occlusion = ambient_occlusion(fragments, strength=rng.uniform(0.3, 0.7))
    blotches = 1.0 + rng.uniform(0.03, 0.09) * smooth_noise(rng, size, int(rng.integers(6, 20)), 3)
    colour = to_srgb8(shade(points, body, looks, lighting, occlusion, blotches))
    background, person = sample_background(rng, size, skins[0], backgrounds)
    composite = background.reshape(-1, 3)
    composite[points.pixels] = colour
    return apply_camera_effects(rng, composite.reshape(size, size, 3)), person


def render_scene(
    seed: int, index: int, size: int = 256, backgrounds: Backgrounds = Backgrounds(), bands_at_wrist: bool = False
) -> SynthScene:
    """Render scene ``index`` of the dataset drawn with ``seed``, at ``size`` x ``size`` pixels.

    The background is drawn after the hands, light and skin, so a seed shows the same hands
    whatever ``backgrounds`` is: sets that differ only in their backgrounds compare cleanly.
    ``bands_at_wrist``: wrist bands from the wrist crease down, and more of them
    (:func:`~handpose.synth.surface.sample_arm_wear`).
    """
    return _render(seed, index, size, backgrounds, "hands", bands_at_wrist)


def render_detection_scene(
    seed: int, index: int, size: int = 256, backgrounds: Backgrounds = Backgrounds()
) -> SynthScene:
    """Render detection scene ``index`` of the dataset drawn with ``seed`` (see the module
    docstring), as :func:`render_scene` renders the default kind."""
    return _render(seed, index, size, backgrounds, "detection")


def _render(
    seed: int, index: int, size: int, backgrounds: Backgrounds, scene_kind: SceneKind, bands_at_wrist: bool = False
) -> SynthScene:
    rng = scene_rng(seed, index)
    K = sample_camera(rng, size)
    skin = sample_skin(rng)  # one person: both hands share a skin
    distractors: list[Body] = []
    if scene_kind == "hands":
        hands = _place_hands(rng, K, size, bands_at_wrist)
    else:
        hands = _place_detection_hands(rng, K, size)
        n_distractors = int(rng.integers(0 if hands else 1, MAX_DISTRACTORS + 1))
        distractors = [_skin_distractor(rng, K, size, len(hands) + k) for k in range(n_distractors)]
    bodies = [hand.body for hand in hands] + distractors
    if hands and rng.random() < OCCLUDER_FRACTION:
        bodies.append(_occluder(rng, hands[0].joints, hands[0].shape.scale()))
    rendered = render_bodies(rng, K, size, Body.concatenate(bodies), hands,
                             [skin] * (len(hands) + len(distractors)), backgrounds)
    scene = rendered.scene
    if scene_kind == "detection":  # hands hidden behind other solids or outside the frame: nothing to detect
        scene.hands = [hand for hand, seen in zip(scene.hands, rendered.seen_pixels) if seen >= MIN_HAND_PIXELS]
    return scene


@dataclass
class RenderedBodies:
    """A picture of posed solids with the labels of every hand placed in it, seen or not."""

    scene: SynthScene  # its hands: one label per placed hand, in their order
    owner: np.ndarray  # (H, W) int8: the owner (:attr:`Body.hand`) of the solid each pixel shows, -1 for none
    seen_pixels: list[int]  # per placed hand: how many pixels show it


def render_bodies(
    rng: np.random.Generator, K: np.ndarray, size: int, body: Body, hands: list[PlacedHand], skins: list[Skin],
    backgrounds: Backgrounds,
) -> RenderedBodies:
    """Cast ``body`` (all solids of the scene, the hands' among them) through the camera ``K`` into
    a ``size`` x ``size`` picture, paint it over a background (owner ``k`` in ``skins[k]``) and
    label each placed hand: 2D keypoints, visibility by the depth test, box."""
    grid = ray_grid(K, size, size)
    fragments = rasterise(body.cones, body.plates, grid)
    points = surface_points(fragments, body.cones, body.plates, grid)
    image, person = _paint(rng, body, fragments, points, skins, backgrounds)

    covered = fragments.index != EMPTY
    mask = np.where(person, PERSON, BACKGROUND).astype(np.uint8)
    mask[covered] = body.label[fragments.index[covered]]
    depth = np.where(covered, fragments.depth, 0.0).astype(np.float32)
    # Which hand each pixel shows: two hands of one side share their mask classes.
    owner = np.full(mask.shape, -1, np.int8)
    owner[covered] = body.hand[fragments.index[covered]]

    labels, seen_pixels = [], []
    for hand in hands:
        own_mask = np.where(owner == hand.owner, mask, BACKGROUND)
        classes = hand_labels(hand.side)
        seen_pixels.append(int(np.count_nonzero((own_mask >= classes.start) & (own_mask < classes.stop))))
        uv = project(hand.joints, K)
        visible = keypoint_visibility(hand.joints, uv, depth, own_mask, classes, joint_tolerances(hand.shape))
        labels.append(HandLabels(side=hand.side, keypoints_3d=hand.joints, keypoints_2d=uv, visible=visible,
                                 box=hand_box(uv, own_mask, classes), gesture=hand.pose.gesture))
    return RenderedBodies(SynthScene(image=image, depth=depth, mask=mask, K=K, hands=labels), owner, seen_pixels)
