"""Uncertainty quantification: analytic verifications (Ishigami Sobol indices, Poiseuille PCE moments, Morris on an
inert input), design files, inputs from a case, BCs of a design row, and the analysis on fake run folders.
Fast, no OpenFOAM."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv
from scipy import integrate, stats

from cfdgen import reference, registry, uq
from cfdgen.bc import Waveform, boundary_conditions, flow_split
from cfdgen.case import default_case, measurements_from_dict
from cfdgen.errors import ConfigError
from cfdgen.uq import InputSpec, UQConfig, UQError

MEASURED = {
    "doppler": {
        "mean_velocity": {"value": 35, "sd": 4, "unit": "cm/s"},
        "heart_rate": {"value": 75, "sd": 3, "unit": "bpm"},
    },
    "pressure_wire": {"mean": {"value": 95, "sd": 4, "unit": "mmHg"}},
}


def make_case(tmp_path: Path, measurements: dict | None = None):
    meas, defaults = measurements_from_dict(measurements or {})
    return replace(default_case(tmp_path / "case.yaml", "uq01"), measurements=meas, defaults_used=defaults)


# ---------------------------------------------------------------------------------------------------- Ishigami


def test_ishigami_analytic_values():
    s1, st = uq.ishigami_indices()
    assert s1 == pytest.approx([0.3139, 0.4424, 0.0], abs=1e-4)
    assert st == pytest.approx([0.5576, 0.4424, 0.2437], abs=1e-4)


def test_ishigami_sobol_through_design_files(tmp_path):
    res = uq.ishigami_check(tmp_path, n=4096, seed=3)
    print(f"ishigami_max_abs_error={res['ishigami_max_abs_error']:.4f} runs={res['n_runs']}")
    assert res["ishigami_max_abs_error"] < 0.02
    assert (tmp_path / "design.csv").is_file() and res["n_runs"] == 4096 * 5
    assert all(res["indices"]["ST"][n]["conf"] > 0 for n in ("x1", "x2", "x3"))


# ---------------------------------------------------------------------------------------------------- Poiseuille PCE


def test_pce_poiseuille_wss_moments(tmp_path):
    q_mean, q_sd = 4e-6, 1e-6  # m³/s
    mu_lo, mu_hi = 3.0e-3, 4.5e-3  # Pa·s
    r0, r_sd = 2.0e-3, 0.1e-3  # m
    specs = [
        InputSpec("mean_flow", "m^3/s", "lognormal", uq.lognormal_from_mean_sd(q_mean, q_sd)),
        InputSpec("viscosity", "Pa*s", "uniform", (mu_lo, mu_hi)),
        InputSpec("radius", "m", "normal", (r0, r_sd)),
    ]
    cfg = UQConfig(pce_order=4)
    uq.write_design(uq.design_from_inputs(specs, "pce", 150, cfg=cfg), tmp_path)
    design = uq.read_design(tmp_path)
    q, mu, r = design.samples.T
    tau = 4 * mu * q / (math.pi * r**3)
    fit = uq.fit_pce(design.dist, design.samples, tau, cfg.pce_order)

    # closed form: independent inputs, E[τ^k] = (4/π)^k E[μ^k] E[Q^k] E[R^-3k]
    m_log, s_log = uq.lognormal_from_mean_sd(q_mean, q_sd)

    def r_moment(k):
        pdf = stats.norm(r0, r_sd).pdf
        return integrate.quad(lambda x: x**-k * pdf(x), r0 - 12 * r_sd, r0 + 12 * r_sd, epsabs=0, epsrel=1e-12)[0]

    e_q = [math.exp(k * m_log + k**2 * s_log**2 / 2) for k in (1, 2)]
    e_mu = [(mu_hi ** (k + 1) - mu_lo ** (k + 1)) / ((k + 1) * (mu_hi - mu_lo)) for k in (1, 2)]
    mean = 4 / math.pi * e_mu[0] * e_q[0] * r_moment(3)
    var = 16 / math.pi**2 * e_mu[1] * e_q[1] * r_moment(6) - mean**2
    mean_err = abs(fit.mean[0] / mean - 1)
    var_err = abs(fit.std[0] ** 2 / var - 1)
    print(f"pce_poiseuille mean_rel_err={mean_err:.2e} var_rel_err={var_err:.2e} runs={design.n_runs}")
    assert mean_err < 0.01 and var_err < 0.01
    # the coefficients' closed forms agree with chaospy's own moments of the fitted polynomial
    poly = fit.polynomial()
    assert float(np.asarray(uq.chaospy.E(poly, design.dist)).ravel()[0]) == pytest.approx(fit.mean[0], rel=1e-8)
    assert float(np.asarray(uq.chaospy.Std(poly, design.dist)).ravel()[0]) == pytest.approx(fit.std[0], rel=1e-6)
    assert fit.loo_error[0] < 1e-3


# ---------------------------------------------------------------------------------------------------- Morris


def test_morris_inert_input_and_ranking():
    specs = [InputSpec(n, "1", "uniform", (0.0, 1.0)) for n in ("strong", "weak", "inert")]
    design = uq.design_from_inputs(specs, "morris", 20, seed=5)
    x = design.samples
    y = 3.0 * x[:, 0] + x[:, 1] ** 2
    got = uq.morris_indices(design, y)
    assert got["inert"]["mu_star"] == pytest.approx(0.0, abs=1e-12)
    assert got["inert"]["sigma"] == pytest.approx(0.0, abs=1e-12)
    assert got["strong"]["mu_star"] == pytest.approx(3.0, rel=1e-9)  # linear: μ* is the slope, σ = 0
    assert got["strong"]["mu_star"] > got["weak"]["mu_star"] > got["inert"]["mu_star"]


# ---------------------------------------------------------------------------------------------------- inputs, designs


def test_inputs_from_measured_case(tmp_path):
    names, dist, notes = uq.input_distributions(make_case(tmp_path, MEASURED), n_outlets=2)
    assert names == ("mean_velocity", "period", "harmonic_scale", "viscosity", "split_exponent", "mean_pressure")
    specs, fixed, _ = uq.uncertain_inputs(make_case(tmp_path, MEASURED), n_outlets=2)
    by = {s.name: s for s in specs}
    v = by["mean_velocity"].distribution()
    assert float(v.mom(1)) == pytest.approx(0.35) and float(np.sqrt(v.mom(2) - v.mom(1) ** 2)) == pytest.approx(0.04)
    assert by["period"].kind == "truncnormal" and by["period"].params[0] == pytest.approx(0.8)
    assert by["mean_pressure"].kind == "normal" and by["mean_pressure"].params[0] == pytest.approx(95 * 133.322, 1e-4)
    assert by["harmonic_scale"].params == (0.8, 1.2)
    assert fixed == {} and len(dist) == 6


def test_inputs_drop_and_defaults(tmp_path):
    case = make_case(tmp_path)  # no measurements at all
    specs, fixed, notes = uq.uncertain_inputs(case, n_outlets=1)
    by = {s.name: s for s in specs}
    assert "split_exponent" not in by and "mean_pressure" not in by
    assert fixed == {"mean_pressure": 0.0}
    assert any("split_exponent: dropped" in n for n in notes) and any("no pressure wire" in n for n in notes)
    assert by["mean_velocity"].params[1] == reference.MEAN_VELOCITY_LOG_SD
    assert float(by["mean_velocity"].distribution().mom(1)) == pytest.approx(reference.MEAN_VELOCITY)
    assert by["period"].kind == "uniform" and by["period"].params == reference.PERIOD_RANGE
    assert by["viscosity"].params == reference.VISCOSITY_RANGE
    # a measured mean flow replaces the velocity input
    flow = {"doppler": {"mean_flow": {"value": 240, "sd": 30, "unit": "ml/min"}}}
    names, _, _ = uq.input_distributions(make_case(tmp_path, flow), n_outlets=2)
    assert names[0] == "mean_flow"


def test_bad_inputs_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="unknown uncertain input 'wall_stiffness'"):
        UQConfig(inputs=("mean_velocity", "wall_stiffness"))
    case = make_case(tmp_path, MEASURED)
    bad = replace(case.measurements, mean_velocity=replace(case.measurements.mean_velocity, sd=-0.01))
    with pytest.raises(ConfigError, match="standard deviation must be >= 0"):
        uq.uncertain_inputs(replace(case, measurements=bad))
    with pytest.raises(ConfigError, match="none of the requested uq inputs"):
        uq.uncertain_inputs(make_case(tmp_path), UQConfig(inputs=("split_exponent", "mean_pressure")), n_outlets=1)
    with pytest.raises(ConfigError, match="power of 2"):
        uq.make_design(case, "sobol", 10)
    with pytest.raises(ConfigError, match="terms"):
        uq.make_design(case, "pce", 5)
    with pytest.raises(ConfigError, match="unknown uq method"):
        uq.make_design(case, "lhs", 8)


@pytest.mark.parametrize("method,n", [("sobol", 8), ("morris", 4), ("pce", 60), ("spread", 3)])
def test_design_deterministic_and_round_trip(tmp_path, method, n):
    case = make_case(tmp_path, MEASURED)
    a, b = tmp_path / "a", tmp_path / "b"
    uq.write_design(uq.make_design(case, method, n, seed=7, n_outlets=2), a)
    uq.write_design(uq.make_design(case, method, n, seed=7, n_outlets=2), b)
    assert (a / "design.csv").read_bytes() == (b / "design.csv").read_bytes()
    design = uq.read_design(a)
    fresh = uq.make_design(case, method, n, seed=7, n_outlets=2)
    assert np.array_equal(design.samples, fresh.samples)  # exact: floats written as round-trip reprs
    header = (a / "design.csv").read_text().splitlines()[0]
    assert header.startswith("sample_id,mean_velocity [m/s],period [s],harmonic_scale [1],viscosity [Pa*s]")
    rec = json.loads((a / "design.json").read_text(), parse_constant=pytest.fail)  # strict JSON: no Infinity/NaN
    assert rec["format_version"] == "1" and rec["method"] == method and rec["seed"] == 7
    assert rec["problem"]["num_vars"] == 6 and {"SALib", "chaospy"} <= set(rec["versions"])
    assert rec["inputs"][0]["distribution"] == "lognormal" and "Doppler" in rec["inputs"][0]["description"]
    runs = {"sobol": n * (6 + 2), "morris": n * (6 + 1), "pce": n, "spread": n}[method]
    assert design.n_runs == runs and design.sample_ids[0] == "s0000"
    if method == "sobol":
        uq.write_design(uq.make_design(case, method, n, seed=8, n_outlets=2), b)
        assert (a / "design.csv").read_bytes() != (b / "design.csv").read_bytes()
    # every row lies inside its input's support
    for spec, col in zip(design.inputs, design.samples.T, strict=True):
        assert np.all(np.isfinite(col))
        if spec.kind == "uniform":
            assert np.all((col >= spec.params[0]) & (col <= spec.params[1]))


def test_spread_design_has_no_analysis(tmp_path):
    """A dataset's 3-run spread: distinct rows around the measured values, and no pretend sensitivity analysis."""
    design = uq.make_design(make_case(tmp_path, MEASURED), "spread", 3, n_outlets=2)
    assert design.n_runs == 3 and len({tuple(r) for r in design.samples}) == 3
    uq.write_design(design, tmp_path / "d")
    with pytest.raises(uq.UQError, match="no analysis"):
        uq.analyse(tmp_path / "d")


