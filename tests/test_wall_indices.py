"""Wall indices against closed-form values of analytic WSS histories (no OpenFOAM)."""

from __future__ import annotations

import numpy as np
import pytest

from cfdgen import wall_indices as wi

T = 0.8  # s
OMEGA = 2 * np.pi / T


def _series(f, n: int = 400, closed: bool = True):
    """Samples of one period; ``closed`` repeats the first phase at the end (t = T)."""
    t = np.linspace(0.0, T, n + 1) if closed else np.arange(n) * (T / n)
    tau = np.stack([f(ti) for ti in t])  # (n_t, n_faces, 3)
    return t, tau


def _along_x(values: np.ndarray) -> np.ndarray:
    out = np.zeros((1, 3))
    out[0, 0] = values
    return out


def test_time_rule_picks_periodic_rectangle_or_trapezoid():
    closed = wi.time_rule(np.linspace(0, T, 11), T)
    assert closed.name == "periodic-rectangle" and closed.weights[-1] == 0 and closed.duration == pytest.approx(T)
    opened = wi.time_rule(np.arange(10) * T / 10, T)
    assert opened.name == "periodic-rectangle" and opened.wrap and opened.duration == pytest.approx(T)
    two = wi.time_rule(np.linspace(0, 2 * T, 21), T)
    assert two.name == "periodic-rectangle" and two.duration == pytest.approx(2 * T)
    partial = wi.time_rule(np.linspace(0, 0.7 * T, 11), T)
    assert partial.name == "trapezoid" and partial.duration == pytest.approx(0.7 * T)
    assert partial.weights[0] == pytest.approx(0.5 * 0.07 * T)


def test_steady_shear():
    t = np.linspace(0, 1, 5)
    tau = np.tile(np.array([[1.0, 2.0, 2.0], [0.0, -0.3, 0.4]]), (5, 1, 1))
    r = wi.wall_indices(tau, t)
    np.testing.assert_allclose(r.tawss, [3.0, 0.5])
    np.testing.assert_allclose(r.osi, 0.0, atol=1e-15)
    np.testing.assert_allclose(r.rrt, [1 / 3.0, 2.0])
    np.testing.assert_allclose(r.twssg, 0.0)
    np.testing.assert_allclose(r.ecap, 0.0, atol=1e-15)


def test_pure_oscillation_cosine():
    a = 1.7
    t, tau = _series(lambda s: _along_x(a * np.cos(OMEGA * s)), n=2000)
    r = wi.wall_indices(tau, t, period=T)
    assert r.rule.name == "periodic-rectangle"
    assert r.tawss[0] == pytest.approx(2 * a / np.pi, rel=1e-5)
    assert r.osi[0] == pytest.approx(0.5, abs=1e-9)
    assert r.rrt[0] == pytest.approx(1 / wi.MIN_SHEAR)  # capped instead of dividing by 0


def test_rotating_shear_is_fully_oscillatory_at_constant_magnitude():
    a = 2.0
    t, tau = _series(lambda s: a * np.array([[np.cos(OMEGA * s), np.sin(OMEGA * s), 0.0]]), n=64, closed=False)
    r = wi.wall_indices(tau, t, period=T)
    assert r.rule.wrap
    assert r.tawss[0] == pytest.approx(a)
    assert r.osi[0] == pytest.approx(0.5, abs=1e-12)
    # |∂τ/∂t| = aω throughout; the sampled polygon has perimeter 2·64·a·sin(π/64)
    assert r.twssg[0] == pytest.approx(2 * 64 * a * np.sin(np.pi / 64) / T)


def test_pulsatile_forward_shear_has_no_oscillation():
    a, b = 0.6, 1.5
    t, tau = _series(lambda s: _along_x(b + a * np.sin(OMEGA * s)), n=100)
    r = wi.wall_indices(tau, t, period=T)
    assert r.tawss[0] == pytest.approx(b, rel=1e-12)
    assert r.osi[0] == pytest.approx(0.0, abs=1e-12)
    assert r.rrt[0] == pytest.approx(1 / b)


def test_partial_reversal_matches_hand_derivation():
    # τ = B + A sin θ with A > B reverses on θ ∈ (π+α, 2π−α), α = asin(B/A):
    # ∫₀^{2π}|τ| dθ = 4(Bα + A cos α)  →  TAWSS = (2/π)(Bα + A cos α), OSI = ½(1 − πB / (2(Bα + A cos α)))
    a, b = 2.0, 1.0
    alpha = np.arcsin(b / a)
    s = b * alpha + a * np.cos(alpha)
    t, tau = _series(lambda x: _along_x(b + a * np.sin(OMEGA * x)), n=4000)
    r = wi.wall_indices(tau, t, period=T)
    assert r.tawss[0] == pytest.approx(2 / np.pi * s, rel=1e-5)  # 1.43599
    assert r.osi[0] == pytest.approx(0.5 * (1 - np.pi * b / (2 * s)), rel=1e-5)  # 0.15182
    assert r.osi[0] == pytest.approx(0.15182, abs=1e-4)
    assert r.ecap[0] == pytest.approx(r.osi[0] / r.tawss[0])


