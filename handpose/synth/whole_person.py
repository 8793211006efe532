"""Whole-person scenes: 1 to 3 people, each hand at the end of its arm, labelled as COCO-WholeBody is.

What the whole-body hand stage (:mod:`handpose.wholebody`) is trained and tested on without real
whole-body data: the stage finds a hand from the body's elbow and wrist, so the hand must lie
where the forearm leads, and it must be small, as hands of whole people in photos are (10-31 px
in the COCO-WholeBody sample).

**A person** is articulated in 3D: a torso of three round cones (clothed), a neck and a round
head (skin), and two arms. Each upper arm hangs, swings out or forward, or is raised; each elbow
bends its forearm mostly forwards. The forearm and the hand are the generator's own
(:func:`handpose.synth.surface.build_hand`), with the forearm cut at the elbow and the hand turned
so that the forearm runs from the elbow to the wrist, twisted at random about it. Lengths follow
adult proportions relative to the person's hand (:class:`~handpose.synth.hand_shape.HandShape`):
forearm 1.4 hand lengths, upper arm 1.65, half the shoulder width 1.0, shoulder to hip 2.7. No
legs: knees and ankles are not labelled.

**Sizes.** Each person stands at the distance that gives a hand (of its length, seen flat) a box
side drawn log-uniformly from :data:`SMALL_HAND_PX` for :data:`SMALL_HAND_FRACTION` of the
people, else from :data:`LARGE_HAND_PX` up to :data:`LARGE_HAND_MAX` of the image side; the
torso's centre lies anywhere in the frame but its outer :data:`CENTRE_MARGIN` of each side, so
arms (and whole people) are often cut by its edge, and a hand may hide behind the body or another
person: of the hands placed, about half end up labelled.

**Labels** (:class:`PersonLabels`): COCO-17 keypoints (nose, eyes, ears, shoulders, elbows,
wrists, hips; knees and ankles 0) with COCO's flags: 2 where the depth test sees the joint's own
person at its pixel (:func:`handpose.synth.labels.keypoint_visibility`), 1 where it is hidden
inside the image, 0 outside the image. The body's wrist is the hand's wrist keypoint, exactly.
A hand is labelled (``SynthScene.hands``; valid in COCO-WholeBody's terms) when at least
:data:`MIN_VISIBLE_HAND_KEYPOINTS` of its keypoints are seen; its keypoints take the same flags.

**Sides.** ``left`` is the person's own left, as COCO's keypoint names mean it: the left arm
carries a left hand (the mirrored hand model), which therefore also *appears* as a left hand,
whichever way the person faces: the convention of :mod:`handpose.wholebody.hand_boxes`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from handpose.geometry.camera import backproject, project
from handpose.skeleton import WRIST
from handpose.synth.appearance import sample_skin
from handpose.synth.backgrounds import Backgrounds
from handpose.synth.hand_shape import HandShape, sample_hand_shape
from handpose.synth.kinematics import axis_angle, mirror_x
from handpose.synth.labels import DEPTH_SLACK, RADIUS_FACTOR, joint_tolerances, keypoint_visibility
from handpose.synth.poses import sample_pose
from handpose.synth.render import RoundCones
from handpose.synth.scene import PlacedHand, SynthScene, render_bodies, sample_camera, scene_rng
from handpose.synth.surface import NEAR_LIMIT, PERSON, SKIN, SLEEVE, Body, build_hand, forearm_frame, sample_arm_wear

#: COCO-17 keypoint names, in COCO's order.
COCO_BODY_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
#: COCO-17 indices of each side's shoulder, elbow, wrist and hip.
ARM: dict[str, tuple[int, int, int, int]] = {"left": (5, 7, 9, 11), "right": (6, 8, 10, 12)}

#: Probability of 1, 2 and 3 people.
PEOPLE_COUNTS = (0.45, 0.35, 0.2)
#: Hand box sides (pixels) a person's distance is drawn for (module docstring).
SMALL_HAND_PX = (10.0, 60.0)
SMALL_HAND_FRACTION = 0.8
LARGE_HAND_PX = 60.0
LARGE_HAND_MAX = 0.5
#: The torso's centre keeps this share of the image side from its edges.
CENTRE_MARGIN = 0.1

#: Body proportions in hand lengths (module docstring), and radii of its solids.
FOREARM, UPPER_ARM, SHOULDER_HALF, TORSO, HIP_HALF = 1.4, 1.65, 1.0, 2.7, 0.55
CHEST_RADIUS, HIP_RADIUS, DELTOID_RADIUS, NECK_RADIUS, HEAD_RADIUS = 0.55, 0.58, 0.28, 0.3, 0.52
#: The head's centre above the shoulder line, in hand lengths.
HEAD_HEIGHT = 1.0
#: Where the torso's side cones run: this share of the half shoulder width in from the shoulders.
TORSO_SIDE = 0.45
#: Bare forearms: the share of people whose short sleeves cover this share of the upper arm (the
#: others are sleeveless); a sleeved forearm has its whole arm in the sleeve.
SHORT_SLEEVE_FRACTION, SHORT_SLEEVE = 0.7, 0.45

#: A person's solids stay this far (mm) beyond the camera's near limit.
BODY_MARGIN = 100.0
#: A hand is labelled when at least this many of its keypoints are seen.
MIN_VISIBLE_HAND_KEYPOINTS = 6
#: A person is labelled when at least this many pixels show it.
MIN_PERSON_PIXELS = 40

#: Procedural backgrounds, the generator's default.
_PROCEDURAL = Backgrounds()

#: COCO keypoint flags.
NOT_LABELLED, HIDDEN, SEEN = 0, 1, 2


@dataclass
class PersonLabels:
    """Ground truth of one person of a whole-person scene (module docstring)."""

    keypoints_3d: np.ndarray  # (17, 3) mm, camera frame; nan where not rendered (knees, ankles)
    keypoints_2d: np.ndarray  # (17, 2) pixels; nan where not rendered
    flags: np.ndarray  # (17,) COCO flags: 0 not labelled, 1 hidden, 2 seen
    box: np.ndarray  # (4,) x0, y0, x1, y1: the edges of the pixels showing the person
    area: int  # pixels showing the person
    hands: dict[str, int]  # side -> index of its labelled hand in SynthScene.hands


@dataclass
class _Person:
    """A posed person before rendering: its solids (hands excluded), hands, joints and their depth tolerances."""

    body: Body
    hands: list[PlacedHand]
    joints: np.ndarray  # (17, 3) camera frame, nan where not rendered
    tolerance: np.ndarray  # (17,) mm


def render_whole_person_scene(
    seed: int, index: int, size: int = 256, backgrounds: Backgrounds = _PROCEDURAL
) -> SynthScene:
    """Render whole-person scene ``index`` of the dataset drawn with ``seed`` (module docstring),
    as :func:`handpose.synth.scene.render_scene` renders the default kind; ``people`` holds the
    labelled people and ``hands`` their labelled hands."""
    rng = scene_rng(seed, index)
    K = sample_camera(rng, size)
    n_people = 1 + int(rng.choice(len(PEOPLE_COUNTS), p=PEOPLE_COUNTS))
    people = [_pose_person(rng, K, size, owner) for owner in range(n_people)]
    skins = [sample_skin(rng) for _ in people]
    hands = [hand for person in people for hand in person.hands]
    body = Body.concatenate([person.body for person in people] + [hand.body for hand in hands])
    rendered = render_bodies(rng, K, size, body, hands, skins, backgrounds)
    scene = rendered.scene

    image_shape = scene.depth.shape
    labelled_hands = []
    hand_index: dict[int, int] = {}  # placed hand -> its index among the labelled ones
    for placed, label in enumerate(scene.hands):
        if np.count_nonzero(label.visible) >= MIN_VISIBLE_HAND_KEYPOINTS:
            hand_index[placed] = len(labelled_hands)
            labelled_hands.append(label)
    labels = []
    for owner, person in enumerate(people):
        pixels = rendered.owner == owner
        if np.count_nonzero(pixels) < MIN_PERSON_PIXELS:
            continue
        hands_of = {hand.side: hand_index[i] for i, hand in enumerate(hands) if hand.owner == owner and i in hand_index}
        rendered_joints = np.isfinite(person.joints).all(axis=1)
        uv = np.full((len(person.joints), 2), np.nan)
        uv[rendered_joints] = project(person.joints[rendered_joints], K)
        seen = np.zeros(len(uv), bool)
        seen[rendered_joints] = keypoint_visibility(
            person.joints[rendered_joints],
            uv[rendered_joints],
            scene.depth,
            rendered.owner,
            range(owner, owner + 1),
            person.tolerance[rendered_joints],
        )
        ys, xs = np.nonzero(pixels)
        labels.append(PersonLabels(
            keypoints_3d=person.joints, keypoints_2d=uv, flags=coco_flags(uv, seen, image_shape),
            box=np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64) + [-0.5, -0.5, 0.5, 0.5],
            area=len(xs), hands=hands_of,
        ))  # fmt: skip
    scene.hands = labelled_hands
    scene.people = labels
    return scene


def coco_flags(keypoints_2d: np.ndarray, seen: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """COCO's flag per keypoint: 2 seen, 1 hidden inside the image, 0 outside it or not rendered (nan)."""
    height, width = image_shape[:2]
    with np.errstate(invalid="ignore"):
        inside = (keypoints_2d[:, 0] > -0.5) & (keypoints_2d[:, 0] < width - 0.5)
        inside &= (keypoints_2d[:, 1] > -0.5) & (keypoints_2d[:, 1] < height - 0.5)
    return np.where(seen & inside, SEEN, np.where(inside, HIDDEN, NOT_LABELLED)).astype(np.int64)


