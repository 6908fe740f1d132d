"""``iahemo simulate``: one real pimpleFoam run of a meshed geometry under given boundary conditions.

A run folder is assembled and run under ``<run>.partial/`` and renamed to ``<run>/`` only when it has a QC
verdict, so an interrupted run never looks finished; started again with the same settings it resumes from its
latest written time. The run goes in two stages: the start-up cycles write only one restart point, the recorded
window (the last ``record_cycles``) writes ``writes_per_cycle`` snapshots per cycle for the wall indices.
A diverged or crashed run still gets its folder and QC JSON (status and reason) so the workflow can record it; a
solver stopped by a signal from outside raises ``RunStopped`` and keeps ``<run>.partial/`` to be resumed;
post-processing refuses anything whose status is not "converged".
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cfdgen import __version__, registry
from cfdgen.atomic import write_json
from cfdgen.bc import (
    BoundaryConditions,
    boundary_conditions,
    inlet_velocity,
    windkessel_pressure_table,
    write_inlet_boundary_data,
)
from cfdgen.case import Case, default_case
from cfdgen.errors import ConfigError, RunStopped
from cfdgen.foam_case import (
    OutletSpec,
    TimeTable,
    boundary_p,
    boundary_u,
    copy_mesh,
    decomposition,
    flow_rate_functions,
    num,
    render_template,
)
from cfdgen.foam_run import DivergenceConfig, SolverOutcome, run_solver, run_utility
from cfdgen.prepare import GEOMETRY, read_openings

TEMPLATE = "pimpleFoam"
INTERPOLATIONS = ("linear", "skewCorrected linear")
PARTIAL = ".partial"


@dataclass(frozen=True)
class SolverConfig:
    cycles: float = 3.0  # simulated cardiac cycles (common practice: 2–3, keep the last)
    record_cycles: float = 1.0  # the last cycles written for the wall indices
    writes_per_cycle: int = 40
    inlet_steps_per_cycle: int = 100  # time samples of the mapped inlet profile
    max_co: float = 0.8
    initial_delta_t: float = 1e-5  # s; adaptive stepping grows it
    max_delta_t: float = 2e-3  # s
    adjust_time_step: bool = True
    n_outer: int = 1
    n_correctors: int = 2
    n_nonorth: int = 1
    n_procs: int = 1
    # Face interpolation. Plain linear interpolation on tetrahedra and at the prism-to-tetrahedron transition is
    # not corrected for skewness, an error that does not shrink with uniform refinement: a steady Poiseuille pipe
    # needed ~1.4 % more pressure drop (and WSS) than its meshed lumen at both tiny and coarse level, and the
    # Womersley check stalled at 3 %. The skew correction removes it (README, Verification).
    interpolation: str = "skewCorrected linear"
    divergence: DivergenceConfig = field(default_factory=DivergenceConfig)

    def __post_init__(self):
        if self.cycles <= 0 or self.record_cycles <= 0:
            raise ConfigError("cycles and record_cycles must be > 0")
        if self.writes_per_cycle < 4 or self.inlet_steps_per_cycle < 8:
            raise ConfigError("writes_per_cycle must be >= 4 and inlet_steps_per_cycle >= 8")
        if self.n_procs < 1:
            raise ConfigError(f"n_procs must be >= 1 (got {self.n_procs})")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"interpolation must be one of {', '.join(map(repr, INTERPOLATIONS))} (got {self.interpolation!r})"
            )


@dataclass(frozen=True, eq=False)
class RunResult:
    run_dir: Path
    status: str
    reason: str
    qc: dict


def inlet_faces(case_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Face centres (m) and areas (m²) of the mesh's inlet patch.

    The mapped inlet data is given exactly at the face centres, with the profile normalised by the face areas,
    so the discrete inflow equals Q(t) at every instant (a coarse grid of points would miss it by a few %).
    """
    import pyvista as pv

    marker = case_dir / "mesh.foam"
    marker.touch()
    try:
        reader = pv.OpenFOAMReader(str(marker))
        reader.disable_all_cell_arrays()
        reader.enable_all_patch_arrays()
        blocks = reader.read()
    finally:
        marker.unlink()
    inlet = blocks["boundary"][registry.INLET]
    sizes = inlet.compute_cell_sizes(length=False, area=True, volume=False)
    return np.asarray(inlet.cell_centers().points, dtype=float), np.asarray(sizes.cell_data["Area"], dtype=float)


