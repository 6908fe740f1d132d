"""Post-processing of a finished CFD run folder: wall indices, wall VTP, summary, maps, point-cloud sample.

Run folder contract (written by the simulation stage): a reconstructed OpenFOAM case in metres with patches
``inlet``, ``outlet_k`` and ``wall``; time directories with kinematic ``p`` and ``wallShearStress``;
``run.json`` (rho, mu, p_ref, period, record_start, end_time, bc, morphology, provenance), ``qc.json``
(status) and ``geometry/`` (surface.vtp with the sac mask in mm, optional centerlines.vtp, neck.json).

Reading: PyVista's ``OpenFOAMReader`` on an empty ``iahemo.foam`` placed in the case, with the internal mesh
off and only the boundary patches and the two fields on, so each time costs one patch-field parse (the mesh
is cached by VTK). It needs reconstructed cases (OPENFOAM_NOTES.md); it returns float32 points, which is
ample at these scales. Patches whose boundary entry has no ``value`` (zeroGradient) get their adjacent cells'
values from VTK, which is what we want for the inlet pressure.

Units and signs: OpenFOAM's ``wallShearStress`` is kinematic and is the stress the *wall exerts on the fluid*
(it points against the near-wall flow). We use τ = −ρ·wallShearStress, tangential part only: the shear the
blood exerts on the wall, pointing along the near-wall flow like the low-fidelity estimate (``lofi``).
Pressure is ρ·p + p_ref. Everything written is in mm (geometry) and the registry's units (fields).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree

from cfdgen import registry
from cfdgen.atomic import write_json, write_text
from cfdgen.bc import BoundaryConditions
from cfdgen.errors import IahemoError
from cfdgen.lofi import LOFI_MODEL
from cfdgen.pointcloud import SampleInputs, morphology_vector, sample_wall, write_sample
from cfdgen.surface import write_atomic
from cfdgen.wall_indices import (
    MIN_SHEAR,
    ParentConfig,
    face_areas_normals,
    sac_summary,
    tangential,
    wall_indices,
    wssg,
)
from cfdgen.wall_inputs import MeanFlow, lofi_fields

F = registry.FIELDS
FOAM_WSS = "wallShearStress"  # OpenFOAM function-object field name (not a registry field: kinematic, sign flipped)
FOAM_P = "p"
FOAM_U = "U"
FOAM_FILE = "iahemo.foam"
M_TO_MM = 1000.0
# Keys of run.json "bc" that may carry the mean inlet flow (m³/s) and the outlet split exponent; without them the
# low-fidelity model uses the run's own mean inlet flux (the prescribed inflow) and the square law.
DEFAULT_SPLIT_EXPONENT = 2.0
# Fields written to wall.vtp (cell and point data); the instantaneous ``wss``/``pressure`` series stay in the case.
WALL_KEYS = ("tawss", "osi", "rrt", "ecap", "twssg", "wssg", "tap", "ntawss", "wss_mean", "sac")


@dataclass(frozen=True)
class PostConfig:
    parent: ParentConfig = field(default_factory=ParentConfig)  # parent region (neck radii) and LSA threshold
    min_shear: float = MIN_SHEAR  # Pa, floor of the RRT/ECAP denominators
    figure: bool = True  # write tawss_osi.png


@dataclass(frozen=True, eq=False)
class PostResult:
    wall: pv.PolyData  # mm, registry fields as cell and point data
    summary: dict[str, Any]
    out_dir: Path
    openings: dict[str, tuple[np.ndarray, float]]  # patch → (centroid mm, area mm²)
    inlet_flow: float  # m³/s, time-averaged over the window


@dataclass(frozen=True, eq=False)
class WallSeries:
    """What the indices need from the case, in SI (metres) as read."""

    times: np.ndarray  # (n_t,)
    wall: pv.PolyData  # wall patch, metres, geometry only
    wss_kinematic: np.ndarray  # (n_t, n_faces, 3) OpenFOAM's wallShearStress values, m²/s²
    p_kinematic: np.ndarray  # (n_t, n_faces) m²/s²
    patch_p: dict[str, np.ndarray]  # inlet/outlet_k → (n_t,) area-mean kinematic pressure
    inlet_flux: np.ndarray  # (n_t,) m³/s into the domain
    openings: dict[str, tuple[np.ndarray, float]]  # patch → (centroid m, area m²)


# ---------------------------------------------------------------- run folder


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise IahemoError(f"{path.parent}: no {path.name} ({what}); the run is not finished")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise IahemoError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def require_converged(rundir: str | Path) -> dict:
    """The QC record of a converged run; anything else is refused (a failed run never produces a sample)."""
    qc = _read_json(Path(rundir) / "qc.json", "QC record")
    status = qc.get("status")
    if status != "converged":
        reason = qc.get("reason") or "no reason recorded"
        raise IahemoError(f"{rundir}: run status is {status!r} ({reason}); only converged runs are post-processed")
    return qc


def read_run(rundir: str | Path) -> dict:
    run = _read_json(Path(rundir) / "run.json", "run record")
    missing = [k for k in ("rho", "record_start", "end_time") if run.get(k) is None]
    if missing:
        raise IahemoError(f"{rundir}/run.json lacks {', '.join(missing)}")
    return run


def _kind(patch: str) -> str | None:
    """Registry kind of a patch; None for patches outside the contract (e.g. 2D ``empty`` sides), left unread."""
    try:
        return registry.patch_kind(patch)
    except ValueError:
        return None


def _patch_mean(block: pv.PolyData, name: str) -> float:
    area = np.asarray(block.compute_cell_sizes(length=False, volume=False).cell_data["Area"])
    return float(np.sum(np.asarray(block.cell_data[name]) * area) / area.sum())


def read_wall_series(rundir: str | Path, start: float, end: float, min_times: int = 2) -> WallSeries:
    """Wall WSS and pressure (kinematic) and patch pressures/flux at every written time in [start, end]."""
    rundir = Path(rundir)
    if not (rundir / "constant" / "polyMesh").is_dir():
        raise IahemoError(f"{rundir}: no constant/polyMesh (not a reconstructed OpenFOAM case)")
    foam = rundir / FOAM_FILE
    if not foam.exists():
        write_text(foam, "")
    reader = pv.OpenFOAMReader(str(foam))
    tol = 1e-9 + 1e-6 * abs(end)
    times = [t for t in reader.time_values if start - tol <= t <= end + tol]
    if len(times) < min_times:
        raise IahemoError(
            f"{rundir}: {len(times)} written time(s) in the recorded window [{start:g}, {end:g}] s; "
            f"need at least {min_times}"
        )
    patches = [n.split("/", 1)[1] for n in reader.patch_array_names if n.startswith("patch/")]
    if registry.WALL not in patches:
        raise IahemoError(f"{rundir}: no {registry.WALL!r} patch (patches: {', '.join(patches)})")
    openings = [p for p in patches if _kind(p) in ("inlet", "outlet")]
    reader.disable_all_patch_arrays()
    for p in [registry.WALL, *openings]:
        reader.enable_patch_array(f"patch/{p}")
    reader.disable_all_cell_arrays()
    for name in (FOAM_WSS, FOAM_P, FOAM_U):
        if name not in reader.cell_array_names:
            raise IahemoError(f"{rundir}: field {name!r} was not written (function object missing?)")
        reader.enable_cell_array(name)
    reader.cell_to_point_creation = False

    wall_geom, wss, p, patch_p, flux, geo = None, [], [], {o: [] for o in openings}, [], {}
    for t in times:
        reader.set_active_time_value(t)
        blocks = reader.read()["boundary"]
        wall = blocks[registry.WALL]
        if FOAM_WSS not in wall.cell_data:
            raise IahemoError(f"{rundir}: no {FOAM_WSS} at t = {t:g}")
        if wall_geom is None:
            wall_geom = pv.PolyData(np.asarray(wall.points, dtype=np.float64), np.asarray(wall.faces))
            for o in openings:
                b = blocks[o]
                area = np.asarray(b.compute_cell_sizes(length=False, volume=False).cell_data["Area"])
                geo[o] = (np.asarray(b.cell_centers().points, dtype=np.float64).T @ area / area.sum(), area.sum())
        wss.append(np.asarray(wall.cell_data[FOAM_WSS], dtype=np.float64))
        p.append(np.asarray(wall.cell_data[FOAM_P], dtype=np.float64))
        for o in openings:
            patch_p[o].append(_patch_mean(blocks[o], FOAM_P))
        if registry.INLET in openings:
            b = blocks[registry.INLET]
            normals = b.compute_normals(cell_normals=True, point_normals=False, auto_orient_normals=False)
            area = np.asarray(b.compute_cell_sizes(length=False, volume=False).cell_data["Area"])
            un = np.sum(np.asarray(b.cell_data[FOAM_U]) * np.asarray(normals.cell_data["Normals"]), axis=1)
            flux.append(abs(float(np.sum(un * area))))  # mean inflow: the sign of VTK's face winding does not matter
    return WallSeries(
        np.asarray(times, dtype=np.float64),
        wall_geom,
        np.stack(wss),
        np.stack(p),
        {o: np.asarray(v) for o, v in patch_p.items()},
        np.asarray(flux) if flux else np.zeros(len(times)),
        geo,
    )


def held_steady(series: WallSeries) -> WallSeries:
    """A steady state is its own time average: its one snapshot held over a unit window (TAWSS = |τ|, OSI = 0,
    TAP = p, TWSSG = 0), so the pulsatile indices apply unchanged."""
    if len(series.times) != 1:
        raise IahemoError(f"a steady run writes one state; found {len(series.times)}")
    twice = lambda a: np.concatenate([a, a])  # noqa: E731
    return replace(
        series,
        times=np.array([0.0, 1.0]),
        wss_kinematic=twice(series.wss_kinematic),
        p_kinematic=twice(series.p_kinematic),
        patch_p={k: twice(v) for k, v in series.patch_p.items()},
        inlet_flux=twice(series.inlet_flux),
    )


def _sac_transfer(rundir: Path, wall_mm: pv.PolyData) -> tuple[np.ndarray, np.ndarray, dict]:
    """Sac mask of the prepared surface (mm) on the wall points and faces, by nearest surface point."""
    path = rundir / "geometry" / "surface.vtp"
    if not path.is_file():
        raise IahemoError(f"{rundir}: no geometry/surface.vtp (needed for the sac mask)")
    surface = pv.read(path)
    key = F["sac"].key
    values = np.asarray(surface.point_data[key], dtype=np.float64) if key in surface.point_data else None
    tree = cKDTree(np.asarray(surface.points, dtype=np.float64))
    d_pts, i_pts = tree.query(np.asarray(wall_mm.points))
    _, i_faces = tree.query(np.asarray(wall_mm.cell_centers().points))
    diag = float(np.linalg.norm(np.ptp(np.asarray(wall_mm.points), axis=0)))
    if np.median(d_pts) > 0.1 * diag:
        raise IahemoError(
            f"{path}: the surface lies {np.median(d_pts):.3g} mm from the CFD wall (median); wrong units or geometry?"
        )
    stats = {"median_distance_mm": float(np.median(d_pts)), "max_distance_mm": float(d_pts.max())}
    if values is None:
        return np.zeros(wall_mm.n_points), np.zeros(wall_mm.n_cells), stats
    return (values[i_pts] >= 0.5).astype(float), (values[i_faces] >= 0.5).astype(float), stats


def _neck(rundir: Path) -> tuple[np.ndarray | None, float | None]:
    path = rundir / "geometry" / "neck.json"
    if not path.is_file():
        return None, None
    neck = _read_json(path, "neck")
    return np.asarray(neck["neck_centroid"], dtype=np.float64), float(neck["neck_radius_mm"])


def _q(value: float, unit: str) -> dict:
    v = float(value)
    return {"value": None if math.isnan(v) else v, "unit": unit}


# ---------------------------------------------------------------- post-processing


def postprocess(rundir: str | Path, out_dir: str | Path | None = None, config: PostConfig = PostConfig()) -> PostResult:
    """Wall indices of a converged run → ``out_dir`` (default RUNDIR/post): wall.vtp, summary.json, tawss_osi.png."""
    rundir = Path(rundir)
    require_converged(rundir)
    run = read_run(rundir)
    out = Path(out_dir) if out_dir is not None else rundir / "post"
    rho, p_ref = float(run["rho"]), float(run.get("p_ref") or 0.0)
    period = run.get("period")
    started = time.perf_counter()
    series = read_wall_series(rundir, float(run["record_start"]), float(run["end_time"]), 1 if run.get("steady") else 2)
    if run.get("steady"):
        series = held_steady(series)
    read_s = time.perf_counter() - started

    wall_m = series.wall
    area_m2, normals = face_areas_normals(np.asarray(wall_m.points), np.asarray(wall_m.faces))
    tau = tangential(-rho * series.wss_kinematic, normals[None])
    pressure = rho * series.p_kinematic + p_ref
    idx = wall_indices(tau, series.times, period, pressure, config.min_shear)

    wall = pv.PolyData(np.asarray(wall_m.points) * M_TO_MM, np.asarray(wall_m.faces))
    sac_pts, sac_faces, transfer = _sac_transfer(rundir, wall)
    area_mm2 = area_m2 * M_TO_MM**2
    centers = np.asarray(wall.cell_centers().points)
    neck_c, neck_r = _neck(rundir)
    ntawss, sac = sac_summary(idx.tawss, idx.osi, area_mm2, centers, sac_faces, neck_c, neck_r, config.parent)

    cells = {"tawss": idx.tawss, "osi": idx.osi, "rrt": idx.rrt, "ecap": idx.ecap, "twssg": idx.twssg}
    cells |= {"tap": idx.tap, "ntawss": ntawss, "wss_mean": idx.wss_mean}
    for k, v in cells.items():
        wall.cell_data[F[k].key] = v
    wall = wall.cell_data_to_point_data(pass_cell_data=True)
    # WSSG from the point-interpolated mean WSS on the metre geometry → Pa/m; then averaged to points like the rest
    wall.cell_data[F["wssg"].key] = wssg(
        np.asarray(wall_m.points), np.asarray(wall_m.faces), wall.point_data[F["wss_mean"].key]
    )
    wall.point_data[F["wssg"].key] = wall.cell_data_to_point_data().point_data[F["wssg"].key]
    wall.cell_data[F["sac"].key] = sac_faces
    wall.point_data[F["sac"].key] = sac_pts  # nearest-point mask, not averaged, so it stays 0/1

    out.mkdir(parents=True, exist_ok=True)
    write_atomic(wall, out / "wall.vtp")
    in_p = series.patch_p.get(registry.INLET)
    drops = {}
    if in_p is not None:
        for name, p_out in sorted(series.patch_p.items()):
            if registry.patch_kind(name) == "outlet":
                drops[name] = _q(rho * float(np.dot(idx.rule.weights, in_p - p_out)) / idx.rule.duration, "Pa")
    inlet_flow = float(np.dot(idx.rule.weights, series.inlet_flux) / idx.rule.duration)
    has_sac = bool(sac_faces.any())
    summary: dict[str, Any] = {
        "case_id": run.get("case_id"),
        "registry_version": registry.REGISTRY_VERSION,
        "window": {
            "start_s": float(series.times[0]),
            "end_s": float(series.times[-1]),
            "n_times": len(series.times),
            "duration_s": idx.rule.duration,
            "period_s": period,
            "rule": idx.rule.name,
        },
        "wall": {
            "n_faces": wall.n_cells,
            "area": _q(area_mm2.sum(), "mm^2"),
            "tawss_mean": _q(np.dot(idx.tawss, area_mm2) / area_mm2.sum(), F["tawss"].unit),
            "osi_mean": _q(np.dot(idx.osi, area_mm2) / area_mm2.sum(), F["osi"].unit),
            "tawss_max": _q(idx.tawss.max(), F["tawss"].unit),
        },
        "parent": {
            "region": sac.parent_region,
            "area": _q(sac.parent_area, "mm^2"),
            "tawss_mean": _q(sac.parent_tawss, F["tawss"].unit),
        },
        "sac": None
        if not has_sac
        else {
            "area": _q(sac.sac_area, "mm^2"),
            "tawss_mean": _q(sac.sac_tawss, F["tawss"].unit),
            "ntawss_mean": _q(sac.sac_ntawss, F["ntawss"].unit),
            "osi_mean": _q(sac.sac_osi_mean, F["osi"].unit),
            "osi_max": _q(sac.sac_osi_max, F["osi"].unit),
            "lsa": _q(sac.lsa, "1"),
            "lsa_threshold": _q(sac.lsa_threshold, F["tawss"].unit),
            "lsa_fraction": config.parent.lsa_fraction,
        },
        "pressure_drop": drops,
        "inlet_flow": _q(inlet_flow, "m^3/s"),
        "sac_transfer": transfer,
        "fields": {F[k].key: F[k].unit for k in WALL_KEYS},
        "conventions": "tau = -rho * wallShearStress (shear of the blood on the wall), tangential; p = rho*p + p_ref",
        "timing_s": {"read": round(read_s, 3), "total": None},
    }
    if config.figure:
        try:
            tawss_osi_figure(wall, out / "tawss_osi.png", title=str(run.get("case_id", rundir.name)))
            summary["figure"] = "tawss_osi.png"
        except Exception as exc:  # a missing OpenGL context must not lose the numbers
            summary["figure"] = None
            summary["figure_error"] = f"{type(exc).__name__}: {exc}"
    summary["timing_s"]["total"] = round(time.perf_counter() - started, 3)
    write_json(out / "summary.json", summary)
    openings = {k: (c * M_TO_MM, a * M_TO_MM**2) for k, (c, a) in series.openings.items()}
    return PostResult(wall, summary, out, openings, inlet_flow)


def tawss_osi_figure(wall: pv.PolyData, path: Path, title: str = "") -> Path:
    """TAWSS (log colour scale, left) and OSI (right) in three views (rows): both sides along the wall's thinnest
    principal axis and one side-on view; the sac outline is drawn in white when there is one."""
    from cfdgen.atomic import atomic_path

    pts = np.asarray(wall.points)
    centre = pts.mean(axis=0)
    axes = np.linalg.eigh(np.cov((pts - centre).T))[1]  # columns: least → largest extent
    # the longest axis runs across each panel; both sides along the thinnest axis, then side-on
    views = [(axes[:, 0], axes[:, 1]), (-axes[:, 0], axes[:, 1]), (axes[:, 1], axes[:, 0])]
    tawss = np.asarray(wall.point_data[F["tawss"].key])
    positive = tawss[tawss > 0]
    lo = float(np.percentile(positive, 1)) if len(positive) else 1e-3
    hi = float(np.percentile(positive, 99.5)) if len(positive) else 1.0
    lo, hi = max(lo, 1e-4), max(hi, lo * 10)
    mesh = wall.copy()
    mesh.point_data["_tawss"] = np.clip(tawss, lo, hi)
    sac = F["sac"].key
    outline = mesh.contour([0.5], scalars=sac) if np.ptp(np.asarray(mesh.point_data[sac])) > 0 else None
    plotter = pv.Plotter(off_screen=True, shape=(3, 2), window_size=(1400, 1200), border=False)
    columns = [
        ("_tawss", f"{F['tawss'].label} [{F['tawss'].unit}]", "viridis", True, (lo, hi)),
        (F["osi"].key, f"{F['osi'].label} [{F['osi'].unit}]", "magma", False, (0.0, 0.5)),
    ]
    for j, (key, label, cmap, log, clim) in enumerate(columns):
        for i, (direction, up) in enumerate(views):
            plotter.subplot(i, j)
            plotter.add_mesh(
                mesh.copy(),
                scalars=key,
                cmap=cmap,
                log_scale=log,
                clim=clim,
                show_scalar_bar=i == 0,
                scalar_bar_args={
                    "title": label,
                    "vertical": False,
                    "fmt": "%.3g",
                    "position_x": 0.2,
                    "position_y": 0.02,
                    "width": 0.6,
                    "height": 0.1,
                    "title_font_size": 14,
                    "label_font_size": 12,
                },
            )
            if outline is not None and outline.n_points:
                plotter.add_mesh(outline, color="white", line_width=2)
            plotter.view_vector(direction, viewup=up)
            plotter.reset_camera()
            if i == 0:
                plotter.add_text(f"{title}  {label}" + ("  (log scale)" if log else ""), font_size=9)
    with atomic_path(path) as tmp:
        plotter.screenshot(str(tmp))
    plotter.close()
    return Path(path)


# ---------------------------------------------------------------- low-fidelity input and samples


def sample_run(rundir: str | Path, out_dir: str | Path, n_points: int = 16384, seed: int = 0) -> Path:
    """Post-process a converged run and write its point-cloud sample ``out_dir/sample.h5``."""
    rundir = Path(rundir)
    require_converged(rundir)  # before any work: a failed run never produces a sample
    run = read_run(rundir)
    post = postprocess(rundir)
    started = time.perf_counter()
    cloud = sample_wall(post.wall, n_points, seed)
    sample_s = time.perf_counter() - started

    bc = run.get("bc") or {}
    if bc:
        flow, q_source = MeanFlow.of(BoundaryConditions.from_dict(bc)), "bc"
    else:  # a run folder made by hand: the measured inflow and the square law
        flow = MeanFlow(post.inlet_flow, DEFAULT_SPLIT_EXPONENT, float(run["mu"]), float(run["rho"]))
        q_source = "run inlet flux"
    lofi, cl_source = lofi_fields(cloud, rundir / "geometry", post.openings, flow)
    cloud = type(cloud)(cloud.points, cloud.normals, cloud.sac, {**cloud.fields, **lofi})

    morph, morph_names = morphology_vector(run.get("morphology") or {})
    bc_names = list(run.get("bc_names") or bc.keys())
    bc_vector = run.get("bc_vector")
    bc_vector = np.asarray(bc_vector if bc_vector is not None else [bc[k] for k in bc_names], dtype=np.float64)
    if len(bc_vector) != len(bc_names):
        raise IahemoError(f"{rundir}/run.json: bc_vector has {len(bc_vector)} values for {len(bc_names)} names")
    provenance = {
        "case_id": run.get("case_id"),
        "geometry_hash": run.get("geometry_hash"),
        "bc_sample": bc,
        "mesh_level": run.get("mesh_level"),
        "openfoam_version": run.get("openfoam_version"),
        "code_version": run.get("code_version"),
        "run_dir": str(rundir),
        "seed": seed,
        "window": post.summary["window"],
        "lofi_flow_source": q_source,
        "lofi_flow_m3s": flow.q,
        "lofi_split_exponent": flow.split_exponent,
        "lofi_model": LOFI_MODEL,
        "lofi_centerlines": cl_source,
        "sampling_s": round(sample_s, 3),
    }
    path = Path(out_dir) / "sample.h5"
    write_sample(path, cloud, SampleInputs(morph, morph_names, bc_vector, bc_names), provenance)
    return path
