"""Steady flow at the mean inflow: one simpleFoam (SIMPLEC) solve of a meshed geometry.

Why: at the mean flow, the wall shear of the steady solution is within ~6–10 % of the pulsatile run's TAWSS
(benchmarks/steady_vs_pulsatile.py), so a steady solve is a candidate source of cheap TAWSS/TAP targets or of a
better low-fidelity channel, if it is cheaper than the pulsatile run. Same mesh, same spatial schemes and the same
boundary conditions as :func:`cfdgen.simulate.simulate` with every waveform harmonic removed
(``Waveform.held_constant``): the parabolic inlet profile of the mean flow, Windkessel outlets at their mean
pressure. The run folder follows the same contract (``<run>.partial`` until it has a QC verdict; run.json, qc.json,
geometry/), with ``"steady": true`` in run.json so post-processing reads its one written state as its own time
average (TAWSS = |τ|, OSI = 0, TAP = p).

:func:`steady_shear_at` reads the steady wall shear at given wall points: a low-fidelity input (channel 3) that is
~10 % from the pulsatile TAWSS on the dataset's held-out runs (benchmarks/steady_channel.py).
"""

from __future__ import annotations

import math
import re
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cfdgen import registry
from cfdgen.atomic import write_json
from cfdgen.bc import BoundaryConditions
from cfdgen.errors import ConfigError, IahemoError, RunStopped
from cfdgen.foam_case import boundary_p, boundary_u, flow_rate_functions, num
from cfdgen.foam_run import DivergenceConfig, run_solver
from cfdgen.prepare import PreparedGeometry, for_meshing, mesh_case, read_openings
from cfdgen.simulate import (
    INTERPOLATIONS,
    PARTIAL,
    RunResult,
    assemble_case,
    check_mesh_dir,
    outlet_specs,
    run_record,
    time_dirs,
)

TEMPLATE = "simpleFoam"
LOFI_MODEL = "steady-simplefoam"  # a sample's lofi_model when channel 3 is steady_shear_at's field
STEADY_WSS = "WSS_STEADY"  # point array of wall_shear: tangential wall shear (Pa) of the last iteration
# A steady channel's iteration budget at inference. The residual controls stall on about half of the draft meshes
# with linear interpolation (3,000 iterations, ~45 s), yet the wall shear has settled long before: on 4 held-out
# runs that stop at 3,000, the iterate at 500 was 0.4-0.7 % from the one at 3,000 (at 250: 1.9-7.3 %), and the
# runs that converge do so in 450-1,100 (session 30; the held-out evaluation at 500: benchmarks/steady_channel.py).
CHANNEL_ITERATIONS = 500
_CONVERGED = re.compile(r"SIMPLE solution converged in\s+(\d+)\s+iterations")


@dataclass(frozen=True)
class SteadyConfig:
    max_iterations: int = 3000
    # initial residuals at which simpleFoam stops (residualControl); checked against 10x tighter ones in
    # benchmarks/steady_vs_pulsatile.py
    tolerance_p: float = 1e-4
    tolerance_u: float = 1e-5
    # SIMPLEC with the momentum relaxed to 0.3: converged on all three draft meshes tried (501-972 iterations),
    # where 0.5-0.9 diverged or stalled on one of them and SIMPLE (U 0.5-0.7, p 0.3) stalled on syn1_000.
    consistent: bool = True
    relax_u: float = 0.3
    relax_p: float = 1.0
    n_nonorth: int = 1
    interpolation: str = "skewCorrected linear"
    # The first SIMPLE iterations from rest have O(1) continuity errors by nature: only their growth, NaNs and
    # floating-point exceptions mean divergence here.
    divergence: DivergenceConfig = field(default_factory=lambda: DivergenceConfig(max_continuity=math.inf))

    def __post_init__(self):
        if self.max_iterations < 10:
            raise ConfigError(f"max_iterations must be >= 10 (got {self.max_iterations})")
        if not (0 < self.relax_u <= 1 and 0 < self.relax_p <= 1):
            raise ConfigError(f"relaxation factors must be in (0, 1] (got U {self.relax_u}, p {self.relax_p})")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"interpolation must be one of {', '.join(map(repr, INTERPOLATIONS))} (got {self.interpolation!r})"
            )


def converged_iterations(log_text: str) -> int | None:
    """The iteration at which simpleFoam met its residual controls, or None if it never did."""
    m = _CONVERGED.search(log_text)
    return int(m.group(1)) if m else None


