"""What the hemodynamics surrogate sees of a geometry before any CFD: the wall point cloud with normals and sac
mask, the low-fidelity WSS (channel 3), and the morphology and boundary-condition vectors (channel 2).

The CFD sample (:func:`cfdgen.post.sample_run`) and inference (:func:`surface_inputs`) compute the low-fidelity
fields with the same function, from the same prepared geometry (flow extensions included), so the network meets
at inference exactly the inputs it was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyvista as pv

from cfdgen import registry
from cfdgen.bc import BoundaryConditions, boundary_conditions
from cfdgen.case import Case, default_case
from cfdgen.centerline import RADIUS_ARRAY, Centerline
from cfdgen.lofi import CenterlineFlow, branch_flows, lofi_wss, outlet_fractions
from cfdgen.pointcloud import PointCloud, SampleInputs, morphology_vector, sample_wall
from cfdgen.wall_context import wall_context

if TYPE_CHECKING:  # at run time prepare is imported where it is used (surface_inputs)
    from cfdgen.prepare import PreparedGeometry

F = registry.FIELDS
Openings = dict[str, tuple[np.ndarray, float]]  # patch → (centroid mm, area mm²)


def centerline_paths(geometry_dir: Path, openings: Openings) -> tuple[list, list[str], str]:
    """One inlet → outlet path per outlet (mm) and its outlet patch; vmtk's centerlines when the folder has them,
    else straight lines between the opening centroids with linearly varying equivalent radius (crude, but
    exact for a straight tube)."""
    from cfdgen.vmtk_centerlines import build_path, line_ids

    inlet_c, inlet_a = openings[registry.INLET]
    outlets = sorted((k for k in openings if registry.patch_kind(k) == "outlet"), key=registry.outlet_index)
    path = Path(geometry_dir) / "centerlines.vtp"
    if path.is_file():
        poly = pv.read(path)
        if RADIUS_ARRAY in poly.point_data and poly.n_lines:
            pts = np.asarray(poly.points, dtype=np.float64)
            radius = np.asarray(poly.point_data[RADIUS_ARRAY], dtype=np.float64)
            paths, names = [], []
            for cell in line_ids(poly):
                p = build_path(pts[cell], radius[cell], inlet_c, "path")
                end = p.points[-1]
                names.append(min(outlets, key=lambda o: np.linalg.norm(openings[o][0] - end)))
                paths.append(p)
            return paths, names, "centerlines.vtp"
    paths = []
    r_in = math.sqrt(inlet_a / math.pi)
    for o in outlets:
        c, a = openings[o]
        s = np.linspace(0.0, 1.0, 64)[:, None]
        direction = (c - inlet_c) / np.linalg.norm(c - inlet_c)
        r = (1 - s[:, 0]) * r_in + s[:, 0] * math.sqrt(a / math.pi)
        zeros = np.zeros(len(s))
        paths.append(Centerline(inlet_c + s * (c - inlet_c), r, np.tile(direction, (len(s), 1)), zeros, zeros, o))
    return paths, outlets, "straight inlet-outlet lines (no centerlines.vtp)"


@dataclass(frozen=True)
class MeanFlow:
    """What the low-fidelity model needs of the boundary conditions."""

    q: float  # mean inflow, m³/s
    split_exponent: float  # outlet split law: 2 square law .. 3 Murray
    viscosity: float  # Pa·s
    density: float  # kg/m³

    @classmethod
    def of(cls, bc: BoundaryConditions) -> MeanFlow:
        return cls(bc.waveform.mean_flow, bc.split_exponent, bc.viscosity, bc.density)


def centerline_flow(geometry_dir: Path, openings: Openings, flow: MeanFlow) -> tuple[CenterlineFlow, str]:
    """The centerline points with radius, tangent, curvature and branch flow, and where the centerlines came from."""
    paths, outlet_names, source = centerline_paths(geometry_dir, openings)
    radii = [math.sqrt(openings[o][1] / math.pi) for o in outlet_names]
    fractions = outlet_fractions(radii, flow.split_exponent)
    if len(set(outlet_names)) < len(outlet_names):  # two paths to one outlet: share it, keep the total
        counts = {o: outlet_names.count(o) for o in outlet_names}
        fractions = fractions / np.array([counts[o] for o in outlet_names])
        fractions = fractions / fractions.sum()
    return branch_flows(paths, fractions, flow.q), source


def lofi_fields(
    cloud: PointCloud, geometry_dir: Path, openings: Openings, flow: MeanFlow, context: bool = True
) -> tuple[dict[str, np.ndarray], str]:
    """Registry fields ``wss_lofi``, ``tube_deviation`` and (with ``context``) ``wall_context`` at the cloud's
    points, and where the centerlines came from. The context does not depend on the flow: a caller that varies
    only the BCs computes it once."""
    branches, source = centerline_flow(geometry_dir, openings, flow)
    lofi = lofi_wss(cloud.points, cloud.normals, branches, flow.viscosity, flow.density)
    fields = {F["wss_lofi"].key: lofi.wss, F["tube_deviation"].key: lofi.tube_deviation}
    if context:
        fields[F["wall_context"].key] = context_field(cloud, geometry_dir, openings)
    return fields, source


def context_field(cloud: PointCloud, geometry_dir: Path, openings: Openings) -> np.ndarray:
    """Registry field ``wall_context`` (cfdgen.wall_context) at the cloud's points: geometry only, no BCs."""
    paths, _, _ = centerline_paths(geometry_dir, openings)
    return wall_context(cloud.points, cloud.sac, paths)


