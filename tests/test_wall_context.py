"""The wall context (cfdgen.wall_context) on shapes whose answer is known: a straight tube, a bend of known
radius, a tapering tube, a symmetric bifurcation, a sac patch."""

import numpy as np
import pytest

from cfdgen.centerline import Centerline
from cfdgen.wall_context import CONTEXT_NAMES, SAC_DISTANCE_CAP, UPSTREAM_RADII, wall_context

COL = {n: i for i, n in enumerate(CONTEXT_NAMES)}


def straight(a, b, r0, r1=None, n=201, name="path"):
    s = np.linspace(0.0, 1.0, n)[:, None]
    pts = np.asarray(a) + s * (np.asarray(b) - np.asarray(a))
    t = (np.asarray(b) - np.asarray(a)) / np.linalg.norm(np.asarray(b) - np.asarray(a))
    r = np.full(n, r0) if r1 is None else r0 + (r1 - r0) * s[:, 0]
    return Centerline(pts, r, np.tile(t, (n, 1)), np.zeros(n), np.zeros(n), name)


def ring(x, radius, n=24):
    """Wall points of the circle of ``radius`` around the x axis at abscissa x."""
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([np.full(n, x), radius * np.cos(th), radius * np.sin(th)])


def test_straight_tube_distances_and_no_curvature():
    R, L = 2.0, 40.0
    pts = np.vstack([ring(x, R) for x in (5.0, 20.0, 35.0)])
    k = wall_context(pts, None, [straight([0, 0, 0], [L, 0, 0], R)])
    x = pts[:, 0]
    np.testing.assert_allclose(k[:, COL["branch_start"]], np.arcsinh(x / R), atol=2e-3)
    np.testing.assert_allclose(k[:, COL["branch_end"]], np.arcsinh((L - x) / R), atol=2e-3)
    for name in ("curvature", "upstream_curvature", "outer_wall", "upstream_outer_wall", "taper"):
        np.testing.assert_allclose(k[:, COL[name]], 0.0, atol=1e-3)
    np.testing.assert_allclose(k[:, COL["tube_deviation"]], 1.0, atol=1e-3)
    np.testing.assert_allclose(k[:, COL["sac_distance"]], np.arcsinh(SAC_DISTANCE_CAP), atol=1e-3)


def test_flow_extension_beyond_the_inlet_is_negative():
    R = 1.5
    k = wall_context(ring(-3.0, R), None, [straight([0, 0, 0], [30, 0, 0], R)])
    np.testing.assert_allclose(k[:, COL["branch_start"]], np.arcsinh(-3.0 / R), atol=2e-3)


def test_bend_outer_and_inner_wall():
    """A circular arc of radius Rc in the xy plane: κR = R/Rc, +κR on the outer wall, −κR on the inner. The
    upstream average of κ⃗, a vector turning with the bend, settles to κ⃗/(1 + iL/Rc) in the bend's plane
    (L = UPSTREAM_RADII·R): magnitude 1/√(1 + (L/Rc)²), component along the wall's radial 1/(1 + (L/Rc)²)."""
    R, Rc = 1.0, 8.0
    phi = np.linspace(0, 1.8 * np.pi, 2000)
    c = np.column_stack([Rc * np.cos(phi), Rc * np.sin(phi), np.zeros_like(phi)])
    t = np.column_stack([-np.sin(phi), np.cos(phi), np.zeros_like(phi)])
    n = len(phi)
    path = Centerline(c, np.full(n, R), t, np.full(n, 1 / Rc), np.zeros(n), "bend")
    at = 1.5 * np.pi  # 37.7 mm of arc: the average's start-up has decayed by e^-7.5
    centre = Rc * np.array([np.cos(at), np.sin(at), 0.0])
    radial = np.array([np.cos(at), np.sin(at), 0.0])
    pts = np.array([centre + R * radial, centre - R * radial, centre + [0, 0, R]])  # outer, inner, top
    k = wall_context(pts, None, [path])
    q = UPSTREAM_RADII * R / Rc
    np.testing.assert_allclose(k[:, COL["curvature"]], R / Rc, atol=2e-3)
    np.testing.assert_allclose(k[:, COL["outer_wall"]], [R / Rc, -R / Rc, 0.0], atol=3e-3)
    np.testing.assert_allclose(k[:, COL["upstream_curvature"]], R / Rc / np.sqrt(1 + q**2), atol=3e-3)
    np.testing.assert_allclose(k[:, COL["upstream_outer_wall"]], np.array([1, -1, 0]) * R / Rc / (1 + q**2), atol=3e-3)