def outlet_specs(bc: BoundaryConditions, times: np.ndarray) -> list[OutletSpec]:
    """Outlet conditions in the OpenFOAM sense. Pressures are relative to the reference (pressure-wire) level,
    which post-processing adds back: a 0 Pa outlet keeps the kinematic pressure small and well scaled."""
    specs = []
    wks = bc.windkessels() if bc.outlet_mode == "windkessel" else None
    for k in range(len(bc.outlet_fractions)):
        patch = registry.outlet(k)
        if wks is not None:
            t, p = windkessel_pressure_table(wks[k], bc.waveform, bc.outlet_fractions[k], times)
            specs.append(OutletSpec(patch, "pressure", pressure_table=TimeTable(t, p - bc.mean_pressure)))
        elif bc.outlet_mode == "split" and k != bc.pressure_outlet:
            specs.append(OutletSpec(patch, "flow", flow_table=TimeTable(times, bc.outlet_flow(k, times))))
        else:
            specs.append(OutletSpec(patch, "pressure", pressure=0.0))
    return specs


def check_mesh_dir(mesh_dir: str | Path) -> None:
    """A folder written by ``iahemo mesh``, or one readable line saying what it lacks."""
    mesh_dir = Path(mesh_dir)
    for rel in ("constant/polyMesh/boundary", f"{GEOMETRY}/geometry.json", f"{GEOMETRY}/openings.json"):
        if not (mesh_dir / rel).is_file():
            raise ConfigError(f"{mesh_dir} is not a mesh folder written by 'iahemo mesh' (no {rel})")


def outlet_diameters(mesh_dir: str | Path) -> np.ndarray:
    """Equivalent diameters (m) of outlet_0, outlet_1, ... from the prepared openings."""
    ops = {o["patch"]: o for o in read_openings(mesh_dir)}
    n = sum(1 for p in ops if registry.patch_kind(p) == "outlet")
    return np.array([2e-3 * math.sqrt(ops[registry.outlet(k)]["area_mm2"] / math.pi) for k in range(n)])


def inlet_area(mesh_dir: str | Path) -> float:
    """Inlet area (m²) of the prepared geometry."""
    ops = {o["patch"]: o for o in read_openings(mesh_dir)}
    return ops[registry.INLET]["area_mm2"] * 1e-6


def run_boundary_conditions(mesh_dir: str | Path, case: Case | None = None, **options) -> BoundaryConditions:
    """Boundary conditions of a meshed geometry: from the case's measurements, or population defaults (named in
    the notes) when there is no case file; ``options`` go to :func:`cfdgen.bc.boundary_conditions`."""
    check_mesh_dir(mesh_dir)
    if case is None:
        info = Path(mesh_dir) / GEOMETRY / "geometry.json"
        case = default_case(info, json.loads(info.read_text()).get("case_id", "unnamed"))
    return boundary_conditions(case, inlet_area(mesh_dir), outlet_diameters(mesh_dir), **options)


