"""How the hand looks: skin tones, nails, creases, sleeves, lights and the shading that combines them.

Shading happens in linear RGB: a wrapped diffuse term (light bleeding past the terminator, as it
does through skin) with a reddish band where it fades, Blinn-Phong highlights, ambient light,
screen-space ambient occlusion from the depth map, and the albedo variations real hands have and
that tell palm from back: blotches, a paler palm side, flexion creases at the finger joints and
across the palm, wrinkled knuckles, flushed fingertips, nails.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

from handpose.synth.kinematics import cross
from handpose.synth.render import Fragments, SurfacePoints
from handpose.synth.surface import BAND, HAND_LABEL_BASE, OBJECT, PALM_OFFSET, SKIN, SLEEVE, Body

#: Extra red (and a little green) that skin scatters into its shadow side.
_SCATTER_TINT = np.array([0.9, 0.25, 0.0], np.float32)
#: Colour shift of flushed fingertips (relative).
_FLUSH_TINT = np.array([0.6, -0.5, -0.4], np.float32)
PALM_LABELS = tuple(base + PALM_OFFSET for base in HAND_LABEL_BASE.values())

#: Skin colours in sRGB from very light to very dark (as photographed under white light).
_SKIN_ANCHORS = np.array(
    [[243, 200, 176], [226, 176, 146], [203, 148, 114], [172, 118, 84], [128, 84, 58], [86, 56, 40]], dtype=float
) / 255.0
_PALM_TINT = np.array([236, 178, 160]) / 255.0
_NAIL_TINT = np.array([238, 210, 204]) / 255.0


def to_linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] to linear light (a 2.2 power, precise enough for synthesis)."""
    return np.power(np.clip(srgb, 0.0, 1.0), 2.2)


_SRGB_TABLE = np.round(255.0 * np.power(np.linspace(0.0, 1.0, 65536), 1.0 / 2.2)).astype(np.uint8)


def to_srgb8(linear: np.ndarray) -> np.ndarray:
    """Linear light to 8-bit sRGB through a 16-bit lookup table (much cheaper than a power)."""
    return _SRGB_TABLE[(np.clip(linear, 0.0, 1.0) * 65535.0 + 0.5).astype(np.int32)]


@dataclass
class Skin:
    """One person's skin in linear RGB: back of the hand, palm side, nails."""

    back: np.ndarray
    palm: np.ndarray
    nail: np.ndarray
    srgb: np.ndarray  # the back colour in sRGB, for painting the same person elsewhere


def sample_skin(rng: np.random.Generator) -> Skin:
    """A skin tone from the whole human range, with individual redness and yellowness."""
    pos = rng.uniform(0.0, len(_SKIN_ANCHORS) - 1.0)
    i = min(int(pos), len(_SKIN_ANCHORS) - 2)
    srgb = _SKIN_ANCHORS[i] + (pos - i) * (_SKIN_ANCHORS[i + 1] - _SKIN_ANCHORS[i])
    redness, yellowness = rng.normal(0.0, 0.025), rng.normal(0.0, 0.025)
    srgb = np.clip(srgb + np.array([redness, -0.5 * redness, -yellowness]), 0.05, 1.0)
    darkness = 1.0 - srgb.mean()
    palm = srgb + (0.2 + 0.5 * darkness) * (_PALM_TINT * srgb.mean() / _PALM_TINT.mean() * 1.1 - srgb)
    nail = srgb + 0.55 * (_NAIL_TINT - srgb)
    return Skin(back=to_linear(srgb), palm=to_linear(palm), nail=to_linear(nail), srgb=srgb)


@dataclass
class Lighting:
    """Ambient light and 1-3 directional lights (directions towards the light, camera frame)."""

    ambient: np.ndarray  # (3,) linear
    directions: np.ndarray  # (L, 3) unit
    colors: np.ndarray  # (L, 3) linear