def test_design_command_from_case_yaml(tmp_path):
    (tmp_path / "surface.vtp").write_text("placeholder")
    (tmp_path / "case.yaml").write_text(
        "id: p001\ninput: {surface: surface.vtp, units: mm}\nmeasurements:\n  doppler:\n"
        "    mean_velocity: {value: 35, sd: 4, unit: cm/s}\n"
    )
    design = uq.design_command(tmp_path / "case.yaml", "morris", 3, tmp_path / "uq", seed=2)
    assert design.case_id == "p001" and (tmp_path / "uq" / "design.csv").is_file()
    rec = json.loads((tmp_path / "uq" / "design.json").read_text())
    assert rec["fixed"] == {"mean_pressure": {"value": 0.0, "unit": "Pa"}}
    assert {i["name"]: i["distribution"] for i in rec["inputs"]}["period"] == "uniform"


def test_gaussian_quadrature_design(tmp_path):
    cfg = UQConfig(inputs=("viscosity", "harmonic_scale"), pce_rule="gaussian", pce_order=2)
    design = uq.make_design(make_case(tmp_path, MEASURED), "pce", 3, cfg=cfg)
    assert design.n_runs == 16 and design.weights.sum() == pytest.approx(1.0)
    uq.write_design(design, tmp_path)
    assert np.allclose(uq.read_design(tmp_path).weights, design.weights)


