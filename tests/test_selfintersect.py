"""Self-intersection check: clean tubes, spheres and synthetic lumens pass; crossing and dented walls are found."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from cfdgen.errors import GeometryError
from cfdgen.intake import IntakeConfig, read_surface
from cfdgen.selfintersect import _crossing, self_intersecting_pairs
from tests.conftest import REALDATA
from tests.test_centerlines import swept_tube

R, L = 2.0, 40.0  # tube radius and length (mm)


def tube(axis: int = 2, n_along: int = 121, n_around: int = 48) -> pv.PolyData:
    s = np.linspace(-L / 2, L / 2, n_along)
    centers = np.zeros((n_along, 3))
    centers[:, axis] = s
    tangents = np.zeros((n_along, 3))
    tangents[:, axis] = 1.0
    return swept_tube(centers, tangents, R, n_around)


def arrays(poly: pv.PolyData) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(poly.points, np.float64), np.asarray(poly.faces).reshape(-1, 4)[:, 1:].astype(np.int64)


def dented(shift: float) -> tuple[np.ndarray, np.ndarray]:
    """The tube with the wall patch facing +x (±35°, |z| < 3 mm) moved by ``shift`` mm along -x."""
    p, t = arrays(tube())
    patch = (np.arctan2(p[:, 1], p[:, 0]) ** 2 < np.radians(35) ** 2) & (np.abs(p[:, 2]) < 3.0)
    p = p.copy()
    p[patch, 0] -= shift
    return p, t


def test_clean_tube_and_sphere_have_no_pairs():
    for poly in (tube(), pv.Icosphere(radius=5.0, nsub=5)):
        p, t = arrays(poly)
        assert self_intersecting_pairs(p, t).shape == (0, 2)


def test_rounding_noise_far_from_the_origin_is_not_a_crossing():
    # float32 coordinates 500 mm from the origin: every vertex is off by up to ~3e-5 mm
    p, t = arrays(tube())
    p = (p + 500.0).astype(np.float32).astype(np.float64)
    assert len(self_intersecting_pairs(p, t, max_pairs=None)) == 0


def test_interpenetrating_tubes_are_found_where_they_cross():
    pa, ta = arrays(tube(axis=2))
    pb, tb = arrays(tube(axis=0))
    p, t = np.vstack([pa, pb]), np.vstack([ta, tb + len(pa)])
    pairs = self_intersecting_pairs(p, t, max_pairs=None)
    assert len(pairs) > 100  # the two crossing curves, each ~4 R long, against ~0.25 mm triangles
    assert (pairs[:, 0] < len(ta)).all() and (pairs[:, 1] >= len(ta)).all()  # never within one tube
    centroids = p[t[pairs.ravel()]].mean(axis=1)
    assert np.abs(centroids).max() < R + 0.5  # all at the junction
    assert np.array_equal(pairs, pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))])
    first = self_intersecting_pairs(p, t, max_pairs=10)
    assert len(first) == 10 and np.isin(first[:, 0] * len(t) + first[:, 1], pairs[:, 0] * len(t) + pairs[:, 1]).all()


def test_wall_pushed_through_the_opposite_wall_is_found():
    p, t = dented(2 * R + 1.5)  # the patch ends ~1.5 mm outside the opposite wall
    pairs = self_intersecting_pairs(p, t, max_pairs=None)
    assert len(pairs) > 20
    where = p[t[pairs]].mean(axis=2)  # (pairs, 2 triangles, xyz) centroids
    assert (where[:, :, 0].min(axis=1) < -1.5).all()  # one of each pair lies in the opposite wall (x ≈ -R)
    assert np.abs(where[:, :, 2]).max() < 3.5
    # a dent that stays inside the lumen is not a crossing
    p, t = dented(R)
    assert len(self_intersecting_pairs(p, t, max_pairs=None)) == 0


def test_shallow_pokes_are_let_through_deep_ones_are_not():
    """A triangle outside the wall whose tip pokes in by ``depth`` mm: rounding-scale wrinkles are not crossings."""
    p, t = arrays(tube())
    x_wall = R - (R - R * np.cos(np.radians(7.5))) / (R * np.sin(np.radians(7.5))) * 0.1  # facet at y = 0.1 mm
    found = {}
    for depth in (-0.01, 0.001, 0.01, 0.1):
        tip = [[2.3, 0.1, 0.05], [2.3, 0.12, 0.25], [x_wall - depth, 0.1, 0.15]]
        pairs = self_intersecting_pairs(np.vstack([p, tip]), np.vstack([t, [[len(p), len(p) + 1, len(p) + 2]]]))
        found[depth] = len(pairs) > 0
    assert found == {-0.01: False, 0.001: False, 0.01: False, 0.1: True}  # pair size ~0.4 mm: 5 % is ~20 um


def test_huge_triangles_are_paired_with_small_ones():
    """A few triangles far larger than the rest take the broad phase's separate path and must not be missed."""
    p, t = arrays(tube())
    blade = np.array([[-10.0, 0.3, -8.0], [10.0, 0.3, -8.0], [0.0, 0.3, 8.0], [-9.0, 30.0, 0.0], [9.0, 30.0, 0.0]])
    p2 = np.vstack([p, blade])
    n = len(p)
    t2 = np.vstack([t, [[n, n + 1, n + 2], [n + 3, n + 4, n + 2]]])  # one slices the tube, one stays clear
    pairs = self_intersecting_pairs(p2, t2, max_pairs=None)
    assert len(pairs) > 0 and (pairs[:, 1] == len(t)).all()


def test_broad_phase_misses_nothing_on_a_random_soup():
    rng = np.random.default_rng(3)
    m = 400
    centres = rng.uniform(0, 10, (m, 1, 3))
    scale = np.exp(rng.uniform(np.log(0.2), np.log(6.0), (m, 1, 1)))  # sizes over a factor 30
    p = (centres + scale * rng.normal(size=(m, 3, 3))).reshape(-1, 3)
    t = np.arange(3 * m).reshape(m, 3)
    i, j = np.triu_indices(m, 1)
    brute = np.column_stack([i, j])[_crossing(p[t[i]], p[t[j]], 1e-6, 0.05)]
    found = self_intersecting_pairs(p, t, max_pairs=None)
    assert len(brute) > 100
    assert np.array_equal(found, brute)


def test_synthetic_lumen_is_clean():
    from cfdgen.synth.cohort import build_case
    from cfdgen.synth.config import SynthConfig

    p, t = arrays(build_case(5, 0, SynthConfig()).surface)
    assert len(self_intersecting_pairs(p, t, max_pairs=None)) == 0


def test_intake_refuses_a_self_intersecting_tube(tmp_path):
    p, t = dented(2 * R + 1.5)
    path = tmp_path / "dented.vtp"
    pv.PolyData.from_regular_faces(p, t).save(path)
    with pytest.raises(GeometryError) as info:
        read_surface(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert "self-intersecting surface:" in message and "triangle pairs cross" in message and "remesh" in message
    # the check can be switched off, and then the same file is an ordinary tube with two openings
    assert read_surface(path, IntakeConfig(check_self_intersections=False)).n_openings == 2


@pytest.mark.parametrize(
    "name",
    [
        "gmsh_carotid/carotid.stl",
        "vampy_aneurisk_C0015/artery.vtp",
        "anxplore178_semisynthetic/AnXplore178_FSI_00045_surface.vtu",
    ],
)
def test_real_surfaces_still_pass_intake(name):
    path = REALDATA / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    assert read_surface(path).n_openings >= 2
