"""From a lumen surface to a CFD-ready geometry: square ends, morphology and sac mask, flow extensions, caps.

The products go to ``<mesh dir>/geometry/`` and are what the later stages read (simulation: openings and
inlet rim; post-processing: sac mask, neck, centerlines; samples: morphology vector and geometry hash).
A vessel without a saccular bulge (a verification pipe) is prepared too, with an all-zero sac mask.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree

from cfdgen import __version__, registry
from cfdgen.atomic import atomic_dir, write_json
from cfdgen.case import Case
from cfdgen.centerline import RADIUS_ARRAY
from cfdgen.errors import GeometryError, NoAneurysmError
from cfdgen.mesh import MeshConfig, MeshQC, mesh_surface, resolve_level
from cfdgen.morph import MorphConfig, MorphResult, Vessel, measure_vessel, prepare_vessel
from cfdgen.openings import OpeningLoop, cap, find_openings
from cfdgen.surface import boundary_loops, triangles, write_atomic
from cfdgen.vmtk_centerlines import add_flow_extensions, remesh

GEOMETRY = "geometry"  # sub-folder of a mesh (and run) folder holding the prepared geometry


@dataclass(frozen=True)
class PrepareConfig:
    morph: MorphConfig = field(default_factory=MorphConfig)
    # Straight extensions let the imposed inlet profile and outlet conditions settle before the region of
    # interest; 5 radii is a common intracranial choice (the reference gives no value).
    extension_radii: float = 5.0
    # Edge length of the remeshed surface handed to the mesher, in units of the smallest opening radius: fine
    # enough that its chords deviate from the lumen by < 0.3 % of the radius (sagitta h²/8R); gmsh re-parametrises
    # it for every level, so finer input only costs time (vmtk's remeshing takes ~5 s per 10k triangles).
    remesh_edge: float = 0.15
    # Inference (surrogate inputs) samples the surface by area and needs no even triangles: skipping vmtk's
    # remeshing saves most of the preparation time there. Meshing always remeshes.
    remesh: bool = True


@dataclass(frozen=True, eq=False)
class PreparedGeometry:
    vessel: Vessel
    morphology: MorphResult | None  # None when the vessel has no aneurysm
    extended: pv.PolyData  # open surface with flow extensions, point array `sac`
    openings: list[OpeningLoop]  # of the extended surface
    closed: pv.PolyData  # capped, cell array REGION_ID, point array RADIUS_ARRAY for mesh sizing
    geometry_hash: str
    notes: tuple[str, ...]


def file_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _transfer_mask(src: pv.PolyData, mask: np.ndarray, dst: pv.PolyData) -> np.ndarray:
    """Sac mask on ``dst`` (remeshed, with extensions) from the nearest point of ``src``.

    The sac is far from the extensions, so points of the extensions simply find unmasked vessel points.
    """
    _, i = cKDTree(np.asarray(src.points)).query(np.asarray(dst.points))
    return mask[i].astype(np.uint8)


def _nonmanifold_edges(surface: pv.PolyData) -> int:
    tri = triangles(surface)
    edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    return int((np.unique(edges, axis=0, return_counts=True)[1] > 2).sum())


def _remeshed(surface: pv.PolyData, edge: float) -> pv.PolyData:
    """vmtk remeshing at ``edge`` but no coarser than the open rims (kept as they are): a target longer than the
    rim edges made vmtk fold triangles into the rims (non-manifold edges); shorter retries if it still does."""
    pts = np.asarray(surface.points)
    rims = [np.linalg.norm(pts[loop] - pts[np.roll(loop, -1)], axis=1) for loop in boundary_loops(triangles(surface))]
    edge = min(edge, float(np.median(np.concatenate(rims))))
    for _ in range(3):
        out = remesh(surface, edge)
        if _nonmanifold_edges(out) == 0:
            return out
        edge *= 0.7
    raise GeometryError(f"vmtk remeshing keeps folding the surface ({_nonmanifold_edges(out)} non-manifold edges)")


def _radius_at(points: np.ndarray, vessel: Vessel) -> np.ndarray:
    """Local lumen radius (mm) of each point: the inscribed-sphere radius of its nearest centerline point."""
    cl_pts = np.vstack([p.points for p in vessel.centerlines.paths])
    cl_r = np.concatenate([p.radius for p in vessel.centerlines.paths])
    _, i = cKDTree(cl_pts).query(points)
    return cl_r[i]


def prepare_geometry(surface_path: str | Path, case: Case | None = None, cfg: PrepareConfig = PrepareConfig()):
    vessel = prepare_vessel(surface_path, case, cfg.morph)
    notes: list[str] = list(vessel.intake.repairs) + list(vessel.clip_messages)
    try:
        morph = measure_vessel(vessel, case, cfg.morph)
    except NoAneurysmError as exc:
        morph = None
        notes.append(f"no sac: {exc}")
    return _extended(vessel, morph, file_hash(surface_path), tuple(notes), cfg)


def for_meshing(prep: PreparedGeometry, cfg: PrepareConfig = PrepareConfig()) -> PreparedGeometry:
    """``prep`` as meshing needs it (flow extensions remeshed), from one made for inference without remeshing: the
    vessel, its centerlines and morphology are reused, which saves their ~4 s; the result equals
    ``prepare_geometry`` with remeshing on."""
    return _extended(prep.vessel, prep.morphology, prep.geometry_hash, prep.notes, replace(cfg, remesh=True))


def _extended(
    vessel: Vessel, morph: MorphResult | None, geometry_hash: str, notes: tuple[str, ...], cfg: PrepareConfig
):
    if morph is not None:
        mask = morph.detection.point_mask.astype(np.uint8)
    else:
        mask = np.zeros(vessel.surface.n_points, np.uint8)
    extended = add_flow_extensions(vessel.surface, vessel.openings, cfg.extension_radii, vessel.centerlines)
    if cfg.remesh:
        extended = _remeshed(extended, cfg.remesh_edge * min(o.radius for o in vessel.openings))
    extended.point_data[registry.FIELDS["sac"].key] = _transfer_mask(vessel.surface, mask, extended)
    inlet = next(o for o in vessel.openings if o.patch == registry.INLET)
    # The extended inlet sits one extension further out along the old inlet's outward normal.
    hint = inlet.center + inlet.normal * cfg.extension_radii * inlet.radius
    openings = find_openings(extended, inlet_hint=hint)
    if len(openings) != len(vessel.openings):
        raise GeometryError(
            f"flow extensions changed the number of openings ({len(vessel.openings)} → {len(openings)})"
        )
    closed = cap(extended, openings)
    closed.point_data[RADIUS_ARRAY] = _radius_at(np.asarray(closed.points), vessel)
    return PreparedGeometry(vessel, morph, extended, openings, closed, geometry_hash, notes)


def write_geometry(prep: PreparedGeometry, folder: str | Path, case_id: str, source: str) -> Path:
    """``folder/geometry/``: surface.vtp (open, mm, `sac`), centerlines.vtp, openings.json, morphology.json,
    neck.json (when there is a sac) and geometry.json (id, source, hash, notes)."""
    out = Path(folder) / GEOMETRY
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(prep.extended, out / "surface.vtp")
    write_atomic(prep.vessel.centerlines.polydata, out / "centerlines.vtp")
    write_json(
        out / "openings.json",
        [
            {
                "patch": o.patch,
                "center_mm": o.center.tolist(),
                "normal": o.normal.tolist(),  # outward
                "radius_mm": o.radius,
                "area_mm2": o.area,
                "rim_mm": np.asarray(prep.extended.points)[o.point_ids].tolist(),
            }
            for o in prep.openings
        ],
    )
    morph = prep.morphology
    if morph is not None:
        neck = morph.shape["_neck"]
        write_json(
            out / "morphology.json",
            {**morph.values, "units": {k: p.unit for k, p in registry.MORPHOLOGY.items()}, "kind": morph.kind},
        )
        write_json(
            out / "neck.json",
            {
                "neck_centroid": neck.centroid.tolist(),
                "neck_normal": neck.normal.tolist(),
                "neck_radius_mm": morph.values["neck_diameter"] / 2.0,
                "dome_point": np.asarray(morph.shape["_dome_point"]).tolist(),
            },
        )
    write_json(
        out / "geometry.json",
        {
            "case_id": case_id,
            "source": source,
            "geometry_hash": prep.geometry_hash,
            "aneurysm": morph is not None,
            "kind": morph.kind if morph is not None else None,
            "notes": list(prep.notes),
            "code_version": __version__,
        },
    )
    return out


def read_openings(folder: str | Path) -> list[dict]:
    return json.loads((Path(folder) / GEOMETRY / "openings.json").read_text())


def mesh_case(
    surface_path: str | Path,
    out_dir: str | Path,
    level: str = "coarse",
    case: Case | None = None,
    cfg: PrepareConfig = PrepareConfig(),
    mesh_config: MeshConfig | None = None,
    prep: PreparedGeometry | None = None,
) -> tuple[PreparedGeometry, MeshQC]:
    """``iahemo mesh``: the prepared geometry and its volume mesh in one folder, which appears only when whole.
    ``prep``: the surface's geometry already prepared for meshing (``for_meshing``), not prepared again."""
    resolve_level(level)  # an unknown level fails before the geometry work
    prep = prep or prepare_geometry(surface_path, case, cfg)
    case_id = case.id if case is not None else Path(surface_path).stem
    with atomic_dir(out_dir) as tmp:
        write_geometry(prep, tmp, case_id, str(surface_path))
        qc = mesh_surface(prep.closed, tmp / "_mesh", level, radius=RADIUS_ARRAY, config=mesh_config or MeshConfig())
        for item in (tmp / "_mesh").iterdir():
            item.rename(tmp / item.name)
        (tmp / "_mesh").rmdir()
    return prep, qc
