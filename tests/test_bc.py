"""Boundary conditions: reference waveform, Womersley closed forms vs an independent solver, inlet profiles,
outlet split and Windkessel, and the OpenFOAM boundaryData writer. Fast, no OpenFOAM."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from foamlib import FoamFile
from scipy.integrate import solve_ivp
from scipy.linalg import solve_banded

from cfdgen import bc, reference
from cfdgen.bc import (
    BoundaryConditions,
    Waveform,
    Windkessel,
    boundary_conditions,
    flow_split,
    inlet_velocity,
    inlet_waveform,
    time_name,
    windkessel_for_outlets,
    windkessel_pressure_table,
    write_inlet_boundary_data,
)
from cfdgen.case import case_from_dict
from cfdgen.errors import CaseError, ConfigError, GeometryError, IahemoError
from cfdgen.womersley import PipeFlow, poiseuille_wss, velocity_factor, wall_shear_stress, womersley_number

T_REF = reference.CARDIAC_PERIOD
MU, RHO = reference.BLOOD_VISCOSITY, reference.BLOOD_DENSITY
NU = MU / RHO
Q_MEAN = 2.0e-6  # m³/s, ≈ 0.16 m/s mean velocity in a 4 mm artery


def cycle(period: float, n: int = 4000) -> np.ndarray:
    return np.arange(n) * period / n


def ica_pipe(radius: float = 2e-3, period: float = T_REF, mean_flow: float = Q_MEAN) -> PipeFlow:
    return PipeFlow(radius, period, mean_flow, reference.ICA_FOURIER_A, reference.ICA_FOURIER_B, MU, RHO)


# ---------------------------------------------------------------------------------------------------------------
# Reference waveform (HEMODYNAMICS.md §2: peak 2.19 Q̄ at 0.109 s, minimum 0.40 Q̄, PI 1.79)


def test_reference_waveform_mean_peak_minimum():
    w = Waveform(Q_MEAN, T_REF)
    q = w.flow(cycle(T_REF))
    assert q.mean() == pytest.approx(Q_MEAN, rel=1e-3)
    # The 10-harmonic fit smooths the extremes (it gives 2.160 and 0.418): allow the fit's few per cent.
    assert w.peak / Q_MEAN == pytest.approx(2.19, abs=0.035)
    assert w.peak_time == pytest.approx(0.109, abs=0.005)
    assert w.minimum / Q_MEAN == pytest.approx(0.40, abs=0.025)
    assert w.pulsatility_index == pytest.approx(1.79, abs=0.06)
    assert w.peak == pytest.approx(q.max(), rel=1e-5)  # refined extreme agrees with dense sampling


def test_waveform_perturbation_keeps_mean_and_scales_harmonics():
    w = Waveform(Q_MEAN, T_REF)
    eps = np.linspace(-0.2, 0.2, w.n_harmonics)
    p = w.perturbed(eps)
    t = cycle(T_REF)
    assert p.flow(t).mean() == pytest.approx(Q_MEAN, rel=1e-9)
    np.testing.assert_allclose(p.harmonic_scales(), 1 + eps, rtol=1e-12)
    # harmonic 1 alone: its contribution to Q(t) is scaled by exactly 1 + ε1
    only1 = np.zeros(w.n_harmonics)
    only1[0] = 0.2
    diff = w.perturbed(only1).flow(t) - w.flow(t)
    a1, b1 = w.a[1], w.b[1]
    np.testing.assert_allclose(diff, 0.2 * Q_MEAN * (a1 * np.cos(w.omega * t) + b1 * np.sin(w.omega * t)), atol=1e-18)


# ---------------------------------------------------------------------------------------------------------------
# Womersley


def test_womersley_number():
    # R = 2 mm, T = 0.951 s, ν = 3.30e-6 m²/s: α = R sqrt(2π/(Tν)) = 2.829
    assert womersley_number(2e-3, T_REF, NU) == pytest.approx(2.8291, abs=1e-3)


def test_womersley_quasi_steady_limit_matches_poiseuille():
    # α ≈ 0.009: a 10⁵-fold longer period makes the flow quasi-steady at every instant.
    pipe = ica_pipe(period=T_REF * 1e5)
    assert pipe.alpha < 0.01
    t = cycle(pipe.period, 500)
    tau = wall_shear_stress(t, pipe)
    np.testing.assert_allclose(tau, poiseuille_wss(pipe.flow(t), pipe.radius, MU), rtol=5e-3)


def test_womersley_steady_flow_is_exact_poiseuille():
    pipe = PipeFlow(1.5e-3, 1.0, 3e-6, (1.0,), (0.0,), MU, RHO)
    r = np.linspace(0, 1.5e-3, 7)
    u = pipe.axial_velocity(r, np.array([0.0, 0.3]))
    mean_u = 3e-6 / (math.pi * 1.5e-3**2)
    np.testing.assert_allclose(u, np.broadcast_to(2 * mean_u * (1 - (r / 1.5e-3) ** 2), (2, 7)), rtol=1e-12)
    assert wall_shear_stress(0.7, pipe) == pytest.approx(4 * MU * 3e-6 / (math.pi * 1.5e-3**3), rel=1e-12)


def test_womersley_profile_carries_the_flow_and_no_slip():
    pipe = ica_pipe()
    r = np.linspace(0, pipe.radius, 4001)
    t = cycle(T_REF, 40)
    u = pipe.axial_velocity(r, t)
    assert u.shape == (40, 4001)
    q = np.trapezoid(2 * np.pi * r * u, r, axis=1)
    np.testing.assert_allclose(q, pipe.flow(t), rtol=5e-3)
    assert np.abs(u[:, -1]).max() < 1e-12 * np.abs(u).max()
    # the profile shape of one harmonic integrates to 1 over the disc for small, moderate and large α
    s = np.linspace(0, 1, 20001)
    for alpha in (0.5, 3.0, 12.0):
        assert np.trapezoid(2 * s * velocity_factor(s, alpha), s) == pytest.approx(1.0, abs=1e-6)


def fd_harmonic_wss(pipe: PipeFlow, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Independent check: finite differences for iωk·û = Ĝ + ν(û'' + û'/r), û(R) = 0, û'(0) = 0, with the
    pressure gradient Ĝ chosen so the flux equals Q̂_k; returns harmonic numbers and complex WSS amplitudes."""
    R, nu = pipe.radius, pipe.nu
    h = R / n
    r = np.arange(n + 1) * h
    ks = np.arange(1, len(pipe.a))
    out = []
    for k in ks:
        w = k * pipe.omega
        # unknowns û_0..û_{n-1} (û_n = 0); rows: ν L û − iω û = −1 (unit gradient)
        ab = np.zeros((3, n), dtype=complex)
        diag = np.full(n, -2 * nu / h**2 - 1j * w, dtype=complex)
        upper = np.zeros(n, dtype=complex)
        lower = np.zeros(n, dtype=complex)
        rj = r[1:n]
        upper[1:] = nu * (1 / h**2 + 1 / (2 * rj * h))  # coefficient of û_{j+1} in row j
        lower[1:] = nu * (1 / h**2 - 1 / (2 * rj * h))  # coefficient of û_{j-1} in row j
        diag[0] = -4 * nu / h**2 - 1j * w  # centre: ∇²u = 2u'' by symmetry
        upper[0] = 4 * nu / h**2
        ab[0, 1:] = upper[:-1]
        ab[1] = diag
        ab[2, :-1] = lower[1:]
        u = np.append(solve_banded((1, 1), ab, -np.ones(n, dtype=complex)), 0.0)
        q_unit = np.trapezoid(2 * np.pi * r * u, r)
        dudr = (3 * u[-1] - 4 * u[-2] + u[-3]) / (2 * h)
        q_hat = pipe.mean_flow * (pipe.a[k] - 1j * pipe.b[k])
        out.append(-pipe.mu * dudr * q_hat / q_unit)
    return ks, np.array(out)


