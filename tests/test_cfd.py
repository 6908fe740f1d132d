"""Real OpenFOAM runs on tiny meshes: Poiseuille and Womersley verification, divergence handling, and the
case path mesh → simulate → post → sample on a synthetic aneurysm through the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from cfdgen.errors import ConfigError, IahemoError
from cfdgen.simulate import SolverConfig, simulate
from cfdgen.verify import PipeCase, mesh_pipe, poiseuille_error, run_pipe, steady_pipe, womersley_errors

pytestmark = [
    pytest.mark.openfoam,
    pytest.mark.skipif(shutil.which("pimpleFoam") is None, reason="OpenFOAM is not installed"),
]


@pytest.fixture(scope="module")
def steady(tmp_path_factory):
    case = dataclasses.replace(steady_pipe(), length_mm=40.0)
    return case, mesh_pipe(case, tmp_path_factory.mktemp("steady"))


def test_poiseuille_wss(steady, tmp_path):
    case, mesh = steady
    run = run_pipe(case, mesh, tmp_path / "run", cycles=0.15 / case.period, record_cycles=0.05 / case.period)
    err = poiseuille_error(run)
    # The same flow through the meshed lumen (the wall's chords cut the circle): what is left is the solver's error.
    err_meshed = (1 + err) * run.area_ratio**1.5 - 1
    print(
        f"Poiseuille: WSS {run.wss[-1]:.4f} Pa vs {run.wss[-1] / (1 + err):.4f} Pa ({err:+.2%}; meshed lumen "
        f"{err_meshed:+.2%}), {run.cells} cells"
    )
    # Linear interpolation without the skew correction measured +2.2 % here (+1.0 % beyond the meshed lumen, the
    # same at coarse level); the default scheme +0.6 % (-0.6 %).
    assert "skewCorrected linear" in (run.run_dir / "system" / "fvSchemes").read_text()
    assert abs(err) < 0.015
    assert abs(err_meshed) < 0.015
    assert np.ptp(run.wss[-3:]) < 1e-3 * run.wss[-1]  # steady: the start-up transient has died out


def test_womersley_wss_waveform(tmp_path):
    case = PipeCase()  # 80 mm (20 diameters), reference ICA waveform, blood, α ≈ 2.8
    mesh = mesh_pipe(case, tmp_path)
    run = run_pipe(case, mesh, tmp_path / "run", cycles=1.6, record_cycles=1.0, n_procs=2)
    e = womersley_errors(run)
    print(json.dumps({k: round(v, 4) for k, v in e.items()}))
    assert e["womersley_wss_rel_l2"] < 0.10
    assert e["womersley_peak_wss_rel_error"] < 0.10
    # the goal is 2 %: 1.9 % measured with the skew-corrected interpolation (3.3 % without)
    assert e["womersley_wss_rel_l2"] < 0.025
    # the check has teeth: quasi-steady Poiseuille would miss the peak by far more than the tolerance
    assert abs(e["peak_wss_quasi_steady_pa"] / e["peak_wss_exact_pa"] - 1) > 0.15
    # the meshed lumen is the circle cut by chords: a little smaller, never larger (tiny level: ~0.99)
    assert 0.97 < e["meshed_area_ratio"] < 1.0
    assert e["womersley_wss_rel_l2_meshed_lumen"] < 0.10


def test_solver_config_refuses_an_unknown_interpolation():
    with pytest.raises(ConfigError, match="interpolation must be one of"):
        SolverConfig(interpolation="upwind")


def test_diverging_run_is_recorded_and_never_sampled(steady, tmp_path):
    from cfdgen.post import sample_run

    case, mesh = steady
    # 100× the flow with a fixed, far too long time step: the solution blows up within a few steps.
    bc = dataclasses.replace(case, mean_velocity=10.0).boundary_conditions()
    solver = SolverConfig(adjust_time_step=False, initial_delta_t=5e-3, max_delta_t=5e-3)
    result = simulate(mesh, tmp_path / "run", bc, solver, end_time=0.5, progress=False)
    assert result.status == "diverged"
    qc = json.loads((tmp_path / "run" / "qc.json").read_text())
    assert qc["status"] == "diverged" and qc["reason"] == result.reason
    assert any(w in qc["reason"] for w in ("Courant", "continuity", "NaN", "time step", "floating"))
    assert qc["simulated_time"] < 0.5
    assert not (tmp_path / "run.partial").exists()
    with pytest.raises(IahemoError, match="diverged"):
        sample_run(tmp_path / "run", tmp_path / "sample")
    assert not (tmp_path / "sample" / "sample.h5").exists()


def test_killed_run_resumes_to_a_complete_run(steady, tmp_path):
    """A run killed mid-way leaves only RUN.partial; the same command again resumes it and completes."""
    from iahemo.cli import main

    _, mesh = steady
    run = tmp_path / "run"
    args = ["simulate", str(mesh), "--end-time", "0.06", "-q", "-o", str(run)]
    proc = subprocess.Popen([sys.executable, "-m", "iahemo.cli", *args], start_new_session=True)
    partial = tmp_path / "run.partial"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        written = [d for d in partial.glob("0.0*") if d.is_dir()] if partial.is_dir() else []
        if len(written) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial.is_dir() and not run.exists()  # nothing looks finished
    assert main(args) == 0
    qc = json.loads((run / "qc.json").read_text())
    assert qc["status"] == "converged" and qc["simulated_time"] == pytest.approx(0.06)
    assert not partial.exists()
    dirs = {float(d.name): d for d in run.iterdir() if d.name[0].isdigit()}
    assert len(qc["written_times"]) >= 4
    assert all((dirs[t] / "U").is_file() and (dirs[t] / "wallShearStress").is_file() for t in qc["written_times"])


def test_solver_stopped_from_outside_is_resumed_not_recorded(steady, tmp_path):
    """pimpleFoam alone killed (a job limit or the OOM killer hits the solver, not iahemo): `simulate` names the
    signal, writes no QC that would stand as the case's result, and the same command resumes and completes."""
    _, mesh = steady
    run = tmp_path / "run"
    args = ["simulate", str(mesh), "--end-time", "0.06", "-q", "-o", str(run)]
    proc = subprocess.Popen([sys.executable, "-m", "iahemo.cli", *args], stderr=subprocess.PIPE, text=True)
    partial = tmp_path / "run.partial"
    deadline = time.monotonic() + 120
    solver = None
    while time.monotonic() < deadline and proc.poll() is None and solver is None:
        if partial.is_dir() and len([d for d in partial.glob("0.0*") if d.is_dir()]) >= 2:
            found = subprocess.run(["pgrep", "-f", f"pimpleFoam -case {partial}"], capture_output=True, text=True)
            solver = int(found.stdout.split()[0]) if found.stdout.split() else None
        time.sleep(0.2)
    assert solver is not None, "no solver to stop before the run finished"
    os.kill(solver, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "stopped by SIGKILL at t = " in err and "the same command resumes it" in err
    assert partial.is_dir() and not run.exists() and not (partial / "qc.json").exists()
    from iahemo.cli import main

    assert main(args) == 0
    qc = json.loads((run / "qc.json").read_text())
    assert qc["status"] == "converged" and qc["simulated_time"] == pytest.approx(0.06)


def test_synthetic_aneurysm_mesh_simulate_post_sample(tmp_path, capsys):
    from iahemo.cli import main

    case = "cases/syn1_000/case.yaml"
    assert (
        main(["mesh", "cases/syn1_000/surface.vtp", "--case", case, "--level", "tiny", "-o", str(tmp_path / "m")]) == 0
    )
    qc = json.loads((tmp_path / "m" / "qc.json").read_text())
    assert qc["checkmesh_ok"] and qc["layers_present"]
    assert (
        main(["simulate", str(tmp_path / "m"), "--case", case, "--end-time", "0.02", "-q", "-o", str(tmp_path / "r")])
        == 0
    )
    run_qc = json.loads((tmp_path / "r" / "qc.json").read_text())
    assert run_qc["status"] == "converged" and abs(run_qc["inlet_flow_error"]) < 0.01
    assert main(["post", str(tmp_path / "r")]) == 0
    summary = json.loads((tmp_path / "r" / "post" / "summary.json").read_text())
    assert summary["sac"]["tawss_mean"]["value"] > 0
    # a sac is a low-shear pocket next to its parent artery
    assert summary["sac"]["ntawss_mean"]["value"] < 1.0
    assert (tmp_path / "r" / "post" / "tawss_osi.png").stat().st_size > 10_000
    assert main(["sample", str(tmp_path / "r"), "--points", "2048", "-o", str(tmp_path / "s")]) == 0
    with h5py.File(tmp_path / "s" / "sample.h5") as f:
        assert f["points"].shape == (2048, 3)
        assert 0 < f["sac"][:].mean() < 0.8
        assert np.all(f["fields/TAWSS"][:] >= 0)
        assert f.attrs["case_id"] == "syn1_000"
    out = capsys.readouterr().out
    assert "converged" in out and "sac TAWSS" in out

    # the same mesh at its mean inflow, steady: seconds of simpleFoam; a sac is a low-shear pocket there too
    assert main(["simulate", str(tmp_path / "m"), "--case", case, "--steady", "-q", "-o", str(tmp_path / "st")]) == 0
    assert "converged: steady at the mean inflow" in capsys.readouterr().out
    assert main(["post", str(tmp_path / "st")]) == 0
    steady = json.loads((tmp_path / "st" / "post" / "summary.json").read_text())
    assert steady["sac"]["ntawss_mean"]["value"] < 1.0 and steady["sac"]["osi_max"]["value"] == 0.0
    assert json.loads((tmp_path / "st" / "run.json").read_text())["steady"] is True
    assert main(["simulate", str(tmp_path / "m"), "--steady", "--np", "2", "-o", str(tmp_path / "st2")]) != 0
    assert "--steady runs on one rank" in capsys.readouterr().err and not (tmp_path / "st2").exists()


def test_steady_solver_poiseuille_wss_and_a_run_that_does_not_converge(steady, tmp_path):
    """simpleFoam on the pipe: the wall shear of the closed form, read at given wall points (as channel 3) and
    post-processed (OSI exactly 0: the one state is its own time average); a run stopped at its iteration limit is
    recorded as failed and never sampled, but its last iterate can still be read as an input."""
    from cfdgen import registry
    from cfdgen.post import postprocess, sample_run
    from cfdgen.steady import (
        STEADY_WSS,
        SteadyConfig,
        converged_iterations,
        simulate_steady,
        steady_shear_at,
        wall_shear,
    )
    from cfdgen.womersley import poiseuille_wss

    case, mesh = steady
    # read as channel 3 would be: at points of the ideal cylinder's middle third (the meshed wall is faceted)
    theta, z = np.meshgrid(np.linspace(0, 2 * np.pi, 24, endpoint=False), np.linspace(-1, 1, 9) * case.length_mm / 6)
    r = case.radius_mm
    points = np.column_stack([r * np.cos(theta.ravel()), r * np.sin(theta.ravel()), z.ravel()])
    shear = steady_shear_at(mesh, tmp_path / "run", case.boundary_conditions(), points)
    assert shear.converged
    assert 10 < shear.iterations < SteadyConfig().max_iterations
    assert not (tmp_path / "run.partial").exists()
    exact = poiseuille_wss(case.mean_velocity * case.area_m2, case.radius_mm * 1e-3, case.viscosity)
    magnitude = np.linalg.norm(shear.wss, axis=1)
    print(f"steady shear at points: {magnitude.mean():.4f} Pa (gap {shear.max_gap_mm:.3f} mm)")
    assert abs(magnitude.mean() / exact - 1) < 0.015 and shear.max_gap_mm < 0.05 * r
    assert np.all(np.abs(shear.wss[:, 2]) > 0.99 * magnitude)  # along the axis
    post = postprocess(tmp_path / "run")
    wall = post.wall
    centres = np.asarray(wall.cell_centers().points)
    areas = np.asarray(wall.compute_cell_sizes(length=False, volume=False).cell_data["Area"])
    mid = np.abs(centres[:, 2]) <= case.length_mm / 6.0
    tawss = float(np.asarray(wall.cell_data[registry.field("tawss").key])[mid] @ areas[mid] / areas[mid].sum())
    print(f"simpleFoam Poiseuille: TAWSS {tawss:.4f} Pa vs {exact:.4f} Pa, {shear.iterations} iterations")
    # pimpleFoam on this mesh is within 1.5 % (test_poiseuille_wss); the steady solver must match it
    assert abs(tawss / exact - 1) < 0.015
    assert np.all(np.asarray(wall.cell_data[registry.field("osi").key]) == 0)
    assert post.summary["window"]["n_times"] == 2 and post.summary["window"]["start_s"] == 0.0

    cut = simulate_steady(mesh, tmp_path / "cut", case.boundary_conditions(), SteadyConfig(max_iterations=10),
                          progress=False)  # fmt: skip
    assert cut.status == "failed" and "within 10 iterations" in cut.reason
    assert json.loads((tmp_path / "cut" / "qc.json").read_text())["status"] == "failed"
    with pytest.raises(IahemoError, match="only converged runs"):
        sample_run(tmp_path / "cut", tmp_path / "sample")
    # refused as a result, readable as an input feature
    assert np.isfinite(wall_shear(tmp_path / "cut").point_data[STEADY_WSS]).all()
    (tmp_path / "pulsatile").mkdir()
    (tmp_path / "pulsatile" / "run.json").write_text(json.dumps({"rho": 1060, "record_start": 0.5, "end_time": 1}))
    with pytest.raises(IahemoError, match="not a steady run"):
        wall_shear(tmp_path / "pulsatile")
    assert converged_iterations("x\nSIMPLE solution converged in 321 iterations\n") == 321
    with pytest.raises(ConfigError, match="relaxation factors"):
        SteadyConfig(relax_u=0.0)