def read_openings_mm(geometry_dir: Path) -> Openings:
    import json

    items = json.loads((Path(geometry_dir) / "openings.json").read_text())
    return {o["patch"]: (np.asarray(o["center_mm"], dtype=np.float64), float(o["area_mm2"])) for o in items}


@dataclass(frozen=True, eq=False)
class WallInputs:
    """A geometry as the surrogate receives it (no CFD fields)."""

    cloud: PointCloud  # mm; fields: wss_lofi, tube_deviation
    inputs: SampleInputs  # morphology and BC vectors with their names
    bc: BoundaryConditions
    morphology: dict[str, float]
    notes: tuple[str, ...]  # defaults used, geometry remarks
    geometry_dir: Path
    prep: PreparedGeometry | None = None  # without remeshing; a steady channel 3 meshes from it (for_meshing)


def _outward(cloud: PointCloud, geometry_dir: Path, openings: Openings) -> PointCloud:
    """Normals pointing out of the lumen, like an OpenFOAM wall patch's (the open surface's winding is arbitrary):
    most normals must point away from the nearest centerline point."""
    paths, _, _ = centerline_paths(geometry_dir, openings)
    from scipy.spatial import cKDTree

    axis = np.concatenate([p.points for p in paths])
    _, idx = cKDTree(axis).query(cloud.points)
    if np.einsum("ij,ij->i", cloud.normals, cloud.points - axis[idx]).mean() >= 0:
        return cloud
    return PointCloud(cloud.points, -cloud.normals, cloud.sac, cloud.fields)


def surface_inputs(
    surface: str | Path, case: Case | None, out_dir: str | Path, n_points: int = 16384, seed: int = 0, prep=None
) -> WallInputs:
    """Prepare a lumen surface as for meshing (openings, flow extensions, centerlines, sac mask), write its
    ``out_dir/geometry/`` and compute the surrogate's inputs with the case's measured (or default) BCs."""
    from cfdgen.prepare import GEOMETRY, PrepareConfig, prepare_geometry, write_geometry
    from cfdgen.simulate import inlet_area, outlet_diameters

    prep = prep or prepare_geometry(surface, case, PrepareConfig(remesh=False))
    case_id = case.id if case is not None else Path(surface).stem
    write_geometry(prep, out_dir, case_id, str(surface))
    geometry_dir = Path(out_dir) / GEOMETRY
    if case is None:
        case = default_case(geometry_dir / "geometry.json", case_id)
    bc = boundary_conditions(case, inlet_area(out_dir), outlet_diameters(out_dir))
    wall = prep.extended
    cloud = sample_wall(wall, n_points, seed)
    openings = read_openings_mm(geometry_dir)
    cloud = _outward(cloud, geometry_dir, openings)
    lofi, source = lofi_fields(cloud, geometry_dir, openings, MeanFlow.of(bc))
    cloud = PointCloud(cloud.points, cloud.normals, cloud.sac, lofi)
    values = {} if prep.morphology is None else prep.morphology.values
    morph = {k: float(values[k]) for k in registry.MORPHOLOGY if k in values}
    m_vec, m_names = morphology_vector(morph)
    inputs = SampleInputs(m_vec, m_names, bc.to_vector(), list(bc.names()))
    notes = (*prep.notes, *bc.notes, f"low-fidelity WSS along {source}")
    return WallInputs(cloud, inputs, bc, morph, notes, geometry_dir, prep)