def test_design_boundary_conditions(tmp_path):
    case = make_case(tmp_path, MEASURED)
    area, diameters = 1.2e-5, [3e-3, 2e-3]
    base = boundary_conditions(case, area, diameters)
    row = {
        "mean_velocity": 0.3,
        "period": 0.9,
        "harmonic_scale": 1.15,
        "viscosity": 0.004,
        "split_exponent": 2.6,
        "mean_pressure": 12000.0,
    }
    bc = uq.design_boundary_conditions(base, row, diameters, inlet_area_m2=area)
    assert bc.waveform.mean_flow == pytest.approx(0.3 * area)
    assert bc.waveform.period == 0.9 and bc.viscosity == 0.004 and bc.mean_pressure == 12000.0
    assert bc.outlet_fractions == pytest.approx(tuple(flow_split(diameters, 2.6)))
    assert bc.split_exponent == 2.6
    assert np.allclose(bc.waveform.harmonic_scales(), 1.15)
    assert np.mean(bc.waveform.flow(np.linspace(0, 0.9, 400, endpoint=False))) == pytest.approx(0.3 * area)
    assert "uq design row" in bc.notes[-1]
    # inputs absent from the row keep the base values
    only = uq.design_boundary_conditions(base, {"viscosity": 0.0031}, diameters)
    assert only.waveform == base.waveform and only.outlet_fractions == base.outlet_fractions
    with pytest.raises(ConfigError, match="inlet area"):
        uq.design_boundary_conditions(base, {"mean_velocity": 0.3}, diameters)
    with pytest.raises(ConfigError, match="unknown inputs"):
        uq.design_boundary_conditions(base, {"radius": 1.0}, diameters)


