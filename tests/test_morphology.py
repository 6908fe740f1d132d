"""Morphology functions against closed forms: spherical and spheroidal caps on a planar neck."""

import numpy as np
import pytest

from cfdgen.morphology import point_set_diameter, sac_shape, sphere_cap_closed_form
from cfdgen.synth.build import construct_sac
from cfdgen.synth.sac import Ellipsoid, sphere


def plane_vessel(p, far=np.inf):
    """The 'vessel' is the half-space z < 0: the sac is what lies above the plane z = 0."""
    return np.minimum(np.asarray(p)[:, 2], far)


def cap(radius, center_z, subdivisions=6):
    return sac_shape(construct_sac((sphere([0.0, 0.0, center_z], radius),), subdivisions, plane_vessel))


def test_hemisphere_closed_form():
    r = 3.0
    m = cap(r, 0.0)
    assert m["height"] == pytest.approx(r, rel=2e-3)
    assert m["neck_diameter"] == pytest.approx(2 * r, rel=2e-3)
    assert m["aspect_ratio"] == pytest.approx(0.5, rel=3e-3)
    assert m["width"] == pytest.approx(2 * r, rel=5e-3)
    assert m["sac_volume"] == pytest.approx(2 * np.pi * r**3 / 3, rel=3e-3)
    assert m["sac_area"] == pytest.approx(2 * np.pi * r**2, rel=3e-3)
    assert abs(m["nsi"]) < 3e-3 and abs(m["ei"]) < 3e-3 and abs(m["ui"]) < 3e-3
    np.testing.assert_allclose(m["_neck"].normal, [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(m["_neck"].centroid, [0, 0, 0], atol=1e-6)


@pytest.mark.parametrize("center_z", [-1.5, -0.5, 0.8, 2.0, 2.6])
def test_sphere_caps_of_several_opening_angles(center_z):
    r = 3.0
    a = np.sqrt(r * r - center_z**2)
    exact = sphere_cap_closed_form(r, a, major=center_z > 0)
    m = cap(r, center_z)
    for key in ("height", "height_max", "neck_diameter", "aspect_ratio", "sac_volume", "sac_area", "nsi", "size"):
        assert m[key] == pytest.approx(exact[key], rel=5e-3, abs=2e-3), key
    assert m["width"] == pytest.approx(exact["width"], rel=2e-2)  # slices stop half a level short of the neck
    assert m["ui"] == pytest.approx(0.0, abs=3e-3)  # a cap is convex
    assert m["ei"] == pytest.approx(m["nsi"], abs=5e-3)


def test_spheroid_cap_volume_and_height():
    """Prolate spheroid (R, R, c) cut at z = −z0: H = c + z0, N = 2R√(1 − z0²/c²), V = πR²h²(3c − h)/(3c²)."""
    big_r, c, z0 = 2.0, 3.5, 1.2
    e = Ellipsoid(np.array([0.0, 0.0, z0]), np.array([big_r, big_r, c]), np.eye(3))
    m = sac_shape(construct_sac((e,), 6, plane_vessel))
    h = c + z0
    assert m["height"] == pytest.approx(h, rel=2e-3)
    assert m["neck_diameter"] == pytest.approx(2 * big_r * np.sqrt(1 - z0**2 / c**2), rel=2e-3)
    assert m["sac_volume"] == pytest.approx(np.pi * big_r**2 * h * h * (3 * c - h) / (3 * c * c), rel=3e-3)
    assert m["width"] == pytest.approx(2 * big_r, rel=5e-3)
    assert m["nsi"] > 0.05  # elongated: clearly non-spherical


def test_point_set_diameter_matches_brute_force():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(6000, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)  # all on the hull: exercises the sampled-direction path
    p *= [3.0, 2.0, 1.0]
    brute = max(np.linalg.norm(p[i] - p, axis=1).max() for i in range(len(p)))
    assert point_set_diameter(p) == pytest.approx(brute, rel=1e-3)
    assert point_set_diameter(p) <= brute + 1e-12