def test_twssg_of_sine_is_4a_over_t():
    # (1/T)∫|Aω cos ωt| dt = Aω·2/π = 4A/T; exact when the samples include both turning points (n % 4 == 0)
    a = 3.0
    t, tau = _series(lambda s: _along_x(a * np.sin(OMEGA * s)), n=40)
    r = wi.wall_indices(tau, t, period=T)
    assert r.twssg[0] == pytest.approx(4 * a / T, rel=1e-12)  # 15 Pa/s


def test_trapezoid_on_non_uniform_samples():
    t = np.array([0.0, 0.1, 0.35, 0.5, 0.9, 1.0])
    tau = np.stack([_along_x(1.0 + 2.0 * s) for s in t])
    r = wi.wall_indices(tau, t, period=0.77, pressure=(10.0 - 4.0 * t)[:, None])
    assert r.rule.name == "trapezoid"
    assert r.tawss[0] == pytest.approx(2.0)  # mean of 1 + 2t over [0, 1]
    assert r.tap[0] == pytest.approx(8.0)
    assert r.twssg[0] == pytest.approx(2.0)


def _plane_grid(n=12, h=0.5):
    x, y = np.meshgrid(np.arange(n) * h, np.arange(n) * h, indexing="ij")
    pts = np.column_stack([x.ravel(), y.ravel(), np.zeros(x.size)])
    ids = np.arange(n * n).reshape(n, n)
    quads = np.column_stack([ids[:-1, :-1].ravel(), ids[1:, :-1].ravel(), ids[1:, 1:].ravel(), ids[:-1, 1:].ravel()])
    faces = np.column_stack([np.full(len(quads), 4), quads]).ravel()
    return pts, faces


def test_wssg_of_linear_field_on_a_tilted_plane():
    pts, faces = _plane_grid()
    g = np.array([[0.3, -1.2, 5.0], [2.0, 0.0, 7.0], [0.0, 0.4, -3.0]])  # ∂τ_i/∂x_j; the z column is off-surface
    tau = pts @ g.T + np.array([1.0, 0.0, -2.0])
    rot = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))[0]  # rigid motion keeps the norm
    out = wi.wssg(pts @ rot.T + 4.0, faces, tau @ rot.T)
    expected = np.sqrt(0.3**2 + 1.2**2 + 2.0**2 + 0.4**2)  # in-plane (x, y) derivatives only: 2.4536
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    assert len(out) == 11 * 11


def test_face_areas_normals_and_tangential():
    pts, faces = _plane_grid(n=3, h=2.0)
    area, normal = wi.face_areas_normals(pts, faces)
    np.testing.assert_allclose(area, 4.0)
    np.testing.assert_allclose(normal, [[0, 0, 1]] * 4, atol=1e-12)
    np.testing.assert_allclose(wi.tangential(np.array([[1.0, 2.0, 3.0]]), normal[:1]), [[1.0, 2.0, 0.0]])


def test_ntawss_and_lsa_on_a_synthetic_wall():
    # faces on a line; neck centroid at the origin, neck radius 1 mm, parent shell 1-3 neck radii
    x = np.arange(-6.0, 6.5, 0.5)  # 25 faces
    centers = np.column_stack([x, np.zeros_like(x), np.zeros_like(x)])
    area = np.where(x < 0, 2.0, 1.0)
    sac = np.abs(x) < 1.0  # x = -0.5, 0, 0.5
    tawss = np.full_like(x, 9.0)  # far wall: excluded from the parent mean
    shell = ~sac & (np.abs(x) >= 1.0) & (np.abs(x) <= 3.0)
    tawss[shell] = np.where(x[shell] < 0, 1.0, 4.0)  # area-weighted parent mean: (5·2·1 + 5·1·4)/15 = 2
    tawss[sac] = [0.1, 0.5, 3.0]  # threshold 0.1 × 2 = 0.2: only the face at −0.5 (area 2 of 4) is low
    osi = np.where(sac, 0.3, 0.0)
    osi[np.nonzero(sac)[0][1]] = 0.45
    ntawss, s = wi.sac_summary(tawss, osi, area, centers, sac, np.zeros(3), 1.0)
    assert s.parent_tawss == pytest.approx(2.0)
    assert s.parent_area == pytest.approx(15.0)
    assert s.lsa_threshold == pytest.approx(0.2)
    assert s.lsa == pytest.approx(0.5)
    assert s.sac_area == pytest.approx(4.0)
    assert s.sac_tawss == pytest.approx((0.1 * 2 + 0.5 + 3.0) / 4)  # 0.925
    assert s.sac_ntawss == pytest.approx(0.925 / 2.0)
    assert s.sac_osi_max == pytest.approx(0.45)
    assert s.sac_osi_mean == pytest.approx((0.3 * 2 + 0.45 + 0.3) / 4)
    assert ntawss[0] == pytest.approx(4.5)
    # no sac: the whole wall normalises and the sac numbers are undefined
    ntawss0, s0 = wi.sac_summary(tawss, osi, area, centers, np.zeros_like(sac))
    assert s0.parent_tawss == pytest.approx(np.sum(tawss * area) / area.sum())
    assert np.isnan(s0.lsa) and np.isnan(s0.sac_tawss)
    assert "all non-sac" in s0.parent_region