# ---------------------------------------------------------------------------------------------------- end to end

E2E_CFG = UQConfig(inputs=("mean_velocity", "viscosity", "harmonic_scale"), pce_order=2, n_pce_samples=2000)
WALL = pv.Sphere(radius=3.0, theta_resolution=10, phi_resolution=8)  # mm, 72 points


def fake_fields(row: dict) -> tuple[np.ndarray, np.ndarray]:
    """Analytic TAWSS ∝ μ·v (Poiseuille-like, a quadratic polynomial) and OSI ∝ harmonic scale, varying on the wall."""
    z = np.asarray(WALL.points)[:, 2] / 3.0
    tawss = 4 * row["viscosity"] * row["mean_velocity"] / 1e-3 * (1.5 + 0.5 * z)
    osi = 0.1 * row["harmonic_scale"] * (1 + z) / 2 + 0.01
    return tawss, osi


def write_fake_run(rundir: Path, row: dict, status: str = "converged") -> None:
    post = rundir / "post"
    post.mkdir(parents=True)
    (rundir / "qc.json").write_text(json.dumps({"status": status, "reason": "Courant blow-up" if status else ""}))
    if status != "converged":
        return
    tawss, osi = fake_fields(row)
    wall = WALL.copy()
    wall.point_data[registry.FIELDS["tawss"].key] = tawss
    wall.point_data[registry.FIELDS["osi"].key] = osi
    wall.point_data[registry.FIELDS["sac"].key] = (np.asarray(WALL.points)[:, 2] > 1).astype(float)
    wall.save(post / "wall.vtp")
    q = lambda v, u: {"value": float(v), "unit": u}  # noqa: E731
    summary = {
        "sac": {
            "tawss_mean": q(tawss.mean(), "Pa"),
            "ntawss_mean": q(1.2 + 0.1 * row["harmonic_scale"], "1"),
            "osi_max": q(osi.max(), "1"),
            "lsa": q(0.05 / row["mean_velocity"], "1"),
        },
        "pressure_drop": {registry.outlet(0): q(8e4 * row["viscosity"] * row["mean_velocity"], "Pa")},
    }
    (post / "summary.json").write_text(json.dumps(summary))


def build(tmp_path: Path, method: str, n: int, failed: tuple[int, ...] = ()):
    case = make_case(tmp_path, MEASURED)
    design = uq.make_design(case, method, n, seed=1, cfg=E2E_CFG)
    out = tmp_path / "uq"
    uq.write_design(design, out)
    for i, (sid, row) in enumerate(design.rows()):
        write_fake_run(out / "runs" / sid, row, "diverged" if i in failed else "converged")
    return out, design


