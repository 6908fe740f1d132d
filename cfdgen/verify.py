"""CFD verification against closed forms: steady Poiseuille and pulsatile Womersley flow in a straight pipe,
and the grid convergence index (Roache's GCI) over three mesh levels.

Both pipe checks run the production path end to end (surface → prepare → gmsh → pimpleFoam → wall series):
what they verify is the engine the ground truth comes from, not a separate toy case.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyvista as pv

from cfdgen import reference
from cfdgen.bc import BoundaryConditions, Waveform
from cfdgen.post import read_run, read_wall_series
from cfdgen.prepare import PrepareConfig, mesh_case
from cfdgen.simulate import SolverConfig, simulate
from cfdgen.surface import write_atomic
from cfdgen.womersley import PipeFlow, poiseuille_wss


@dataclass(frozen=True)
class PipeCase:
    """A straight pipe along z, centred at the origin (mm), and the flow through it."""

    radius_mm: float = 2.0
    length_mm: float = 80.0  # ≥ 20 diameters: the middle third is far from both ends
    # m/s: fully developed pipe flow has no convection, so the closed forms hold at any laminar speed; a slow one
    # lets the step be set by the waveform (T/400) instead of the Courant number: ~4× fewer steps on tiny meshes.
    mean_velocity: float = 0.02
    viscosity: float = reference.BLOOD_VISCOSITY
    density: float = reference.BLOOD_DENSITY
    period: float = reference.CARDIAC_PERIOD
    pulsatile: bool = True
    level: str = "tiny"
    segments: int = 64  # around the circumference of the input surface

    @property
    def area_m2(self) -> float:
        return math.pi * (self.radius_mm * 1e-3) ** 2

    def waveform(self) -> Waveform:
        waveform = Waveform(self.mean_velocity * self.area_m2, self.period)
        return waveform if self.pulsatile else waveform.held_constant()

    def boundary_conditions(self) -> BoundaryConditions:
        return BoundaryConditions(
            waveform=self.waveform(),
            outlet_fractions=(1.0,),
            profile="womersley" if self.pulsatile else "parabolic",
            outlet_mode="pressure",
            density=self.density,
            viscosity=self.viscosity,
        )

    def pipe_flow(self) -> PipeFlow:
        w = self.waveform()
        return PipeFlow(self.radius_mm * 1e-3, w.period, w.mean_flow, w.a, w.b, self.viscosity, self.density)


def pipe_surface(case: PipeCase) -> pv.PolyData:
    """Open triangulated cylinder with roughly square triangles."""
    circ = 2 * math.pi * case.radius_mm
    nz = max(8, round(case.length_mm / (circ / case.segments)))
    grid = pv.CylinderStructured(
        radius=case.radius_mm,
        height=case.length_mm,
        direction=(0.0, 0.0, 1.0),
        theta_resolution=case.segments + 1,
        z_resolution=nz + 1,
    )
    return grid.extract_surface(algorithm="dataset_surface").triangulate().clean()


@dataclass(frozen=True)
class PipeRun:
    case: PipeCase
    run_dir: Path
    times: np.ndarray  # written times in the recorded window (s)
    wss: np.ndarray  # (n_t,) mean axial WSS over the middle third, Pa, positive along the flow
    exact: np.ndarray  # (n_t,) closed form at the same times
    area_ratio: float  # meshed lumen's cross-section in the middle third / πR²: the mesh's facets cut the circle
    cells: int
    steps: int
    wall_time_s: float


def mesh_pipe(case: PipeCase, work: str | Path) -> Path:
    """The pipe's surface and mesh folder (``work/mesh``), through the production preparation and meshing."""
    work = Path(work)
    surface = work / "pipe.vtp"
    write_atomic(pipe_surface(case), surface)
    # Short extensions: the inlet profile is already the fully developed one.
    mesh_case(surface, work / "mesh", case.level, cfg=PrepareConfig(extension_radii=1.0))
    return work / "mesh"