def rotation_onto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector ``a`` onto unit vector ``b``."""
    axis = np.cross(a, b)
    sine, cosine = float(np.linalg.norm(axis)), float(np.dot(a, b))
    if sine < 1e-9:
        if cosine > 0:
            return np.eye(3)
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])  # half a turn about any normal
    return axis_angle(axis, float(np.arctan2(sine, cosine)))


def _person_axes(rng: np.random.Generator) -> np.ndarray:
    """(3, 3) rows: the person's left, up and forward (out of the chest) in the camera frame.

    Three in four people face the camera (left towards image right), the others turn their
    back; all turn about 35 degrees either way, lean a little, and the camera looks slightly down
    or up at them."""
    yaw = np.radians(rng.normal(0.0, 35.0) + (0.0 if rng.random() < 0.75 else 180.0))
    roll, pitch = np.radians(rng.normal(0.0, [6.0, 10.0]))
    turn = axis_angle([1.0, 0.0, 0.0], pitch) @ axis_angle([0.0, 0.0, 1.0], roll) @ axis_angle([0.0, 1.0, 0.0], yaw)
    facing_camera = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    return facing_camera @ turn.T


def _arm_directions(rng: np.random.Generator, axes: np.ndarray, outward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions of the upper arm (shoulder to elbow) and the forearm (elbow to wrist).

    The upper arm hangs (half of the arms), is lifted out or forwards to the horizontal, or raised
    above it; the forearm bends from it by 0-145 degrees, mostly forwards."""
    _, up, forward = axes
    r = rng.random()
    low, high = (5.0, 45.0) if r < 0.5 else (45.0, 100.0) if r < 0.85 else (100.0, 170.0)
    lift = np.radians(rng.uniform(low, high))
    swing = np.radians(rng.uniform(-20.0, 90.0))  # 0 out to the side, 90 forwards
    upper = np.cos(lift) * -up + np.sin(lift) * (np.cos(swing) * outward + np.sin(swing) * forward)
    ahead = forward - np.dot(forward, upper) * upper
    ahead = ahead / np.linalg.norm(ahead) if np.linalg.norm(ahead) > 1e-6 else up
    turn = np.radians(rng.normal(0.0, 50.0))
    bend_towards = np.cos(turn) * ahead + np.sin(turn) * np.cross(upper, ahead)
    bend = np.radians(rng.uniform(0.0, 145.0))
    return upper, np.cos(bend) * upper + np.sin(bend) * bend_towards