def test_womersley_wss_at_alpha_3_against_finite_differences():
    pipe = ica_pipe(radius=2.1e-3)
    assert 2.9 < pipe.alpha < 3.1
    t = cycle(T_REF, 1000)
    ks, tau_hat = fd_harmonic_wss(pipe)
    tau_fd = 4 * MU * pipe.mean_flow * pipe.a[0] / (math.pi * pipe.radius**3) + np.real(
        np.exp(1j * pipe.omega * np.outer(t, ks)) @ tau_hat
    )
    tau = pipe.wall_shear_stress(t)
    assert np.abs(tau - tau_fd).max() < 1e-3 * np.abs(tau_fd).max()  # measured 3.5e-7 with 4000 cells
    # Inertia makes the pulsatile wall shear overshoot the quasi-steady value at systole by a visible amount.
    qs = pipe.quasi_steady_wss(t)
    overshoot = tau.max() / qs.max() - 1
    assert 0.2 < overshoot < 0.5
    # and the time-averaged WSS is still exactly the Poiseuille value of the mean flow
    assert tau.mean() == pytest.approx(4 * MU * pipe.mean_flow * pipe.a[0] / (math.pi * pipe.radius**3), rel=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# Inlet profile


def disc_faces(radius: float, n_rings: int = 6):
    """Face centres and areas of a coarse polar mesh of the disc (rings of equal width, 6·i sectors)."""
    pts, areas = [], []
    edges = np.linspace(0, radius, n_rings + 1)
    for i in range(n_rings):
        n_sec = 6 * (i + 1)
        rc = 0.5 * (edges[i] + edges[i + 1])
        th = (np.arange(n_sec) + 0.5) * 2 * np.pi / n_sec
        pts += [(rc * np.cos(a), rc * np.sin(a)) for a in th]
        areas += [np.pi * (edges[i + 1] ** 2 - edges[i] ** 2) / n_sec] * n_sec
    p = np.asarray(pts)
    return np.column_stack([p, np.zeros(len(p))]), np.asarray(areas)


@pytest.mark.parametrize("profile", ["womersley", "parabolic", "plug"])
def test_inlet_flux_equals_flow_on_a_coarse_inlet(profile):
    R = 2e-3
    pts, areas = disc_faces(R)
    centre = np.array([0.01, -0.02, 0.03])
    normal_out = np.array([0.0, 0.0, -1.0])
    w = Waveform(Q_MEAN, T_REF)
    t = cycle(T_REF, 50)
    v = inlet_velocity(pts + centre, centre, normal_out, R, w, t, NU, profile=profile, areas_m2=areas)
    assert v.shape == (50, len(pts), 3)
    flux = -(v @ normal_out) @ areas  # into the domain
    np.testing.assert_allclose(flux, w.flow(t), rtol=1e-10)
    assert np.abs(v[..., :2]).max() == 0.0  # along −normal only
    if profile != "plug":
        # without the per-harmonic rescale the same coarse profile misses the flow by a few per cent
        raw = inlet_velocity(pts + centre, centre, normal_out, R, w, t, NU, profile=profile)
        raw_err = np.abs(-(raw @ normal_out) @ areas / w.flow(t) - 1).max()
        assert raw_err > 5e-3


def test_inlet_womersley_matches_pipe_solution_and_clips_at_wall():
    R = 2e-3
    r = np.array([0.0, 0.5e-3, 1.0e-3, 1.9e-3, 2.0e-3, 2.5e-3])
    pts = np.column_stack([r, np.zeros_like(r), np.full_like(r, 1e-4)])  # off-plane offset is ignored
    t = cycle(T_REF, 30)
    v = inlet_velocity(pts, [0, 0, 0], [0, 0, 1], R, Waveform(Q_MEAN, T_REF), t, NU)
    expected = ica_pipe().axial_velocity(np.minimum(r, R), t)
    # Waveform divides by a0 = 0.9994 so its mean is Q̄ exactly; PipeFlow keeps the raw coefficients.
    np.testing.assert_allclose(-v[..., 2], expected / reference.ICA_FOURIER_A[0], rtol=1e-9, atol=1e-14)
    assert np.abs(v[:, 4:, :]).max() < 1e-15  # at and beyond the wall


def test_inlet_equivalent_radius_for_a_square_opening():
    side = 3e-3
    g = (np.arange(10) + 0.5) * side / 10 - side / 2
    yy, zz = np.meshgrid(g, g)
    pts = np.column_stack([np.zeros(100), yy.ravel(), zz.ravel()])
    areas = np.full(100, (side / 10) ** 2)
    w = Waveform(Q_MEAN, 0.8)
    v = inlet_velocity(pts, [0, 0, 0], [-1, 0, 0], None, w, [0.1], NU, profile="parabolic", areas_m2=areas)
    assert v[0] @ np.array([1.0, 0, 0]) @ areas == pytest.approx(w.flow(0.1), rel=1e-12)
    # corners lie outside the equivalent circle (R = side/sqrt(π) = 1.69 mm): clipped to zero velocity
    corner = np.argmax(np.linalg.norm(pts, axis=1))
    assert v[0, corner, 0] == 0.0 and v[0, :, 0].min() == 0.0


# ---------------------------------------------------------------------------------------------------------------
# Outlets


def test_flow_split_square_and_cube_law():
    d = [3e-3, 2e-3, 1e-3]
    sq = flow_split(d, 2)
    cube = flow_split(d, 3)
    np.testing.assert_allclose(sq, np.array([9, 4, 1]) / 14, rtol=1e-12)
    np.testing.assert_allclose(cube, np.array([27, 8, 1]) / 36, rtol=1e-12)
    assert sq.sum() == pytest.approx(1.0, abs=1e-15) and cube.sum() == pytest.approx(1.0, abs=1e-15)


def test_windkessel_constant_flow():
    wk = Windkessel(rp=1e8, c=1e-10, rd=2e9, p_distal=500.0)
    t = cycle(1.0, 64)
    p = wk.pressure(np.full(64, 3e-6), t)
    np.testing.assert_allclose(p, 3e-6 * (1e8 + 2e9) + 500.0, rtol=1e-12)


def test_windkessel_single_harmonic_against_impedance_and_ode():
    rp, c, rd = 1e8, 5e-10, 2e9
    wk = Windkessel(rp, c, rd)
    period, q0, q1 = 0.8, 2e-6, 1e-6
    omega = 2 * np.pi / period
    t = cycle(period, 256)
    q = q0 + q1 * np.cos(omega * t)
    z = rp + rd / (1 + 1j * omega * rd * c)  # written out independently of the implementation
    expected = q0 * (rp + rd) + np.abs(z) * q1 * np.cos(omega * t + np.angle(z))
    np.testing.assert_allclose(wk.pressure(q, t), expected, rtol=1e-10)

    # time integration of C dp_c/dt = Q − p_c/Rd to the periodic state (τ = RdC = 1 s: 20 periods suffice)
    def rhs(tt, pc):
        return [(q0 + q1 * np.cos(omega * tt) - pc[0] / rd) / c]

    sol = solve_ivp(rhs, (0, 20 * period), [q0 * rd], t_eval=19 * period + t, rtol=1e-10, atol=1e-6)
    p_ode = sol.y[0] + rp * (q0 + q1 * np.cos(omega * t))
    np.testing.assert_allclose(wk.pressure(q, t), p_ode, rtol=1e-6)


def test_waveform_held_constant_is_its_mean_at_every_instant():
    w = bc.Waveform(2e-6, 0.9)
    steady = w.held_constant()
    t = np.linspace(0.0, 2 * w.period, 101)
    np.testing.assert_allclose(steady.flow(t), w.mean_flow, rtol=1e-12)
    assert steady.n_harmonics == 0 and np.ptp(w.flow(t)) > 0.5 * w.mean_flow  # the pulsatile one does vary


def test_windkessel_for_outlets_reaches_the_mean_pressure():
    w = Waveform(Q_MEAN, T_REF)
    fr = flow_split([3e-3, 2e-3], 3)
    wks = windkessel_for_outlets(12000.0, Q_MEAN, fr, rp_fraction=0.1, time_constant=1.5, p_distal=1000.0)
    t = cycle(T_REF, 512)
    for wk, f in zip(wks, fr, strict=True):
        _, p = windkessel_pressure_table(wk, w, f, t)
        assert p.mean() == pytest.approx(12000.0, rel=1e-9)
        assert wk.rp / (wk.rp + wk.rd) == pytest.approx(0.1) and wk.rd * wk.c == pytest.approx(1.5)
        np.testing.assert_allclose(p, wk.pressure(f * w.flow(t), t), rtol=1e-9)  # FFT path agrees with analytic


# ---------------------------------------------------------------------------------------------------------------
# OpenFOAM boundaryData writer


def test_writer_round_trip(tmp_path):
    pts, areas = disc_faces(2e-3, 4)
    w = Waveform(Q_MEAN, T_REF)
    times = np.concatenate([cycle(T_REF, 40), T_REF + cycle(T_REF, 40)]) + 1e-5  # two cycles, odd decimals
    v = inlet_velocity(pts, [0, 0, 0], [0, 0, -1], None, w, times, NU, areas_m2=areas)
    folder = write_inlet_boundary_data(tmp_path, "inlet", pts, v, times)
    assert folder == tmp_path / "constant" / "boundaryData" / "inlet"
    np.testing.assert_allclose(FoamFile(folder / "points")[None], pts, rtol=1e-11, atol=1e-16)
    dirs = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: float(p.name))
    assert [float(p.name) for p in dirs] == times.tolist()  # names parse back to the exact floats
    assert len({p.name for p in dirs}) == len(times)
    assert all("e" not in p.name for p in dirs)
    for i in (0, 17, 79):
        np.testing.assert_allclose(FoamFile(dirs[i] / "U")[None], v[i], rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(bc.read_boundary_list(dirs[i] / "U"), v[i], rtol=1e-9, atol=1e-15)
    text = (dirs[0] / "U").read_text()
    assert text.startswith(f"{len(pts)}\n(\n(") and "FoamFile" not in text and "-0 " not in text


def test_time_names():
    assert [time_name(x) for x in (0.0, 1.0, 0.1, 1e-5, 0.30000000000000004)] == [
        "0",
        "1",
        "0.1",
        "0.00001",
        "0.30000000000000004",
    ]


def test_writer_is_fast(tmp_path):
    pts = np.random.default_rng(0).random((100, 3))
    v = np.random.default_rng(1).random((1000, 100, 3))
    start = time.perf_counter()
    write_inlet_boundary_data(tmp_path, "inlet", pts, v, np.arange(1000) * 1e-3)
    assert time.perf_counter() - start < 5.0


def test_interrupted_write_leaves_old_data_and_no_partial_files(tmp_path, monkeypatch):
    pts = np.random.default_rng(0).random((5, 3))
    old = np.ones((3, 5, 3))
    folder = write_inlet_boundary_data(tmp_path, "inlet", pts, old, [0.0, 0.1, 0.2])
    calls = {"n": 0}
    real = bc._format_list

    def failing(values, fmt):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(values, fmt)

    monkeypatch.setattr(bc, "_format_list", failing)
    with pytest.raises(KeyboardInterrupt):
        write_inlet_boundary_data(tmp_path, "inlet", pts, 2 * np.ones((5, 5, 3)), [0, 0.05, 0.1, 0.15, 0.2])
    assert sorted(p.name for p in folder.iterdir()) == ["0", "0.1", "0.2", "points"]
    for name in ("0", "0.1", "0.2"):
        np.testing.assert_array_equal(bc.read_boundary_list(folder / name / "U"), old[0])
    assert [p.name for p in folder.parent.iterdir()] == ["inlet"]  # no temporary folder left behind


# ---------------------------------------------------------------------------------------------------------------
# From a case to a BC vector


def make_case(tmp_path, doppler: dict | None = None, wire: dict | None = None):
    (tmp_path / "surface.vtp").write_text("placeholder")
    meas = {}
    if doppler is not None:
        meas["doppler"] = doppler
    if wire is not None:
        meas["pressure_wire"] = wire
    data = {"id": "p001", "input": {"surface": "surface.vtp", "units": "mm"}, "measurements": meas}
    return case_from_dict(data, tmp_path / "case.yaml")


def test_inlet_waveform_from_measurements_and_defaults(tmp_path):
    area = math.pi * 2e-3**2
    measured = make_case(
        tmp_path, {"mean_velocity": {"value": 35, "unit": "cm/s"}, "heart_rate": {"value": 75, "unit": "bpm"}}
    )
    w, notes = inlet_waveform(measured, area)
    assert w.mean_flow == pytest.approx(0.35 * area) and w.period == pytest.approx(0.8)
    assert notes == ["waveform shape: population ICA waveform of older adults (Hoi 2010), scaled to the mean inflow"]

    flow_given = make_case(
        tmp_path, {"mean_flow": {"value": 240, "unit": "ml/min"}, "mean_velocity": {"value": 35, "unit": "cm/s"}}
    )
    assert inlet_waveform(flow_given, area)[0].mean_flow == pytest.approx(4e-6)  # flow takes precedence

    w, notes = inlet_waveform(make_case(tmp_path), area)
    assert w.mean_flow == pytest.approx(reference.MEAN_VELOCITY * area) and w.period == T_REF
    assert any(n.startswith("mean inflow: population default 0.27 m/s") for n in notes)
    assert any(n.startswith("heart period: population default 0.951 s") for n in notes)


def test_boundary_conditions_vector_and_json(tmp_path):
    case = make_case(tmp_path, wire={"mean": {"value": 90, "unit": "mmHg"}})
    bcs = boundary_conditions(case, math.pi * 2e-3**2, [2.5e-3, 2e-3], split_exponent=3.0)
    assert bcs.outlet_mode == "split" and bcs.pressure_outlet == 0
    assert bcs.outlet_fractions == pytest.approx((15.625 / 23.625, 8 / 23.625))
    vec, names = bcs.to_vector(), BoundaryConditions.names()
    assert vec.shape == (len(names),) == (9 + bc.N_HARMONICS,)
    named = dict(zip(names, vec, strict=True))
    assert named["mean_pressure_pa"] == pytest.approx(90 * 133.322387415)
    assert named["split_exponent"] == 3.0 and named["period_s"] == T_REF
    np.testing.assert_allclose(vec[-bc.N_HARMONICS :], 1.0, rtol=1e-12)
    perturbed = BoundaryConditions(**{**bcs.__dict__, "waveform": bcs.waveform.perturbed([0.2] * 10)})
    np.testing.assert_allclose(perturbed.to_vector()[-bc.N_HARMONICS :], 1.2, rtol=1e-12)
    back = BoundaryConditions.from_dict(json.loads(json.dumps(bcs.to_dict())))
    assert back == bcs
    wk = BoundaryConditions(**{**bcs.__dict__, "outlet_mode": "windkessel"})
    assert len(wk.windkessels()) == 2
    single = boundary_conditions(make_case(tmp_path), 1e-5, [4e-3])
    assert single.outlet_mode == "pressure" and any("mean pressure: gauge 0 Pa" in n for n in single.notes)


# ---------------------------------------------------------------------------------------------------------------
# Bad input: IahemoError subclasses with one-line messages


@pytest.mark.parametrize(
    "make, kind",
    [
        (lambda: Waveform(0.0, 1.0), ConfigError),
        (lambda: Waveform(-1e-6, 1.0), ConfigError),
        (lambda: Waveform(1e-6, 0.0), ConfigError),
        (lambda: Waveform(1e-6, -0.9), ConfigError),
        (lambda: Waveform(1e-6, 1.0).perturbed([0.1]), ConfigError),
        (
            lambda: inlet_velocity(np.zeros((3, 3)), [0, 0, 0], [0, 0, 1], 1e-3, Waveform(1e-6, 1), [0], NU, "cone"),
            ConfigError,
        ),
        (
            lambda: inlet_velocity(np.zeros((3, 3)), [0, 0, 0], [0, 0, 0], 1e-3, Waveform(1e-6, 1), [0], NU),
            GeometryError,
        ),
        (lambda: flow_split([2e-3, 0.0]), GeometryError),
        (lambda: flow_split([2e-3], -1), ConfigError),
        (lambda: Windkessel(1.0, 1.0, 0.0), ConfigError),
        (lambda: windkessel_for_outlets(0.0, 1e-6, [1.0]), ConfigError),
        (lambda: BoundaryConditions(Waveform(1e-6, 1), (1.0,), profile="cone"), ConfigError),
        (lambda: BoundaryConditions(Waveform(1e-6, 1), (1.0,), outlet_mode="resistance"), ConfigError),
        (lambda: BoundaryConditions(Waveform(1e-6, 1), (1.0,), outlet_mode="windkessel"), ConfigError),
        (lambda: BoundaryConditions(Waveform(1e-6, 1), (0.5, 0.4)), ConfigError),
        (lambda: PipeFlow(0.0, 1.0, 1e-6, (1.0,), (0.0,), MU, RHO), ConfigError),
        (
            lambda: write_inlet_boundary_data(
                "/nonexistent", "inlet", np.zeros((3, 3)), np.zeros((2, 3, 3)), [0.1, 0.1]
            ),
            ConfigError,
        ),
    ],
)
def test_bad_input_raises_one_line(make, kind):
    with pytest.raises(kind) as exc:
        make()
    assert isinstance(exc.value, IahemoError)
    msg = str(exc.value)
    assert msg and "\n" not in msg


def test_bad_case_area(tmp_path):
    with pytest.raises(GeometryError, match="inlet area must be positive"):
        inlet_waveform(make_case(tmp_path), 0.0)
    assert issubclass(CaseError, IahemoError)
