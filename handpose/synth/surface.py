"""The flesh around the skeleton: a hand, wrist and forearm built from round cones and a palm plate.

Each phalanx is a round cone between its joints (the knuckles are the cones' end spheres); the
palm is a thick plate spanning the wrist and the MCP row with rounded rims, a thenar and a
hypothenar bulge; the wrist bridges the palm to a forearm of two rods (radius and ulna, giving the
flattened cross-section of a real forearm) which may wear a sleeve and a band. Every solid carries
its segmentation class in RHD's layout, its material and the direction of the palm side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handpose.synth.hand_shape import TIP_INSET, HandShape
from handpose.synth.kinematics import Articulation, axis_angle, forward_kinematics, mirror_x
from handpose.synth.poses import HandPose
from handpose.synth.render import Plate, RoundCones

#: RHD segmentation classes: background, person (arm, sleeve, body), then per hand three phalanges
#: per finger from tip to palm (thumb..pinky) and the palm: left hand 2-17, right hand 18-33.
BACKGROUND, PERSON = 0, 1
HAND_LABEL_BASE = {"left": 2, "right": 18}
PALM_OFFSET = 15

#: Materials of the solids.
SKIN, SLEEVE, BAND, OBJECT = 0, 1, 2, 3

#: The webs between fingers reach this far along the proximal phalanges, this thick (of the finger).
WEB_REACH, WEB_RADIUS = 0.22, 0.6

#: Forearms never come closer to the camera than this (mm), where a real body would be.
NEAR_LIMIT = 60.0


def hand_labels(side: str) -> range:
    """The mask classes belonging to one hand."""
    base = HAND_LABEL_BASE[side]
    return range(base, base + PALM_OFFSET + 1)


def phalanx_label(side: str, finger: int, bone: int) -> int:
    """Mask class of a finger bone (0 thumb .. 4 pinky; bone 0 at the palm .. 2 at the tip)."""
    return HAND_LABEL_BASE[side] + 3 * finger + (2 - bone)


@dataclass
class ArmWear:
    """What covers the forearm: a sleeve from some distance below the wrist, a wrist band."""

    sleeve_start: float | None  # mm from the wrist along the forearm; None for a bare arm
    sleeve_loose: float  # mm of fabric above the skin
    band: tuple[float, float] | None  # (start, width) mm from the wrist, or None


#: Wrist bands: (share of forearms wearing one, nearest and farthest start below the wrist joint in
#: mm of the reference hand), by default and with ``bands_at_wrist``. Real bands and watches sit at
#: the wrist crease too, where annotators put the wrist; the default never puts one there
#: (docs/results.md, "Wrist bands where the wrist is": +0.006 AUC on real subject 001 over four
#: seeds of the ablation's fine-tune).
BANDS = {False: (0.25, 22.0, 40.0), True: (0.35, 0.0, 40.0)}


def sample_arm_wear(rng: np.random.Generator, shape: HandShape, bands_at_wrist: bool = False) -> ArmWear:
    """Bare forearms, short and long sleeves, occasional watches and bracelets (from the wrist
    crease down where ``bands_at_wrist``, else from 22 mm down)."""
    r = rng.random()
    if r < 0.4:
        start = None
    elif r < 0.75:
        start = rng.uniform(0.3, 1.0) * shape.forearm_length
    else:
        start = rng.uniform(25.0, 90.0) * shape.scale()
    share, nearest, farthest = BANDS[bands_at_wrist]
    band = (rng.uniform(nearest, farthest) * shape.scale(), rng.uniform(4.0, 22.0)) if rng.random() < share else None
    return ArmWear(sleeve_start=start, sleeve_loose=rng.uniform(2.0, 9.0), band=band)


@dataclass
class Body:
    """Solids of a scene's hands and arms in the camera frame, with one attribute row per solid.

    Solid ``i < len(cones)`` is a round cone, the others are the plates in order (as in
    :func:`handpose.synth.render.rasterise`).
    """

    cones: RoundCones
    plates: list[Plate]
    label: np.ndarray  # (S,) uint8 segmentation class
    material: np.ndarray  # (S,) int8
    hand: np.ndarray  # (S,) int8 hand index within the scene
    palmar: np.ndarray  # (S, 3) unit direction of the palm side
    nail: np.ndarray  # (S,) bool: a fingertip bone that carries a nail

    @staticmethod
    def concatenate(bodies: list["Body"]) -> "Body":
        """One body holding all solids, cones first then plates (attributes reordered to match)."""
        cone_rows = [np.arange(len(b.cones)) for b in bodies]
        plate_rows = [np.arange(len(b.cones), len(b.label)) for b in bodies]

        def join(attr: str) -> np.ndarray:
            parts = [getattr(b, attr)[rows] for b, rows in zip(bodies, cone_rows)]
            parts += [getattr(b, attr)[rows] for b, rows in zip(bodies, plate_rows)]
            return np.concatenate(parts)

        cones = RoundCones(
            a=np.concatenate([b.cones.a for b in bodies]),
            b=np.concatenate([b.cones.b for b in bodies]),
            ra=np.concatenate([b.cones.ra for b in bodies]),
            rb=np.concatenate([b.cones.rb for b in bodies]),
        )
        plates = [p for b in bodies for p in b.plates]
        return Body(cones, plates, join("label"), join("material"), join("hand"), join("palmar"), join("nail"))


class _Builder:
    """Collects solids in the right-hand frame, then maps them into the camera frame."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []  # (a, b, ra, rb, label, material, palmar, nail)

    def cone(self, a, b, ra, rb, label, material=SKIN, palmar=(0.0, 0.0, 1.0), nail=False) -> None:
        self.rows.append((np.asarray(a, float), np.asarray(b, float), float(ra), float(rb), label, material,
                          np.asarray(palmar, float), nail))

    def build(self, plate: Plate, plate_label: int, mirror: bool, rotation: np.ndarray, translation: np.ndarray,
              hand_index: int) -> Body:
        a = np.array([r[0] for r in self.rows])
        b = np.array([r[1] for r in self.rows])
        palmar = np.array([r[6] for r in self.rows] + [plate.normal])
        verts, normal = plate.vertices, plate.normal
        if mirror:
            a, b, palmar, verts, normal = (mirror_x(v) for v in (a, b, palmar, verts, normal))
        to_cam = lambda p: p @ rotation.T + translation  # noqa: E731
        cones = RoundCones(a=to_cam(a), b=to_cam(b), ra=np.array([r[2] for r in self.rows]),
                           rb=np.array([r[3] for r in self.rows]))
        plate_cam = Plate(vertices=to_cam(verts), normal=rotation @ normal, half_thickness=plate.half_thickness)
        n = len(self.rows) + 1
        return Body(
            cones=cones,
            plates=[plate_cam],
            label=np.array([r[4] for r in self.rows] + [plate_label], dtype=np.uint8),
            material=np.array([r[5] for r in self.rows] + [SKIN], dtype=np.int8),
            hand=np.full(n, hand_index, dtype=np.int8),
            palmar=palmar @ rotation.T,
            nail=np.array([r[7] for r in self.rows] + [False]),
        )