def _light_tint(rng: np.random.Generator) -> np.ndarray:
    """Warm (tungsten) to cool (daylight, LED) light colour with unit mean."""
    warmth = rng.uniform(-1.0, 1.0)
    tint = np.array([1.0 + 0.12 * warmth, 1.0, 1.0 - 0.15 * warmth]) * rng.normal(1.0, 0.03, size=3)
    return tint / tint.mean()


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """A key light from the camera side and above, optional fill or rim lights, ambient light."""
    n_lights = rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15])
    dirs, colors = [], []
    for k in range(n_lights):
        if k == 0:
            d = np.array([rng.normal(0.0, 0.6), -rng.uniform(0.0, 1.0), -rng.uniform(0.4, 1.2)])
            strength = rng.uniform(0.55, 1.0)
        else:
            d = rng.normal(0.0, 1.0, size=3)
            strength = rng.uniform(0.15, 0.5)
        dirs.append(d / np.linalg.norm(d))
        colors.append(strength * _light_tint(rng))
    ambient = rng.uniform(0.2, 0.55) * _light_tint(rng)
    colors = np.array(colors)
    # Auto-exposure: the brightest lit skin ends up near the top of the range, never far past it.
    exposure = rng.uniform(0.8, 1.15) / (ambient.mean() + colors.mean(axis=1).sum())
    return Lighting(ambient=ambient * exposure, directions=np.array(dirs), colors=colors * exposure)


@dataclass
class SolidLooks:
    """Per-solid material parameters (rows follow the body's solids)."""

    albedo: np.ndarray  # (S, 3) linear, back of the hand for skin
    palm_albedo: np.ndarray  # (S, 3) linear, palm side (equal to albedo for cloth and objects)
    nail_albedo: np.ndarray  # (S, 3) linear
    wrap: np.ndarray  # (S,) diffuse wrap: light bleeding round the terminator
    specular: np.ndarray  # (S,)
    shininess: np.ndarray  # (S,)


def _cloth_colour(rng: np.random.Generator) -> np.ndarray:
    """Clothing colours: many greys, blacks, whites and muted colours, some saturated ones."""
    if rng.random() < 0.4:
        grey = rng.choice([rng.uniform(0.03, 0.2), rng.uniform(0.2, 0.6), rng.uniform(0.6, 0.95)])
        return to_linear(np.full(3, grey) * rng.normal(1.0, 0.03, size=3))
    return to_linear(np.array(colorsys.hsv_to_rgb(rng.uniform(0.0, 1.0), rng.uniform(0.2, 0.9), rng.uniform(0.2, 0.95))))


def solid_looks(rng: np.random.Generator, body: Body, skins: list[Skin]) -> SolidLooks:
    """Materials of every solid: the skin of its hand, a cloth colour per sleeve, bands, objects."""
    n = len(body.label)
    albedo, palm, nail = np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3))
    wrap, specular, shininess = np.zeros(n), np.zeros(n), np.ones(n)
    gloss = rng.uniform(0.03, 0.14)
    for hand in np.unique(body.hand):
        rows = body.hand == hand
        sleeve, band = _cloth_colour(rng), _cloth_colour(rng) * rng.uniform(0.3, 1.0)
        for material, colour, w, spec, shine in (
            (SLEEVE, sleeve, 0.1, 0.02, 4.0),
            (BAND, band, 0.0, rng.uniform(0.05, 0.5), 40.0),
            (OBJECT, _cloth_colour(rng), 0.0, rng.uniform(0.02, 0.4), 30.0),
        ):
            sel = rows & (body.material == material)
            albedo[sel] = palm[sel] = nail[sel] = colour
            wrap[sel], specular[sel], shininess[sel] = w, spec, shine
        if hand >= 0:
            skin = skins[hand]
            sel = rows & (body.material == SKIN)
            albedo[sel], palm[sel], nail[sel] = skin.back, skin.palm, skin.nail
            wrap[sel], specular[sel], shininess[sel] = 0.35, gloss, rng.uniform(8.0, 30.0)
    return SolidLooks(albedo=albedo, palm_albedo=palm, nail_albedo=nail, wrap=wrap, specular=specular,
                      shininess=shininess)