def _pose_person(rng: np.random.Generator, K: np.ndarray, size: int, owner: int) -> _Person:
    """One person posed and placed in front of the camera (module docstring); its solids carry ``owner``."""
    shape = sample_hand_shape(rng)
    length = shape.length
    forearm_length = FOREARM * length
    shape = replace(shape, forearm_length=forearm_length)  # the generator's forearm, cut at the elbow
    wear = sample_arm_wear(rng, shape)
    sleeved = wear.sleeve_start is not None and wear.sleeve_start < forearm_length - 5.0
    short_sleeves = not sleeved and rng.random() < SHORT_SLEEVE_FRACTION

    axes = _person_axes(rng)
    left, up, forward = axes
    neck = up * (TORSO * length / 2.0)
    hip_centre = -neck
    head = neck + up * (HEAD_HEIGHT * length)
    joints = np.full((17, 3), np.nan)
    tolerance = np.full(17, DEPTH_SLACK)
    face = HEAD_RADIUS * length
    joints[0] = head + face * (0.95 * forward - 0.05 * up)
    for sign, eye, ear in ((1.0, 1, 3), (-1.0, 2, 4)):
        joints[eye] = head + face * (0.75 * forward + 0.3 * sign * left + 0.2 * up)
        joints[ear] = head + face * (0.9 * sign * left - 0.1 * forward)
    tolerance[:5] += RADIUS_FACTOR * 0.25 * face

    r_elbow = shape.forearm_radius[1] + 8.0 * shape.scale()  # the two forearm rods and the gap between them
    cones: list[tuple[np.ndarray, np.ndarray, float, float, int]] = [
        (neck, head, NECK_RADIUS * length, NECK_RADIUS * length, SKIN),
        (head, head, face, face, SKIN),
        (
            neck - 0.1 * TORSO * length * up,
            hip_centre,
            CHEST_RADIUS * length * 1.05,
            HIP_RADIUS * length * 1.05,
            SLEEVE,
        ),
    ]
    arms = []
    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder_j, elbow_j, wrist_j, hip_j = ARM[side]
        shoulder = neck + sign * SHOULDER_HALF * length * left
        hip = hip_centre + sign * HIP_HALF * length * left
        upper, fore = _arm_directions(rng, axes, sign * left)
        elbow = shoulder + UPPER_ARM * length * upper
        joints[[shoulder_j, elbow_j, wrist_j, hip_j]] = shoulder, elbow, elbow + forearm_length * fore, hip
        radii = np.array([DELTOID_RADIUS * length, r_elbow, HIP_RADIUS * length])
        tolerance[[shoulder_j, elbow_j, hip_j]] += RADIUS_FACTOR * radii
        tolerance[wrist_j] = joint_tolerances(shape)[WRIST]
        torso_top = neck + sign * (1.0 - TORSO_SIDE) * SHOULDER_HALF * length * left - 0.1 * TORSO * length * up
        cones.append((torso_top, hip + 0.05 * TORSO * length * up, CHEST_RADIUS * length, HIP_RADIUS * length, SLEEVE))
        cones.append((shoulder, elbow, DELTOID_RADIUS * length, r_elbow, SLEEVE if sleeved else SKIN))
        if short_sleeves:
            loose = wear.sleeve_loose
            sleeve_end = shoulder + SHORT_SLEEVE * (elbow - shoulder)
            cones.append(
                (shoulder, sleeve_end, DELTOID_RADIUS * length + loose, 0.8 * DELTOID_RADIUS * length + loose, SLEEVE)
            )
        arms.append((side, fore))

    translation = _placement(rng, K, size, length, joints, cones, forearm_length, shape)
    joints = joints + translation
    hands = []
    for side, fore in arms:
        pose = sample_pose(rng, shape)
        along = forearm_frame(pose) @ np.array([0.0, -1.0, 0.0])  # wrist to elbow, hand frame
        along = mirror_x(along) if side == "left" else along
        rotation = axis_angle(-fore, rng.uniform(0.0, 2.0 * np.pi)) @ rotation_onto(along, -fore)
        hand_body, hand_joints = build_hand(shape, pose, side, wear, rotation, joints[ARM[side][2]], owner)
        hands.append(PlacedHand(side, shape, pose, hand_body, hand_joints, owner))
    n = len(cones)
    body = Body(
        cones=RoundCones(
            a=np.array([c[0] for c in cones]) + translation, b=np.array([c[1] for c in cones]) + translation,
            ra=np.array([c[2] for c in cones]), rb=np.array([c[3] for c in cones]),
        ),
        plates=[],
        label=np.full(n, PERSON, np.uint8),
        material=np.array([c[4] for c in cones], np.int8),
        hand=np.full(n, owner, np.int8),
        palmar=np.zeros((n, 3)),  # no palm side: no palm tint on the body's skin
        nail=np.zeros(n, bool),
    )  # fmt: skip
    return _Person(body, hands, joints, tolerance)