def run_pipe(
    case: PipeCase,
    mesh_dir: str | Path,
    run_dir: str | Path,
    cycles: float,
    record_cycles: float = 1.0,
    n_procs=1,
    interpolation: str = SolverConfig.interpolation,
) -> PipeRun:
    """Run the meshed pipe; WSS(t) averaged over the middle third of its length against the closed form."""
    mesh_qc = json.loads((Path(mesh_dir) / "qc.json").read_text())
    bc = case.boundary_conditions()
    # The step is the waveform's (T/400), not the Courant number's: at these slow flows a Courant number of 0.8
    # is only reached in the few small tetrahedra at the top of the prism layers, and PIMPLE stays stable there at
    # 3 (tiny level: ~5× fewer steps; WSS(t) still within 3.3 % relative L2 of the closed form).
    solver = SolverConfig(
        cycles=cycles,
        record_cycles=record_cycles,
        writes_per_cycle=40,
        max_delta_t=case.period / 400,
        max_co=3.0,
        n_procs=n_procs,
        interpolation=interpolation,
    )
    result = simulate(mesh_dir, run_dir, bc, solver, progress=False)
    if result.status != "converged":
        raise RuntimeError(f"verification run {result.status}: {result.reason}")
    run = read_run(result.run_dir)
    series = read_wall_series(result.run_dir, run["record_start"], run["end_time"])
    centres = np.asarray(series.wall.cell_centers().points)
    areas = np.asarray(series.wall.compute_cell_sizes(length=False, volume=False).cell_data["Area"])
    third = case.length_mm * 1e-3 / 6.0
    mid = np.abs(centres[:, 2]) <= third
    axial = series.wss_kinematic[:, mid, 2] * case.density  # Pa
    wss = axial @ areas[mid] / areas[mid].sum()
    wss = wss * np.sign(np.mean(wss))  # OpenFOAM's sign convention is the wall's: compare along the flow
    exact = case.pipe_flow().wall_shear_stress(series.times)
    return PipeRun(
        case,
        result.run_dir,
        series.times,
        wss,
        np.asarray(exact),
        lumen_area_ratio(result.run_dir, case),
        int(mesh_qc["cells"]),
        int(result.qc["time_steps"]),
        float(result.qc["wall_time_s"]),
    )


def lumen_area_ratio(run_dir: Path, case: PipeCase) -> float:
    """Mean cross-section of the meshed lumen over the middle third (cell volumes / length) divided by πR²."""
    from cfdgen.post import FOAM_FILE

    foam = Path(run_dir) / FOAM_FILE
    if not foam.exists():
        foam.write_text("")
    reader = pv.OpenFOAMReader(str(foam))
    reader.set_active_time_value(reader.time_values[0])
    cells = reader.read()["internalMesh"]
    z = np.asarray(cells.cell_centers().points)[:, 2] * 1e3  # m → mm
    volume = np.asarray(cells.compute_cell_sizes(length=False, area=False).cell_data["Volume"]) * 1e9  # mm³
    third = case.length_mm / 6.0
    return float(volume[np.abs(z) <= third].sum() / (2 * third) / (math.pi * case.radius_mm**2))


def poiseuille_error(run: PipeRun) -> float:
    """Relative error of the last recorded WSS against 4μQ/(πR³)."""
    c = run.case
    exact = poiseuille_wss(c.mean_velocity * c.area_m2, c.radius_mm * 1e-3, c.viscosity)
    return float(run.wss[-1] / exact - 1.0)


def womersley_errors(run: PipeRun) -> dict:
    """Relative L2 error of WSS(t) over the recorded cycle and the error of its peak (fractions)."""
    # The first and last written times are the same phase of a recorded full cycle: count it once.
    sim, ref = run.wss[1:], run.exact[1:]
    rel_l2 = float(np.linalg.norm(sim - ref) / np.linalg.norm(ref))
    peak_err = float(sim.max() / ref.max() - 1.0)
    quasi = poiseuille_wss(run.case.pipe_flow().flow(run.times[1:]), run.case.radius_mm * 1e-3, run.case.viscosity)
    # The same flow through the lumen the mesh has (its facets are chords of the circle): what is left is the
    # solver's error, not the geometry's.
    meshed = replace(run.case.pipe_flow(), radius=run.case.radius_mm * 1e-3 * math.sqrt(run.area_ratio))
    ref_m = np.asarray(meshed.wall_shear_stress(run.times[1:]))
    return {
        "womersley_wss_rel_l2": rel_l2,
        "womersley_peak_wss_rel_error": abs(peak_err),
        "womersley_peak_wss_signed_error": peak_err,
        "peak_wss_pa": float(sim.max()),
        "peak_wss_exact_pa": float(ref.max()),
        "peak_wss_quasi_steady_pa": float(quasi.max()),
        "tawss_pa": float(np.mean(np.abs(sim))),
        "tawss_exact_pa": float(np.mean(np.abs(ref))),
        "alpha": run.case.pipe_flow().alpha,
        "meshed_area_ratio": run.area_ratio,
        "womersley_wss_rel_l2_meshed_lumen": float(np.linalg.norm(sim - ref_m) / np.linalg.norm(ref_m)),
        "womersley_peak_wss_rel_error_meshed_lumen": abs(float(sim.max() / ref_m.max() - 1.0)),
    }