def test_analyse_pce_end_to_end_excludes_failed(tmp_path):
    out, design = build(tmp_path, "pce", 24, failed=(5,))
    res = uq.analyse_command(out)
    assert res["runs"]["excluded"] == [{"sample_id": "s0005", "reason": "status 'diverged' (Courant blow-up)"}]
    assert len(res["runs"]["used"]) == 23
    pce = res["pce"]["qois"]
    assert set(pce) == {q.key for q in uq.QOIS}
    # tawss ∝ μ·v exactly representable at order 2: the PCE mean is the analytic mean
    specs = {s.name: s.distribution() for s in design.inputs}
    e_mu_v = float(specs["viscosity"].mom(1) * specs["mean_velocity"].mom(1))
    assert pce["sac_tawss_mean"]["mean"] == pytest.approx(4 * e_mu_v / 1e-3 * 1.5, rel=1e-3)
    assert pce["sac_ntawss_mean"]["S1"]["harmonic_scale"] == pytest.approx(1.0, abs=1e-6)
    assert pce["pressure_drop_outlet_0"]["S1"]["harmonic_scale"] == pytest.approx(0.0, abs=1e-8)
    assert pce["sac_tawss_mean"]["p05"] < pce["sac_tawss_mean"]["mean"] < pce["sac_tawss_mean"]["p95"]
    wall = pv.read(out / "uq_wall.vtp")
    names = [uq.wall_array_name(k, s) for k in ("tawss", "osi") for s in ("mean", "std", "p05", "p95")]
    assert set(names) <= set(wall.point_data.keys())
    z = np.asarray(wall.points)[:, 2] / 3.0
    assert np.allclose(wall.point_data["tawss_mean"], 4 * e_mu_v / 1e-3 * (1.5 + 0.5 * z), rtol=1e-3)
    osi_sd = 0.1 * (1 + z) / 2 * float(np.sqrt(specs["harmonic_scale"].mom(2) - specs["harmonic_scale"].mom(1) ** 2))
    assert np.allclose(wall.point_data["osi_std"], osi_sd, atol=1e-8)
    assert np.all(wall.point_data["tawss_p05"] <= wall.point_data["tawss_p95"])
    on_disk = json.loads((out / "uq.json").read_text(), parse_constant=pytest.fail)
    assert on_disk["runs"]["excluded"][0]["sample_id"] == "s0005"
    assert on_disk["qois"]["sac_tawss_mean"]["unit"] == "Pa"
    assert res["plots"]["pce_sobol"] == "uq_pce_sobol.png" and (out / "uq_pce_sobol.png").is_file()
    assert res["plots"].get("tawss_std") == "uq_tawss_std.png" or "tawss_std_error" in res["plots"]


def test_analyse_sobol_refuses_failed_runs(tmp_path):
    out, _ = build(tmp_path, "sobol", 4, failed=(3, 11))
    with pytest.raises(UQError) as exc:
        uq.analyse(out, plots=False)
    msg = str(exc.value)
    assert "\n" not in msg and "s0003" in msg and "s0011" in msg and "diverged" in msg
    assert not (out / "uq.json").exists()


def test_analyse_sobol_and_morris_end_to_end(tmp_path):
    out, design = build(tmp_path / "s", "sobol", 8)
    res = uq.analyse(out)
    assert set(res["sobol"]) == {q.key for q in uq.QOIS}
    st = res["sobol"]["sac_ntawss_mean"]["ST"]
    assert st["harmonic_scale"]["value"] == pytest.approx(1.0, abs=0.05) and st["viscosity"]["value"] == 0.0
    assert res["plots"]["sobol"] == "uq_sobol.png" and (out / "uq_sobol.png").is_file()
    assert res["wall"]["arrays"]["tawss_std"] == "Pa"

    out, _ = build(tmp_path / "m", "morris", 6)
    res = uq.analyse(out)
    mor = res["morris"]["pressure_drop_outlet_0"]
    assert mor["harmonic_scale"]["mu_star"] == 0.0 and mor["mean_velocity"]["mu_star"] > 0
    assert res["plots"]["morris"] == "uq_morris.png" and (out / "uq_morris.png").is_file()
    assert "wall" not in res


def test_analyse_refuses_mixed_meshes_and_empty_sets(tmp_path):
    out, design = build(tmp_path, "pce", 24)
    odd = pv.Sphere(theta_resolution=6, phi_resolution=6)
    odd.point_data["tawss"] = np.ones(odd.n_points)
    odd.point_data["osi"] = np.zeros(odd.n_points)
    odd.save(out / "runs" / "s0002" / "post" / "wall.vtp")
    with pytest.raises(UQError, match="s0002.*same mesh"):
        uq.analyse(out, plots=False)
    with pytest.raises(UQError, match="no usable runs"):
        uq.analyse(out, run_dirs={}, plots=False)


def test_waveform_scale_matches_design_input():
    w = Waveform(1e-6, 1.0).perturbed([0.1] * Waveform(1e-6, 1.0).n_harmonics)
    assert np.allclose(w.harmonic_scales(), 1.1)