def simulate_steady(
    mesh_dir: str | Path,
    run_dir: str | Path,
    bc: BoundaryConditions,
    config: SteadyConfig = SteadyConfig(),
    progress: bool = True,
    extra: dict | None = None,
) -> RunResult:
    """Solve the steady flow of ``bc``'s mean inflow on ``mesh_dir`` into ``run_dir`` (run.json, qc.json)."""
    mesh_dir, run_dir = Path(mesh_dir), Path(run_dir)
    check_mesh_dir(mesh_dir)
    bc = replace(bc, waveform=bc.waveform.held_constant())
    openings = {o["patch"]: o for o in read_openings(mesh_dir)}
    end = config.max_iterations
    times = np.array([0.0, end + 1.0])  # constant in "time" (iterations): two identical rows of every table
    outlets = outlet_specs(bc, times)
    values = {
        "wall_patch": registry.WALL,
        "n_nonorth": str(config.n_nonorth),
        "interpolation": config.interpolation,
        "nu": num(bc.nu),
        "p_internal": "0",
        "tolerance_p": num(config.tolerance_p),
        "tolerance_u": num(config.tolerance_u),
        "relax_u": num(config.relax_u),
        "relax_p": num(config.relax_p),
        "consistent": "yes" if config.consistent else "no",
        "end_time": str(end),
        "extra_functions": flow_rate_functions(list(openings)),
        "boundary_U": boundary_u(outlets),
        "boundary_p": boundary_p(outlets, bc.density),
    }
    partial = run_dir.with_name(run_dir.name + PARTIAL)
    if partial.exists():  # a steady solve restarts from rest: nothing worth resuming
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    assemble_case(partial, TEMPLATE, values, mesh_dir, openings[registry.INLET], bc, times)

    settings = {k: v for k, v in asdict(config).items() if k != "divergence"}
    record = run_record(mesh_dir, bc, {"steady_solver": settings}, n_procs=1, extra=extra)
    record |= {"steady": True, "period": None}
    write_json(partial / "run.json", record)

    bar = tqdm(total=end, unit="it", desc="simpleFoam", disable=not progress, leave=False, mininterval=1.0)
    t0 = time.perf_counter()
    try:
        log = partial / "log.simpleFoam"
        outcome = run_solver("simpleFoam", partial, log, 1, config.divergence, lambda t: bar.update(int(t) - bar.n))
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    if outcome.status == "stopped":
        raise RunStopped(f"{outcome.reason}; run it again to start over")
    iterations = converged_iterations(log.read_text())
    status, reason = outcome.status, outcome.reason
    if status == "converged" and iterations is None:
        status, reason = "failed", f"residuals did not fall below the controls within {end} iterations"
    written = [t for t in time_dirs(partial) if t > 0]
    last = written[-1] if written else 0.0
    record |= {"record_start": last, "end_time": last, "openfoam_version": outcome.state.build or "unknown"}
    qc = {
        "status": status,
        "reason": reason,
        "iterations": iterations if iterations is not None else outcome.state.steps,
        "max_continuity_error": outcome.state.continuity_max,
        "inlet_flow_prescribed_m3s": bc.waveform.mean_flow,
        "written_times": [last] if written else [],
        "wall_time_s": wall,
        "n_procs": 1,
        "mesh": {"cells": record["mesh_cells"], "level": record["mesh_level"]},
    }
    write_json(partial / "run.json", record)
    write_json(partial / "qc.json", qc)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    partial.rename(run_dir)
    return RunResult(run_dir, status, reason, qc)


def wall_shear(run_dir: str | Path):
    """The wall (mm) of a steady run with the point array ``STEADY_WSS``: the tangential wall shear (Pa) of its
    last written iteration, whether or not the residual controls were met. As a result an unconverged state is
    refused (post-processing); as an input feature it is usable: on the dataset's test runs the last iterates of the
    solves that stopped at 3,000 iterations were 10.7 % from the pulsatile TAWSS, the converged states 9.9 %
    (benchmarks/steady_channel.py)."""
    import pyvista as pv

    from cfdgen.post import M_TO_MM, read_run, read_wall_series
    from cfdgen.wall_indices import face_areas_normals, tangential

    run = read_run(run_dir)
    if not run.get("steady"):
        raise IahemoError(f"{run_dir}: not a steady run (run.json has no 'steady': true)")
    end = float(run["end_time"])
    if end <= 0:
        raise IahemoError(f"{run_dir}: the steady run wrote no iteration")
    series = read_wall_series(run_dir, end, end, 1)
    points, faces = np.asarray(series.wall.points), np.asarray(series.wall.faces)
    _, normals = face_areas_normals(points, faces)
    wall = pv.PolyData(points * M_TO_MM, faces)
    wall.cell_data[STEADY_WSS] = tangential(-float(run["rho"]) * series.wss_kinematic[-1], normals)
    return wall.cell_data_to_point_data()