def _placement(
    rng: np.random.Generator,
    K: np.ndarray,
    size: int,
    length: float,
    joints: np.ndarray,
    cones: list[tuple[np.ndarray, np.ndarray, float, float, int]],
    forearm_length: float,
    shape: HandShape,
) -> np.ndarray:
    """Where the person's torso centre goes in the camera frame (module docstring: sizes).

    The person keeps :data:`BODY_MARGIN` beyond the near limit, and each wrist stays a whole
    forearm beyond it, so that :func:`build_hand` never shortens a forearm: its elbow stays the
    labelled one."""
    if rng.random() < SMALL_HAND_FRACTION:
        low, high = SMALL_HAND_PX
    else:
        low, high = LARGE_HAND_PX, max(LARGE_HAND_MAX * size, LARGE_HAND_PX)
    hand_px = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    centre_px = rng.uniform(CENTRE_MARGIN, 1.0 - CENTRE_MARGIN, 2) * (size - 1.0)
    depth = K[0, 0] * length / hand_px
    nearest_solid = min(min(a[2] - ra, b[2] - rb) for a, b, ra, rb, _ in cones)
    wrists = joints[[ARM["left"][2], ARM["right"][2]], 2]
    depth = max(
        depth,
        NEAR_LIMIT + BODY_MARGIN - nearest_solid,
        NEAR_LIMIT + BODY_MARGIN + forearm_length + shape.forearm_radius[1] - float(wrists.min()),
    )
    return backproject(centre_px, np.array(depth), K)