def _settings_hash(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _control(case_dir: Path, values: dict, end: float, write_interval: float) -> None:
    render_template(
        TEMPLATE,
        case_dir / ".control",
        {**values, "end_time": num(end), "write_interval": num(write_interval)},
    )
    shutil.move(case_dir / ".control" / "system" / "controlDict", case_dir / "system" / "controlDict")
    shutil.rmtree(case_dir / ".control")


def time_dirs(case_dir: Path) -> list[float]:
    out = []
    for d in case_dir.iterdir():
        try:
            out.append(float(d.name))
        except ValueError:
            continue
    return sorted(out)


def _flow_series(case_dir: Path, patch: str) -> tuple[np.ndarray, np.ndarray]:
    """(t, flux) through ``patch`` from the surfaceFieldValue function object (m³/s, outward positive)."""
    rows = []
    for dat in sorted((case_dir / "postProcessing" / f"flowRate_{patch}").glob("*/surfaceFieldValue.dat")):
        for line in dat.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            parts = line.split()
            try:
                rows.append((float(parts[0]), float(parts[1])))
            except (ValueError, IndexError):
                continue
    if not rows:
        return np.zeros(0), np.zeros(0)
    arr = np.array(sorted(dict(rows).items()))
    return arr[:, 0], arr[:, 1]


def _window_mean(t: np.ndarray, y: np.ndarray, start: float) -> float:
    keep = t >= start - 1e-12
    if keep.sum() < 2:
        return float("nan")
    tt, yy = t[keep], y[keep]
    return float(np.trapezoid(yy, tt) / (tt[-1] - tt[0]))


def simulate(
    mesh_dir: str | Path,
    run_dir: str | Path,
    bc: BoundaryConditions,
    solver: SolverConfig = SolverConfig(),
    end_time: float | None = None,
    progress: bool = True,
    extra: dict | None = None,
) -> RunResult:
    """Render, run and check one pimpleFoam case; ``extra`` is merged into run.json (e.g. UQ sample id)."""
    mesh_dir, run_dir = Path(mesh_dir), Path(run_dir)
    check_mesh_dir(mesh_dir)
    mesh_qc = json.loads((mesh_dir / "qc.json").read_text()) if (mesh_dir / "qc.json").is_file() else {}
    openings = {o["patch"]: o for o in read_openings(mesh_dir)}
    period = bc.waveform.period
    end = float(end_time) if end_time is not None else solver.cycles * period
    if end <= 0:
        raise ConfigError(f"end time must be > 0 s (got {end})")
    record_start = max(0.0, end - solver.record_cycles * period)
    # End exactly on a write time: OpenFOAM only writes at multiples of the interval from the stage's start.
    n_writes = max(4, round((end - record_start) / (period / solver.writes_per_cycle)))
    write_interval = (end - record_start) / n_writes
    if record_start <= 0.0:
        # Shorter than the recorded cycles: record all but the initial rest state (t = 0 has no WSS written).
        n_writes = max(3, n_writes - 1)
        record_start = end - n_writes * write_interval

    values = {
        "delta_t": num(solver.initial_delta_t),
        "adjust_time_step": "yes" if solver.adjust_time_step else "no",
        "max_co": num(solver.max_co),
        "max_delta_t": num(solver.max_delta_t),
        "wall_patch": registry.WALL,
        "n_outer": str(solver.n_outer),
        "n_correctors": str(solver.n_correctors),
        "n_nonorth": str(solver.n_nonorth),
        "n_procs": str(solver.n_procs),
        "interpolation": solver.interpolation,
        "decomp_n": decomposition(solver.n_procs),
        "nu": num(bc.nu),
        "p_internal": "0",
        "extra_functions": flow_rate_functions(list(openings)),
    }
    dt_bc = period / solver.inlet_steps_per_cycle
    bc_times = np.arange(0.0, end + 2 * dt_bc, dt_bc)
    outlets = outlet_specs(bc, bc_times)
    values["boundary_U"] = boundary_u(outlets)
    values["boundary_p"] = boundary_p(outlets, bc.density)
    settings = {
        "values": {k: v for k, v in values.items() if not k.startswith("boundary")},
        "bc": bc.to_dict(),
        "end_time": end,
        "mesh": mesh_qc.get("cells"),
    }
    key = _settings_hash(settings)

    partial = run_dir.with_name(run_dir.name + PARTIAL)
    resume = partial.is_dir() and (partial / "settings.hash").is_file()
    resume = resume and (partial / "settings.hash").read_text().strip() == key
    if resume:
        _drop_newest_time(partial)
    if partial.exists() and not resume:
        shutil.rmtree(partial)
    if not resume:
        partial.mkdir(parents=True)
        assemble_case(partial, TEMPLATE, {**values, "end_time": num(end), "write_interval": num(write_interval)},
                      mesh_dir, openings[registry.INLET], bc, bc_times)  # fmt: skip
        if solver.n_procs > 1:
            run_utility(["decomposePar", "-force"], partial, partial / "log.decomposePar")
            for proc in sorted(partial.glob("processor*")):
                # each rank reads the mapped inlet data from its own constant/ folder
                shutil.copytree(partial / "constant" / "boundaryData", proc / "constant" / "boundaryData")
        (partial / "settings.hash").write_text(key + "\n")

    record = run_record(mesh_dir, bc, {"solver": {k: v for k, v in asdict(solver).items() if k != "divergence"}},
                        solver.n_procs, extra)  # fmt: skip
    record |= {"period": period, "record_start": record_start, "end_time": end, "write_interval": write_interval}
    write_json(partial / "run.json", record)

    t0 = time.perf_counter()
    outcome = _run_stages(partial, values, solver, record_start, end, write_interval, progress)
    wall = time.perf_counter() - t0
    if outcome.status == "stopped":
        # Not a property of the case, so no QC saying "failed" that the workflow would keep as the case's result:
        # the folder stays partial (with its settings hash) and the next call resumes it.
        raise RunStopped(f"{outcome.reason}; {partial} is kept and the same command resumes it")
    if solver.n_procs > 1 and outcome.status == "converged":
        run_utility(["reconstructPar"], partial, partial / "log.reconstructPar")
        for proc in partial.glob("processor*"):
            shutil.rmtree(proc)

    t_in, q_in = _flow_series(partial, registry.INLET)
    measured = -_window_mean(t_in, q_in, record_start)  # inflow has negative outward flux
    # OpenFOAM interpolates the mapped data linearly in time: compare with that, on the solver's own steps.
    imposed = np.interp(t_in, bc_times, bc.waveform.flow(bc_times)) if len(t_in) else t_in
    prescribed = _window_mean(t_in, imposed, record_start)
    qc = {
        "status": outcome.status,
        "reason": outcome.reason,
        "simulated_time": outcome.state.time,
        "end_time": end,
        "time_steps": outcome.state.steps,
        "max_courant": outcome.state.courant_max,
        "max_continuity_error": outcome.state.continuity_max,
        "inlet_flow_mean_m3s": measured,
        "inlet_flow_prescribed_m3s": prescribed,
        "inlet_flow_error": (measured - prescribed) / prescribed if prescribed else float("nan"),
        "written_times": [t for t in time_dirs(partial) if t >= record_start - 1e-12],
        "wall_time_s": wall,
        "n_procs": solver.n_procs,
        "mesh": {k: mesh_qc.get(k) for k in ("cells", "level", "checkmesh_ok", "layers_present", "layer_count")},
    }
    record["openfoam_version"] = outcome.state.build or "unknown"
    write_json(partial / "run.json", record)
    write_json(partial / "qc.json", qc)
    (partial / "settings.hash").unlink(missing_ok=True)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    partial.rename(run_dir)
    return RunResult(run_dir, outcome.status, outcome.reason, qc)


def assemble_case(
    case_dir: Path, template: str, values: dict, mesh_dir: Path, inlet: dict, bc: BoundaryConditions, times: np.ndarray
) -> None:
    """A run folder ready to solve: the rendered template, the mesh, the prepared geometry and the mapped inlet
    profile at ``times`` (the inlet's face centres, normalised by their areas)."""
    render_template(template, case_dir, values)
    copy_mesh(mesh_dir, case_dir)
    shutil.copytree(mesh_dir / GEOMETRY, case_dir / GEOMETRY)
    centres, areas = inlet_faces(case_dir)
    vel = inlet_velocity(
        centres,
        np.array(inlet["center_mm"]) * 1e-3,
        np.array(inlet["normal"]),
        None,  # the equivalent radius of the patch's faces
        bc.waveform,
        times,
        bc.nu,
        bc.profile,
        areas_m2=areas,
    )
    write_inlet_boundary_data(case_dir, registry.INLET, centres, vel, times)


def run_record(mesh_dir: Path, bc: BoundaryConditions, settings: dict, n_procs: int, extra: dict | None) -> dict:
    """What run.json says of every run, pulsatile or steady: fluid, mesh, BCs, morphology, provenance."""
    mesh_qc = json.loads((mesh_dir / "qc.json").read_text()) if (mesh_dir / "qc.json").is_file() else {}
    geometry = json.loads((mesh_dir / GEOMETRY / "geometry.json").read_text())
    return {
        "case_id": geometry.get("case_id"),
        "rho": bc.density,
        "mu": bc.viscosity,
        "p_ref": bc.mean_pressure,
        "mesh_level": mesh_qc.get("level"),
        "mesh_cells": mesh_qc.get("cells"),
        "n_procs": n_procs,
        **settings,
        "bc": bc.to_dict(),
        "bc_vector": [float(x) for x in bc.to_vector()],
        "bc_names": list(bc.names()),
        "morphology": _morphology(mesh_dir),
        "code_version": __version__,
        "registry_version": registry.REGISTRY_VERSION,
        "geometry_hash": geometry.get("geometry_hash"),
        **(extra or {}),
    }


def _drop_newest_time(case: Path) -> None:
    """Before resuming an interrupted run: its newest time folder may have been cut off mid-write (and with MPI,
    some ranks may have written it and others not), so every rank restarts from the newest time all of them
    hold except the very newest — one write interval of simulated time, never a corrupt restart."""
    roots = sorted(case.glob("processor*")) or [case]
    common = set.intersection(*(set(time_dirs(r)) for r in roots))
    older = sorted(t for t in common if t > 0)[:-1]
    keep = older[-1] if older else 0.0
    for root in roots:
        for d in root.iterdir():
            try:
                stale = d.is_dir() and float(d.name) > keep
            except ValueError:
                continue
            if stale:
                shutil.rmtree(d)


def _morphology(mesh_dir: Path) -> dict:
    path = mesh_dir / GEOMETRY / "morphology.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {k: data[k] for k in registry.MORPHOLOGY if k in data}


def _run_stages(
    case: Path, values: dict, solver: SolverConfig, record_start: float, end: float, write_interval: float, progress
) -> SolverOutcome:
    bar = tqdm(total=round(end, 6), unit="s", desc="pimpleFoam", disable=not progress, leave=False, mininterval=1.0)

    def tick(t: float) -> None:
        bar.update(max(0.0, round(min(t, end), 6) - bar.n))

    latest = max([t for t in time_dirs(_time_root(case, solver)) if t > 0] or [0.0])
    stages = []
    if record_start > 0 and latest < record_start - 1e-12:
        stages.append((record_start, record_start))  # start-up cycles: one restart point, nothing else
    stages.append((end, write_interval))
    outcome = None
    steps, courant, continuity = 0, 0.0, 0.0
    try:
        for stage_end, interval in stages:
            _control(case, values, stage_end, interval)
            outcome = run_solver("pimpleFoam", case, case / "log.pimpleFoam", solver.n_procs, solver.divergence, tick)
            # the QC speaks for the whole run, not its last stage
            steps += outcome.state.steps
            courant = max(courant, outcome.state.courant_max)
            continuity = max(continuity, outcome.state.continuity_max)
            outcome.state.steps, outcome.state.courant_max, outcome.state.continuity_max = steps, courant, continuity
            if outcome.status != "converged":
                return outcome
    finally:
        bar.close()
    assert outcome is not None
    return outcome


def _time_root(case: Path, solver: SolverConfig) -> Path:
    return case / "processor0" if solver.n_procs > 1 else case