def forearm_frame(pose: HandPose) -> np.ndarray:
    """Rotation from forearm to hand coordinates: wrist flexion about x, deviation about z."""
    flex, deviation = pose.wrist
    return axis_angle([1.0, 0.0, 0.0], -flex) @ axis_angle([0.0, 0.0, 1.0], deviation)


def _forearm_length(shape: HandShape, direction_cam: np.ndarray, wrist_cam: np.ndarray) -> float:
    """The forearm's length, shortened where it would reach behind the camera's near limit."""
    length = shape.forearm_length
    margin = NEAR_LIMIT + shape.forearm_radius[1] + 15.0
    end_z = wrist_cam[2] + length * direction_cam[2]
    if end_z < margin and direction_cam[2] < 0.0:
        length = max((wrist_cam[2] - margin) / -direction_cam[2], 30.0)
    return length


def build_hand(
    shape: HandShape,
    pose: HandPose,
    side: str,
    wear: ArmWear,
    rotation: np.ndarray,
    translation: np.ndarray,
    hand_index: int = 0,
) -> tuple[Body, np.ndarray]:
    """Solids of one hand and forearm, and its 21 joints, in the camera frame.

    ``rotation`` and ``translation`` map the hand frame (wrist at the origin) into the camera
    frame; a left hand is the mirror image of the right one before that mapping.
    """
    art = forward_kinematics(shape.chains, pose.fingers)
    palm_label = HAND_LABEL_BASE[side] + PALM_OFFSET
    builder = _Builder()
    _add_fingers(builder, shape, art, side)
    plate = _add_palm(builder, shape, art, palm_label)
    forearm = forearm_frame(pose)
    length = _forearm_length(shape, rotation @ (forearm @ np.array([0.0, -1.0, 0.0])), translation)
    _add_forearm(builder, shape, wear, forearm, length, plate, palm_label)
    body = builder.build(plate, palm_label, side == "left", rotation, translation, hand_index)
    return body, hand_frame_joints(art, side) @ rotation.T + translation


def _add_fingers(builder: _Builder, shape: HandShape, art: Articulation, side: str) -> None:
    """Three tapered phalanges per finger, and the skin webs between neighbouring fingers."""
    for finger in range(5):
        joints = art.joints[1 + 4 * finger: 5 + 4 * finger]
        for bone in range(3):
            frame = art.bone_frames[finger, bone]
            end = joints[bone + 1]
            r_end = shape.radii[finger, bone + 1]
            if bone == 2:  # the pad sphere's centre lies behind the tip keypoint
                end = end - frame[:, 1] * r_end * (1.0 - TIP_INSET)
            builder.cone(joints[bone], end, shape.radii[finger, bone], r_end, phalanx_label(side, finger, bone),
                         palmar=frame[:, 2], nail=bone == 2)
    web_points = art.joints[5:18:4] + WEB_REACH * (art.joints[6:19:4] - art.joints[5:18:4])
    for finger in range(1, 4):
        builder.cone(web_points[finger - 1], web_points[finger], WEB_RADIUS * shape.radii[finger, 0],
                     WEB_RADIUS * shape.radii[finger + 1, 0], HAND_LABEL_BASE[side] + PALM_OFFSET,
                     palmar=art.bone_frames[finger, 0][:, 2])