@dataclass(frozen=True, eq=False)
class SteadyShear:
    wss: np.ndarray  # (n, 3) Pa at the requested points
    converged: bool
    iterations: int
    solve_seconds: float
    max_gap_mm: float  # farthest requested point from the meshed wall (another surface's points: how far off)
    max_iterations: int  # the budget: a solve that used it all has not met the residual controls
    cells: int  # of the mesh solved on

    def record(self) -> dict:
        """What the solve did, as predict and the benchmarks report it."""
        return {"converged": self.converged, "iterations": self.iterations, "max_iterations": self.max_iterations,
                "cells": self.cells, "solve_seconds": round(self.solve_seconds, 1),
                "max_gap_mm": round(self.max_gap_mm, 4)}  # fmt: skip


def steady_shear_at(
    mesh_dir: str | Path, run_dir: str | Path, bc: BoundaryConditions, points: np.ndarray,
    config: SteadyConfig = SteadyConfig(),
) -> SteadyShear:  # fmt: skip
    """Solve ``bc``'s steady flow on ``mesh_dir`` and read its wall shear at ``points`` (mm, on the wall: the
    closest wall point, linear in its triangle); a solve that wrote nothing (diverged, crashed) is an error."""
    from cfdgen.pointcloud import fields_at

    t = time.perf_counter()
    run = simulate_steady(mesh_dir, run_dir, bc, config, progress=False)
    seconds = time.perf_counter() - t
    if not run.qc.get("written_times"):
        raise IahemoError(f"simpleFoam {run.status}: {run.reason}")
    wall = wall_shear(run.run_dir)
    points = np.asarray(points, dtype=np.float64)
    gap = np.linalg.norm(wall.find_closest_cell(points, return_closest_point=True)[1] - points, axis=1).max()
    wss = np.asarray(fields_at(wall, points, [STEADY_WSS])[STEADY_WSS], dtype=np.float64)
    converged = run.status == "converged"
    cells = int(run.qc["mesh"]["cells"])
    return SteadyShear(wss, converged, int(run.qc["iterations"]), seconds, float(gap), config.max_iterations, cells)


@dataclass(frozen=True)
class ChannelSettings:
    """How a steady channel 3 is made: the mesh level and the solver's interpolation. The training samples carry
    it (``lofi_settings``), a model trained on them records it, and predict repeats it for a new surface."""

    level: str = "draft"
    interpolation: str = SteadyConfig.interpolation

    def __post_init__(self):
        self.solver()  # an unknown interpolation is named here, not at the first solve

    def solver(self, max_iterations: int = CHANNEL_ITERATIONS) -> SteadyConfig:
        return SteadyConfig(max_iterations=max_iterations, interpolation=self.interpolation)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ChannelSettings:
        """The settings in ``d`` (a sample's lofi_settings or a model's channel 3, other keys ignored)."""
        return cls(**{k: d[k] for k in ("level", "interpolation") if k in d})


def steady_channel(
    surface: str | Path, case, bc: BoundaryConditions, points: np.ndarray, work_dir: str | Path,
    settings: ChannelSettings = ChannelSettings(), prep: PreparedGeometry | None = None,
) -> SteadyShear:  # fmt: skip
    """Mesh ``surface`` at the settings' level and read its steady wall shear under ``bc`` at ``points`` (channel 3
    of a surrogate trained on steady fields) within inference's budget of CHANNEL_ITERATIONS; ``work_dir`` gets mesh/
    and run/. ``prep``: the surface's geometry as inference prepared it (without remeshing): reused, not redone."""
    work = Path(work_dir)
    mesh_case(surface, work / "mesh", settings.level, case, prep=for_meshing(prep) if prep is not None else None)
    return steady_shear_at(work / "mesh", work / "run", bc, points, settings.solver())
