"""The ray caster against brute force: round cones as unions of many spheres, plates, normals."""

import numpy as np
import pytest

from handpose.synth.render import (
    Plate,
    RoundCones,
    cast_plate_face,
    cast_round_cone,
    rasterise,
    ray_grid,
    rays_near_axis,
    surface_points,
)

K = np.array([[120.0, 0.0, 31.5], [0.0, 120.0, 31.5], [0.0, 0.0, 1.0]])
GRID = ray_grid(K, 64, 64)


def _spheres_depth(centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Nearest entry depth over many spheres (inf where none is hit), in double precision."""
    x, y = GRID.x.astype(float), GRID.y.astype(float)
    length_sq = x * x + y * y + 1.0
    best = np.full(x.shape, np.inf)
    for c, r in zip(centres, radii):
        dc = x * c[0] + y * c[1] + c[2]
        disc = dc * dc - length_sq * (c @ c - r * r)
        t = np.where(disc >= 0, (dc - np.sqrt(np.maximum(disc, 0))) / length_sq, np.inf)
        best = np.minimum(best, t)
    return best


def _cast(a, b, ra, rb, near_axis=True):
    with np.errstate(invalid="ignore", divide="ignore"):
        t = cast_round_cone(GRID.x, GRID.y, GRID.length_sq, np.array(a), np.array(b), ra, rb, near_axis)
    return np.where(np.isnan(t), np.inf, t)


@pytest.mark.parametrize("seed", range(6))
def test_round_cone_matches_a_dense_union_of_spheres(seed):
    rng = np.random.default_rng(seed)
    a = np.array([0.0, 0.0, 300.0]) + rng.normal(0, 30, 3)
    b = a + rng.normal(0, 40, 3)
    ra, rb = rng.uniform(6, 25, 2)
    s = np.linspace(0, 1, 400)
    reference = _spheres_depth(a + s[:, None] * (b - a), ra + s * (rb - ra))
    depth = _cast(a, b, ra, rb)
    hit, ref_hit = np.isfinite(depth), np.isfinite(reference)
    assert ref_hit.sum() > 20
    assert (hit != ref_hit).sum() <= 0.03 * ref_hit.sum() + 2  # only silhouette pixels may differ
    both = hit & ref_hit
    assert np.median(np.abs(depth[both] - reference[both])) < 0.05
    assert np.max(np.abs(depth[both] - reference[both])) < 1.0


def test_single_root_is_exact_when_rays_stay_off_axis():
    cones = RoundCones(a=np.array([[-20.0, 5.0, 280.0]]), b=np.array([[25.0, -10.0, 300.0]]), ra=np.array([12.0]), rb=np.array([7.0]))
    assert not rays_near_axis(cones)[0]
    both = _cast(cones.a[0], cones.b[0], 12.0, 7.0, near_axis=True)
    one = _cast(cones.a[0], cones.b[0], 12.0, 7.0, near_axis=False)
    assert np.array_equal(both, one)


def test_cone_seen_along_its_axis_shows_its_flaring_side():
    # Looking at the narrow end of a strongly tapered cone: the lateral surface rings the small cap.
    cones = RoundCones(a=np.array([[0.0, 0.0, 400.0]]), b=np.array([[0.0, 0.0, 330.0]]), ra=np.array([30.0]), rb=np.array([6.0]))
    assert rays_near_axis(cones)[0]
    s = np.linspace(0, 1, 600)
    reference = _spheres_depth(cones.a[0] + s[:, None] * (cones.b[0] - cones.a[0]), 30.0 + s * (6.0 - 30.0))
    depth = _cast(cones.a[0], cones.b[0], 30.0, 6.0)
    both = np.isfinite(depth) & np.isfinite(reference)
    assert np.max(np.abs(depth[both] - reference[both])) < 1.0


def test_plate_face_hits_inside_its_polygon_only():
    square = np.array([[-20.0, -20.0, 300.0], [20.0, -20.0, 300.0], [20.0, 20.0, 300.0], [-20.0, 20.0, 300.0]])
    plate = Plate(vertices=square, normal=np.array([0.0, 0.0, -1.0]), half_thickness=5.0)
    t = cast_plate_face(GRID.x, GRID.y, plate)
    centre = t[32, 32]
    assert centre == pytest.approx(295.0, abs=1e-3)  # the face towards the camera, 5 mm in front
    assert np.isinf(t[0, 0]) and np.isinf(t[32, 2])  # outside the square's projection (|x| > 8 px)


def test_nearest_solid_wins_and_normals_face_the_camera():
    cones = RoundCones(
        a=np.array([[-30.0, 0.0, 300.0], [0.0, -30.0, 250.0]]),
        b=np.array([[30.0, 0.0, 300.0], [0.0, 30.0, 250.0]]),
        ra=np.array([10.0, 8.0]),
        rb=np.array([10.0, 8.0]),
    )
    fragments = rasterise(cones, [], GRID)
    assert fragments.index[32, 32] == 1  # the nearer rod covers the crossing
    assert fragments.depth[32, 32] == pytest.approx(242.0, abs=0.1)
    points = surface_points(fragments, cones, [], GRID)
    assert np.allclose(np.linalg.norm(points.normal, axis=1), 1.0, atol=1e-4)
    towards_camera = -np.einsum("ij,ij->i", points.normal, points.position)
    assert np.all(towards_camera > -1e-3)