def _add_palm(builder: _Builder, shape: HandShape, art: Articulation, palm_label: int) -> Plate:
    """The palm plate's rounded rim, the thenar mound following the thumb, the hypothenar edge."""
    s = shape.scale()
    plate = _palm_plate(shape)
    rim = plate.vertices
    for i in range(len(rim)):
        builder.cone(rim[i], rim[(i + 1) % len(rim)], plate.half_thickness, plate.half_thickness, palm_label)
    thumb_cmc, thumb_mcp = art.joints[1], art.joints[2]
    builder.cone(np.array([9.0, 20.0, 5.0]) * s, thumb_cmc + 0.55 * (thumb_mcp - thumb_cmc) + np.array([0, 0, 2.0]) * s,
                 plate.half_thickness * 1.12, shape.radii[0, 1] * 1.05, palm_label)
    builder.cone(np.array([-16.0, 14.0, 3.0]) * s, np.array([-26.0, 52.0, 3.0]) * s,
                 plate.half_thickness, plate.half_thickness * 0.95, palm_label)
    return plate


def _add_forearm(
    builder: _Builder, shape: HandShape, wear: ArmWear, forearm: np.ndarray, length: float, plate: Plate, palm_label: int
) -> None:
    """Wrist, the two forearm rods, and the sleeve and band over them."""
    s = shape.scale()
    r_wrist, r_elbow = shape.forearm_radius
    palmar = forearm @ np.array([0.0, 0.0, 1.0])

    def rod(offset_x: float, dist: float) -> np.ndarray:
        """A point on the radial (+) or ulnar (-) rod, ``dist`` mm down the forearm."""
        return forearm @ np.array([offset_x * s, -dist, 0.0])

    def rod_radius(dist: float) -> float:
        return r_wrist + (r_elbow - r_wrist) * np.clip(dist / length, 0.0, 1.0)

    def spread(dist: float) -> float:
        """Half the distance between the rods, which part towards the elbow."""
        return 8.0 + 3.0 * min(dist / length, 1.0)

    start = 20.0 * s
    sleeved = wear.sleeve_start is not None and wear.sleeve_start < length - 5.0
    bare_end = min(wear.sleeve_start + 10.0, length) if sleeved else length  # no skin cast inside the sleeve
    for sign, corner in ((-1.0, plate.vertices[0]), (1.0, plate.vertices[1])):  # ulnar, radial
        builder.cone(corner, rod(sign * spread(start), start), plate.half_thickness, r_wrist, palm_label, palmar=palmar)
        builder.cone(rod(sign * spread(start), start), rod(sign * spread(bare_end), bare_end), r_wrist,
                     rod_radius(bare_end), PERSON, palmar=palmar)
        if sleeved:
            d0 = max(wear.sleeve_start, start)
            builder.cone(rod(sign * spread(d0), d0), rod(sign * spread(length), length),
                         rod_radius(d0) + wear.sleeve_loose, r_elbow + wear.sleeve_loose, PERSON, SLEEVE, palmar=palmar)
        if wear.band is not None:
            d0, width = wear.band
            builder.cone(rod(sign * spread(d0), d0), rod(sign * spread(d0 + width), d0 + width), rod_radius(d0) + 1.5,
                         rod_radius(d0 + width) + 1.5, PERSON, BAND, palmar=palmar)


def hand_frame_joints(articulation: Articulation, side: str) -> np.ndarray:
    """The 21 joints in the hand frame of ``side`` (a left hand mirrors the right-hand skeleton)."""
    return mirror_x(articulation.joints) if side == "left" else articulation.joints


def _palm_plate(shape: HandShape) -> Plate:
    """The palm plate in the hand frame; its rim runs wrist ulnar, wrist radial, then the MCP row."""
    s = shape.scale()
    r = shape.palm_half_thickness
    half_wrist = shape.wrist_half_width - r
    row = shape.chains.bases[1:, :2] - np.array([0.0, 3.5 * s])
    row[0, 0] += 2.0 * s
    row[3, 0] -= 1.0 * s
    rim2d = np.concatenate([np.array([[-half_wrist, -6.0 * s], [half_wrist, -6.0 * s]]), row])
    rim = np.concatenate([rim2d, np.zeros((len(rim2d), 1))], axis=1)
    return Plate(vertices=rim, normal=np.array([0.0, 0.0, 1.0]), half_thickness=r)
