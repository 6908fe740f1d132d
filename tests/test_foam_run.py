"""Log monitor verdicts and template rendering: pure, no OpenFOAM needed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cfdgen.errors import ConfigError
from cfdgen.foam_case import OutletSpec, TimeTable, boundary_p, boundary_u, render_template, render_text
from cfdgen.foam_run import DivergenceConfig, LogMonitor, fatal_message, solver_outcome

HEALTHY = """\
Courant Number mean: 0.0123 max: 0.61
deltaT = 0.000123
Time = 0.0101

PIMPLE: iteration 1
smoothSolver:  Solving for Ux, Initial residual = 0.0012, Final residual = 1e-09, No Iterations 3
GAMG:  Solving for p, Initial residual = 0.01, Final residual = 8e-05, No Iterations 4
time step continuity errors : sum local = 1.2e-08, global = 3e-10, cumulative = 1e-09
ExecutionTime = 1.2 s  ClockTime = 1 s
"""


def _feed(text: str, cfg: DivergenceConfig | None = None) -> LogMonitor:
    m = LogMonitor(cfg or DivergenceConfig())
    for line in text.splitlines():
        m.feed(line)
    return m


def test_healthy_log_is_not_diverged():
    banner = "Build  : OPENFOAM=1912 patch=200626\ntrapFpe: Floating point exception trapping enabled (FOAM_SIGFPE).\n"
    m = _feed(banner + HEALTHY * 30)
    assert m.state.build == "OPENFOAM=1912 patch=200626"
    assert m.state.diverged is None
    assert m.state.time == pytest.approx(0.0101)
    assert m.state.steps == 30
    assert m.state.courant_max == pytest.approx(0.61)
    assert m.state.continuity_max == pytest.approx(1.2e-8)


@pytest.mark.parametrize(
    "bad, words",
    [
        ("Courant Number mean: 3.1 max: 85.2", "Courant number 85.2"),
        ("Courant Number mean: nan max: nan", "Courant number is nan"),
        ("deltaT = 3e-12", "time step collapsed"),
        ("time step continuity errors : sum local = 0.5, global = 1e-3, cumulative = 1", "continuity error 0.5"),
        ("time step continuity errors : sum local = 5e-3, global = 1e-5, cumulative = 1", "grew"),
        ("GAMG:  Solving for p, Initial residual = nan, Final residual = nan, No Iterations 1000", "NaN"),
        ("#1  Foam::sigFpe::sigHandler(int) at ??:?", "floating point"),
    ],
)
def test_divergence_is_named(bad, words):
    m = _feed(HEALTHY * 25 + bad + "\n")
    assert m.state.diverged is not None and words in m.state.diverged
    assert "t = 0.0101" in m.state.diverged or "floating" in m.state.diverged


def test_fatal_error_message_is_one_line():
    text = "\n--> FOAM FATAL ERROR: \nCannot find patchField entry for outlet_3\n\n    From function x\n"
    assert fatal_message(text) == "Cannot find patchField entry for outlet_3"
    m = _feed(HEALTHY + text)
    assert m.state.fatal == "Cannot find patchField entry for outlet_3"
    assert m.state.diverged is None  # a crash, reported as failed by the runner


def test_outcome_names_a_signal_from_outside_apart_from_a_crash():
    """A run killed from outside (status -15: SIGTERM, as a job limit or a user stops it) says so and where it was;
    a crash keeps its fatal message, a divergence wins over both."""
    m = _feed(HEALTHY)
    stopped = solver_outcome("pimpleFoam", m.state, -15)
    assert stopped.status == "stopped" and "stopped by SIGTERM at t = " in stopped.reason
    assert f"t = {m.state.time:g} s" in stopped.reason and "crashed" not in stopped.reason
    assert solver_outcome("pimpleFoam", m.state, 1).reason == "pimpleFoam crashed: pimpleFoam exited with status 1"
    assert solver_outcome("pimpleFoam", m.state, 0).status == "converged"
    fatal = _feed(HEALTHY + "\n--> FOAM FATAL ERROR: \nCannot find patchField entry for outlet_3\n\n")
    assert solver_outcome("pimpleFoam", fatal.state, -6).reason.endswith(
        "crashed: Cannot find patchField entry for outlet_3"
    )


def test_render_refuses_missing_values(tmp_path):
    assert render_text("a {{x}} b", {"x": "1"}, "f") == "a 1 b"
    with pytest.raises(ConfigError, match="no value for y"):
        render_text("{{x}} {{y}}", {"x": "1"}, "f")
    with pytest.raises(ConfigError, match="no value for"):
        render_template("pimpleFoam", tmp_path, {})


def test_patch_entries_cover_every_outlet_kind():
    table = TimeTable(np.array([0.0, 0.5]), np.array([1e-6, 2e-6]))
    outlets = [
        OutletSpec("outlet_0", "pressure", pressure=0.0),
        OutletSpec("outlet_1", "flow", flow_table=table),
        OutletSpec("outlet_2", "pressure", pressure_table=TimeTable(np.array([0.0, 1.0]), np.array([1060.0, 2120.0]))),
    ]
    u, p = boundary_u(outlets), boundary_p(outlets, rho=1060.0)
    assert "timeVaryingMappedFixedValue" in u and "noSlip" in u
    assert "flowRateOutletVelocity" in u and "table ((0 1e-06) (0.5 2e-06))" in u
    assert "table ((0 1) (1 2))" in p  # Pa → kinematic pressure
    for name in ("inlet", "wall", "outlet_0", "outlet_1", "outlet_2"):
        assert f"    {name}\n" in u and f"    {name}\n" in p
    with pytest.raises(ConfigError):
        OutletSpec("outlet_1", "flow")


def test_gci_recovers_order_and_limit():
    from cfdgen.verify import gci

    # f(h) = 2 + 0.5 h², cells N ∝ h⁻³ with refinement ratios 1.5 and 1.3
    h = np.array([1.0, 1.5, 1.95])
    values = tuple(2.0 + 0.5 * h**2)
    cells = tuple(int(round(1e6 * x**-3)) for x in h)
    res = gci(values, cells)
    assert res["order"] == pytest.approx(2.0, abs=0.02)
    assert res["extrapolated"] == pytest.approx(2.0, abs=2e-3)
    # GCI of the fine value brackets its true relative error 0.5/2.5 = 20 %, with Roache's safety factor 1.25
    assert res["gci_fine"] == pytest.approx(1.25 * 0.5 / 2.5, rel=0.03)
    with pytest.raises(ValueError):
        gci(values, cells[::-1])


def test_simulate_refuses_a_folder_that_is_not_a_mesh(tmp_path, capsys):
    from iahemo.cli import main

    (tmp_path / "notamesh").mkdir()
    assert main(["simulate", str(tmp_path / "notamesh"), "-q", "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a mesh folder written by 'iahemo mesh'" in err[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_gci_of_folders_that_are_not_runs_is_one_line(tmp_path, capsys):
    from iahemo.cli import main

    runs = [str(tmp_path / n) for n in ("a", "b", "c")]
    assert main(["gci", *runs]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "post-processed run folder is needed" in err[0]


def test_gci_of_wall_quantity_for_a_case_without_a_sac(tmp_path, capsys):
    """A case with no detected sac (like the shared real C0015) is still checked for grid convergence: over the whole
    wall. Summaries follow f = 3 + 40 h² with h = N^(-1/3), so the order is 2 and the limit 3."""
    from iahemo.cli import main

    runs = []
    for name, cells in (("fine", 120_000), ("mid", 50_000), ("rough", 8_000)):
        d = tmp_path / name
        (d / "post").mkdir(parents=True)
        (d / "run.json").write_text(json.dumps({"mesh_cells": cells}))
        value = 3.0 + 40.0 * cells ** (-2.0 / 3.0)
        summary = {"wall": {"tawss_mean": {"value": value, "unit": "Pa"}}, "sac": None}
        (d / "post" / "summary.json").write_text(json.dumps(summary))
        runs.append(str(d))
    assert main(["gci", *runs]) == 2  # no sac: a one-line refusal naming the region
    assert "no sac tawss_mean" in capsys.readouterr().err
    out = tmp_path / "gci.json"
    assert main(["gci", *runs, "--region", "wall", "-o", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["quantity"] == "wall tawss_mean" and res["cells"] == [120_000, 50_000, 8_000]
    assert res["order"] == pytest.approx(2.0, rel=1e-3)
    assert res["extrapolated"] == pytest.approx(3.0, rel=1e-6)