def steady_pipe(case: PipeCase | None = None) -> PipeCase:
    """The Poiseuille check: steady flow, a viscosity high enough that the start-up transient (time constant
    R²/(2.405²ν)) dies out within a fraction of a second of simulated time."""
    base = case or PipeCase()
    return replace(base, pulsatile=False, viscosity=0.035, mean_velocity=0.1)


def gci(values: tuple[float, float, float], cells: tuple[int, int, int], safety: float = 1.25) -> dict:
    """Grid convergence index of a quantity on three meshes, fine → coarse (Roache 1994; Celik et al. 2008).

    The representative cell size is (1/N)^(1/3) for the same domain; the observed order p comes from the three
    values, and GCI_fine = Fs·|(f2 − f1)/f1| / (r21^p − 1).
    """
    f1, f2, f3 = (float(v) for v in values)
    h1, h2, h3 = (float(n) ** (-1.0 / 3.0) for n in cells)
    if not h1 < h2 < h3:
        raise ValueError("cells must be given fine → coarse (strictly decreasing counts)")
    r21, r32 = h2 / h1, h3 / h2
    e21, e32 = f2 - f1, f3 - f2
    if e21 == 0 or e32 == 0 or e32 / e21 <= 0:
        # Oscillatory or exactly converged: no observed order; report the plain relative change.
        return {"order": float("nan"), "gci_fine": float(abs(e21 / f1)) * safety, "monotone": False, "values": values}
    # Fixed-point iteration for p with unequal refinement ratios (Celik et al. 2008, eq. 3).
    s = math.copysign(1.0, e32 / e21)
    p = abs(math.log(abs(e32 / e21))) / math.log(r21)
    for _ in range(50):
        q = math.log((r21**p - s) / (r32**p - s))
        p = abs(math.log(abs(e32 / e21)) + q) / math.log(r21)
    extrapolated = (r21**p * f1 - f2) / (r21**p - 1.0)
    return {
        "order": p,
        "gci_fine": safety * abs(e21 / f1) / (r21**p - 1.0),
        "extrapolated": extrapolated,
        "monotone": True,
        "values": values,
    }


def gci_of_runs(run_dirs: tuple, quantity: str = "tawss_mean", region: str = "sac") -> dict:
    """GCI of a quantity of ``post/summary.json`` (``region``: ``sac``, or ``wall`` for a case without a sac) over
    three post-processed runs of one case on three mesh levels, given in any order (sorted fine → coarse by cell
    count)."""
    rows = []
    for d in run_dirs:
        d = Path(d)
        if not (d / "post" / "summary.json").is_file() or not (d / "run.json").is_file():
            raise ValueError(f"{d}: no run.json or post/summary.json (a post-processed run folder is needed)")
        summary = json.loads((d / "post" / "summary.json").read_text())
        cells = json.loads((d / "run.json").read_text()).get("mesh_cells")
        values = summary.get(region) or {}
        if quantity not in values or values[quantity]["value"] is None or not cells:
            raise ValueError(f"{d}: no {region} {quantity} or mesh cell count (post-process the run first)")
        rows.append((int(cells), float(values[quantity]["value"]), str(d)))
    rows.sort(key=lambda r: -r[0])
    out = gci(tuple(r[1] for r in rows), tuple(r[0] for r in rows))
    return {"quantity": f"{region} {quantity}", "runs": [r[2] for r in rows], "cells": [r[0] for r in rows], **out}