def test_upstream_curvature_decays_after_a_bend():
    """Straight after a bend: the local curvature is 0, the upstream one decays with the distance."""
    R, Rc = 1.0, 6.0
    phi = np.linspace(0, np.pi / 2, 200)
    arc = np.column_stack([Rc * np.sin(phi), Rc * (1 - np.cos(phi)), np.zeros_like(phi)])
    tan = np.column_stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)])
    y = np.linspace(0, 30, 301)[1:]
    line = np.column_stack([np.full_like(y, Rc), Rc + y, np.zeros_like(y)])
    pts = np.vstack([arc, line])
    t = np.vstack([tan, np.tile([0.0, 1.0, 0.0], (len(y), 1))])
    curv = np.concatenate([np.full(len(phi), 1 / Rc), np.zeros(len(y))])
    path = Centerline(pts, np.full(len(pts), R), t, curv, np.zeros(len(pts)), "bend-then-straight")
    wall = np.array([[Rc + R, Rc + d, 0.0] for d in (2.0, 10.0, 25.0)])
    k = wall_context(wall, None, [path])
    np.testing.assert_allclose(k[:, COL["curvature"]], 0.0, atol=1e-3)
    up = k[:, COL["upstream_curvature"]]
    assert up[0] > up[1] > up[2] >= 0
    assert up[0] > 0.3 * R / Rc and up[2] < 0.01 * R / Rc


def test_taper():
    k = wall_context(ring(10.0, 1.75), None, [straight([0, 0, 0], [20, 0, 0], 2.0, 1.5)])
    np.testing.assert_allclose(k[:, COL["taper"]], -0.5 / 20, atol=1e-4)


def test_bifurcation_junction_bounds():
    """Two paths share a trunk to x = 10, then part at ±45°: on a daughter the branch starts near the junction,
    on the trunk it ends there."""
    R = 1.0
    d = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    paths = []
    for sign in (1, -1):
        trunk = np.column_stack([np.linspace(0, 10, 101), np.zeros(101), np.zeros(101)])
        dd = d * [1, sign, 1]
        branch = np.array([10, 0, 0]) + np.linspace(0, 15, 151)[1:, None] * dd
        pts = np.vstack([trunk, branch])
        t = np.vstack([np.tile([1.0, 0, 0], (101, 1)), np.tile(dd, (150, 1))])
        z = np.zeros(len(pts))
        paths.append(Centerline(pts, np.full(len(pts), R), t, z, z, f"p{sign}"))
    on_trunk = np.array([[4.0, R, 0.0], [4.0, 0.0, R]])
    on_daughter = np.array([10, 0, 0]) + 8.0 * d + R * np.array([0, 0, 1.0])
    k = wall_context(np.vstack([on_trunk, on_daughter]), None, paths)
    # the paths part where they are 0.25 R apart: 0.25 R / (2 sin 45°) ≈ 0.18 mm past the branch point
    part = 0.25 * R / (2 * np.sin(np.pi / 4))
    np.testing.assert_allclose(k[:2, COL["branch_end"]], np.arcsinh((10 + part - 4) / R), atol=0.03)
    np.testing.assert_allclose(k[2, COL["branch_start"]], np.arcsinh((8 - part) / R), atol=0.03)
    np.testing.assert_allclose(k[2, COL["branch_end"]], np.arcsinh(7.0 / R), atol=0.03)


def test_sac_distance():
    R = 2.0
    pts = np.vstack([ring(x, R) for x in np.arange(0.0, 30.0, 1.0)])
    sac = (pts[:, 0] >= 14) & (pts[:, 0] <= 16) & (pts[:, 1] > 1.0)
    k = wall_context(pts, sac, [straight([0, 0, 0], [30, 0, 0], R)])
    assert np.all(k[sac, COL["sac_distance"]] == 0)
    far = (pts[:, 0] == 25.0) & (np.abs(pts[:, 2]) < 1e-9) & (pts[:, 1] > 0)
    np.testing.assert_allclose(k[far, COL["sac_distance"]], np.arcsinh(9.0 / R), atol=2e-3)


def test_refuses_no_paths():
    with pytest.raises(ValueError):
        wall_context(np.zeros((3, 3)), None, [])