def ambient_occlusion(fragments: Fragments, strength: float) -> np.ndarray:
    """(H, W) darkening factor in crevices: pixels lying deeper than their neighbourhood's average."""
    depth = fragments.depth
    covered = np.isfinite(depth)
    if not covered.any():
        return np.ones(depth.shape, np.float32)
    filled = np.where(covered, depth, depth[covered].max() + 30.0).astype(np.float32)
    # The neighbourhood average is smooth: blur at half resolution and enlarge it again.
    h, w = depth.shape
    small = cv2.resize(filled, (max(w // 2, 1), max(h // 2, 1)), interpolation=cv2.INTER_AREA)
    local = cv2.resize(cv2.GaussianBlur(small, (0, 0), sigmaX=max(depth.shape) / 128.0), (w, h))
    return np.clip(1.0 - strength * np.clip((filled - local) / 25.0, 0.0, 1.0), 0.0, 1.0)


def _bump(x: np.ndarray, width: float) -> np.ndarray:
    """1 at 0 falling smoothly to 0 at +-width."""
    t = np.maximum(1.0 - (x * (1.0 / width)) ** 2, 0.0)
    return t * t


#: Palm creases in palm coordinates (u: 0 ulnar edge to 1 radial edge; v: 0 wrist to 1 MCP row):
#: the distal and proximal transverse creases as v(u) and the thenar crease as u(v), each on a range.
_TRANSVERSE_CREASES = (((0.72, 0.0, 0.22), (0.0, 0.75)), ((0.5, 0.12, 0.0), (0.2, 1.0)))
_THENAR_CREASE = ((0.5, 1.0, -0.45), (0.05, 0.62))
_CREASE_WIDTH = 0.02


def _palm_lines(points: SurfacePoints, body: Body, palm_share: np.ndarray) -> np.ndarray:
    """(P,) darkening of the palm's main creases on the palmar face of each palm plate."""
    dark = np.zeros(len(points.solid), np.float32)
    for j, plate in enumerate(body.plates):
        rows = np.flatnonzero((points.solid == len(body.cones) + j) & (palm_share > 0.5))
        if not len(rows):
            continue
        v = plate.vertices  # wrist ulnar, wrist radial, then the MCP row from index to pinky
        across = v[1] - v[0]
        width = np.linalg.norm(v[2] - v[-1])
        along = v[2:].mean(axis=0) - (v[0] + v[1]) / 2.0
        along -= (along @ across) / (across @ across) * across
        length = np.linalg.norm(along)
        rel = points.position[rows] - v[0]
        u = (rel @ (across / np.linalg.norm(across))) / width
        w = (rel @ (along / length)) / length
        lines = np.zeros(len(rows), np.float32)
        for (c0, c1, c2), (lo, hi) in _TRANSVERSE_CREASES:
            on = (u >= lo) & (u <= hi)
            lines = np.maximum(lines, on * _bump(w - (c0 + c1 * u + c2 * u * u), _CREASE_WIDTH))
        (c0, c1, c2), (lo, hi) = _THENAR_CREASE
        on = (w >= lo) & (w <= hi)
        lines = np.maximum(lines, on * _bump(u - (c0 + c1 * w + c2 * w * w), _CREASE_WIDTH))
        dark[rows] = lines
    return dark


def _albedo(points: SurfacePoints, body: Body, table: np.ndarray, palmar: np.ndarray):
    """Per-point albedo, specular strength and shininess: palm-side tint, creases, knuckles, nails."""
    t = np.clip((palmar + 0.1) * (1.0 / 0.8), 0.0, 1.0)
    palm_share = t * t * (3.0 - 2.0 * t)
    albedo = table[:, 0:3] + palm_share[:, None] * table[:, 3:6]

    # Fingers: flexion creases on the palm side at each joint, wrinkled knuckles on the back,
    # and fingertips flushed with blood.
    axial, finger = points.axial, table[:, 15]
    at_joint = _bump(axial - 0.03, 0.1) + _bump(axial - 0.97, 0.1)
    knuckle = _bump(axial - 0.05, 0.22) * (1.0 - palm_share)
    darken = finger * (0.3 * at_joint * palm_share + 0.12 * knuckle) + 0.35 * _palm_lines(points, body, palm_share)
    flush = finger * table[:, 16] * _bump(axial - 1.0, 0.5)
    albedo *= (1.0 - darken)[:, None] * (1.0 + 0.1 * flush[:, None] * _FLUSH_TINT)

    specular, shininess = table[:, 13].copy(), table[:, 14].copy()
    nail_rows = np.flatnonzero(body.nail[points.solid])
    if len(nail_rows):
        k = points.solid[nail_rows]
        axis = body.cones.b[k] - body.cones.a[k]
        axis /= np.linalg.norm(axis, axis=1, keepdims=True)
        across = np.einsum("ij,ij->i", points.normal[nail_rows], cross(axis, body.palmar[k]))
        shape = ((axial[nail_rows] - 0.72) / 0.45) ** 2 + (across / 0.72) ** 2
        nail_px = nail_rows[(palmar[nail_rows] < -0.25) & (shape < 1.0)]
        albedo[nail_px] = table[nail_px, 6:9]
        specular[nail_px] = np.maximum(specular[nail_px], 0.25)
        shininess[nail_px] = 60.0
    return albedo, specular, shininess


def shade(
    points: SurfacePoints,
    body: Body,
    looks: SolidLooks,
    lighting: Lighting,
    occlusion: np.ndarray,
    blotches: np.ndarray,
) -> np.ndarray:
    """Linear RGB (P, 3) float32 of the visible surface points.

    ``occlusion`` is the (H, W) ambient-occlusion factor, ``blotches`` an (H, W, 3) multiplicative
    albedo variation near 1 (skin mottling, fabric irregularity).
    """
    label = body.label.astype(np.int16)
    finger_skin = (label >= 2) & ~np.isin(label, PALM_LABELS) & (body.material == SKIN)
    # One gather of every per-solid parameter instead of one per parameter.
    table = np.concatenate([
        looks.albedo, looks.palm_albedo - looks.albedo, looks.nail_albedo, body.palmar,
        looks.wrap[:, None], looks.specular[:, None], looks.shininess[:, None], finger_skin[:, None],
        body.nail[:, None],
    ], axis=1).astype(np.float32)[points.solid]
    n = points.normal
    palmar = np.einsum("ij,ij->i", n, table[:, 9:12])
    albedo, specular, shininess = _albedo(points, body, table, palmar)
    albedo *= blotches.reshape(-1, 3)[points.pixels]

    # All lights at once: (P, L) cosines, then one (P, L) x (L, 3) product per term.
    position = points.position
    inv_distance = 1.0 / np.sqrt(np.einsum("ij,ij->i", position, position))
    directions = lighting.directions.astype(np.float32)
    colors = lighting.colors.astype(np.float32)
    lambert = n @ directions.T
    wrap = table[:, 12:13]
    wrapped = np.clip((lambert + wrap) / (1.0 + wrap), 0.0, 1.0)
    # Skin scatters red light round the terminator: a reddish band where the wrapped light fades.
    scatter = wrapped * (1.0 - wrapped) * wrap
    diffuse = wrapped @ colors + (scatter @ colors) * _SCATTER_TINT + lighting.ambient.astype(np.float32)
    n_dot_view = -np.einsum("ij,ij->i", n, position) * inv_distance
    view_dot_light = -(position @ directions.T) * inv_distance[:, None]
    facing = np.clip((n_dot_view[:, None] + lambert) / np.sqrt(np.maximum(2.0 + 2.0 * view_dot_light, 1e-6)), 0.0, 1.0)
    shininess = shininess[:, None]
    lobe = facing / (shininess - shininess * facing + facing + 1e-6)  # Schlick's cheap facing ** shininess
    highlight = (np.where(lambert > 0.0, lobe, 0.0) * specular[:, None]) @ colors
    ao = occlusion.ravel()[points.pixels][:, None]
    return (albedo * diffuse + highlight) * ao
