"""From an anatomy to files' content: the lumen surface (marching cubes, cut open ends) and exact morphology."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree

from cfdgen import registry
from cfdgen.errors import GeometryError
from cfdgen.morphology import Sac, VesselContext, public, sac_shape, vessel_terms
from cfdgen.selfintersect import self_intersecting_pairs
from cfdgen.surface import orient_outward, topology, triangles
from cfdgen.synth.anatomy import Anatomy
from cfdgen.synth.vessel import VesselField

FAR = 5.0  # mm: distance values beyond this are clipped (only their sign matters for the surface)


@dataclass(frozen=True)
class Opening:
    patch: str
    center: np.ndarray
    normal: np.ndarray  # unit, pointing out of the domain
    radius: float


def openings(anat: Anatomy) -> list[Opening]:
    """Inlet at the parent's start, one outlet per open downstream end (patch names from the registry)."""
    out, k = [], 0
    for b in anat.branches:
        cl = b.centerline
        if b.open_start:
            out.append(Opening(registry.INLET, cl.points[0], -cl.tangent[0], float(cl.radius[0])))
        if b.open_end:
            out.append(Opening(registry.outlet(k), cl.points[-1], cl.tangent[-1], float(cl.radius[-1])))
            k += 1
    return out


class LumenField:
    """Implicit lumen (vessel ∪ sac), negative inside."""

    def __init__(self, anat: Anatomy, extension: float):
        self.anat = anat
        self.vessel = VesselField(list(anat.branches), extension)

    def __call__(self, p: np.ndarray, far: float = FAR) -> np.ndarray:
        return np.minimum(self.vessel(p, far), np.minimum(self.anat.sac.sdf(p), far))


def _grid(lo: np.ndarray, hi: np.ndarray, spacing: float) -> pv.ImageData:
    dims = np.ceil((hi - lo) / spacing).astype(int) + 1
    return pv.ImageData(dimensions=dims, spacing=(spacing,) * 3, origin=lo)


def domain_bounds(anat: Anatomy, pad: float) -> tuple[np.ndarray, np.ndarray]:
    pts = np.vstack([b.centerline.points for b in anat.branches])
    r = max(float(b.centerline.radius.max()) for b in anat.branches)
    slo, shi = anat.sac.bounds()
    return np.minimum(pts.min(0) - r, slo) - pad, np.maximum(pts.max(0) + r, shi) + pad


def _end_coordinates(p: np.ndarray, op: Opening, reach: float):
    """Distance along the opening's outward normal, and whether a point lies in the end's cylinder."""
    rel = p - op.center
    along = rel @ op.normal
    radial = np.linalg.norm(rel - along[:, None] * op.normal, axis=1)
    return along, (radial < 1.6 * op.radius + 1.0) & (np.abs(along) < reach)


def beyond_openings(p: np.ndarray, ops: list[Opening], reach: float) -> np.ndarray:
    """Points past an end plane, within that end's tube: the vessel continues there but the surface stops."""
    out = np.zeros(len(p), bool)
    for op in ops:
        along, near = _end_coordinates(p, op, reach)
        out |= near & (along > 0)
    return out


def cut_open(mesh: pv.PolyData, ops: list[Opening], reach: float) -> pv.PolyData:
    """Cut the tube ends with their planes; each plane only acts inside its own end's cylinder."""
    p = np.asarray(mesh.points)
    cut = np.full(len(p), -1.0)
    for op in ops:
        along, near = _end_coordinates(p, op, reach)
        cut[near] = np.maximum(cut[near], along[near])
    mesh.point_data["_cut"] = cut
    out = mesh.clip_scalar(scalars="_cut", value=0.0, invert=True)
    return out.extract_surface(algorithm="dataset_surface")


def project_to_zero_set(points: np.ndarray, field, iterations: int = 3, h: float = 1e-3) -> np.ndarray:
    """Newton steps onto f = 0: marching cubes rounds concave creases (the neck) by up to half a voxel."""
    p = np.array(points, dtype=np.float64)
    offsets = np.eye(3) * h
    for _ in range(iterations):
        f = field(p)
        grad = np.stack([(field(p + o) - field(p - o)) / (2 * h) for o in offsets], axis=1)
        g2 = np.maximum((grad**2).sum(axis=1), 1e-12)
        p -= (f / g2)[:, None] * grad
    return p


def _project_without_folds(mesh: pv.PolyData, field, spacing: float) -> np.ndarray:
    """Zero-set projection, undone around any place where it folds the surface through itself (it can at the
    neck crease, by micrometres: enough for a strict self-intersection check to refuse the surface)."""
    raw = np.asarray(mesh.points, dtype=np.float64)
    projected = project_to_zero_set(raw, field)
    tri = triangles(mesh)
    for radius in (2 * spacing, 4 * spacing):
        crossing = self_intersecting_pairs(projected, tri, max_pairs=None, min_depth=0.0)
        if not len(crossing):
            return projected
        bad = np.unique(tri[crossing].ravel())
        near = cKDTree(raw[bad]).query(raw, distance_upper_bound=radius)[0] < np.inf
        projected[near] = raw[near]
    return projected if not len(self_intersecting_pairs(projected, tri, max_pairs=1, min_depth=0.0)) else raw


def lumen_surface(anat: Anatomy, spacing: float, extension: float) -> pv.PolyData:
    """Triangulated lumen with open planar ends and a point array ``sac`` (1 on the sac, 0 elsewhere)."""
    field = LumenField(anat, extension)
    lo, hi = domain_bounds(anat, pad=2 * spacing + 1.0)
    grid = _grid(lo, hi, spacing)
    grid.point_data["f"] = field(np.asarray(grid.points)).astype(np.float32)
    closed = grid.contour([0.0], scalars="f", method="flying_edges").triangulate().clean()
    closed.points = _project_without_folds(closed, field, spacing)
    ops = openings(anat)
    surf = cut_open(pv.PolyData(closed.points, closed.faces), ops, extension).triangulate().clean()
    surf = surf.connectivity("largest")
    surf = pv.PolyData(np.asarray(surf.points, dtype=np.float64), surf.faces).clean()
    surf = orient_outward(surf, field)
    topo = topology(surf)
    if not (topo.manifold and topo.n_components == 1 and topo.n_loops == len(ops) and topo.genus == 0):
        raise GeometryError(f"synthetic lumen is not a clean tube: {topo}")
    p = np.asarray(surf.points)
    surf.point_data[registry.FIELDS["sac"].key] = (field.vessel(p, FAR) > 1e-3).astype(np.uint8)
    return surf


def construct_sac(parts, subdivisions: int, vessel) -> Sac:
    """Fine sac wall (each ellipsoid part outside the vessel and the other parts) and its neck segments.

    ``vessel(p, far)`` is any implicit vessel (negative inside): the union of tubes, or a half-space in tests.
    """
    pieces, neck = [], []
    for i, part in enumerate(parts):
        mesh = part.mesh(subdivisions)
        p = np.asarray(mesh.points)
        fv = vessel(p, FAR)
        others = [q.sdf(p) for j, q in enumerate(parts) if j != i]
        fo = np.min(others, axis=0) if others else np.full(len(p), FAR)
        mesh.point_data["keep"] = np.minimum(fv, fo)
        kept = (
            mesh.clip_scalar(scalars="keep", value=0.0, invert=False)
            .extract_surface(algorithm="dataset_surface")
            .triangulate()
        )
        if kept.n_cells == 0:
            continue
        kp = np.asarray(kept.points)
        tri = triangles(kept)
        pieces.append((kp, tri))
        edges = kept.extract_feature_edges(
            boundary_edges=True, feature_edges=False, manifold_edges=False, non_manifold_edges=False
        )
        if edges.n_cells:
            seg = np.asarray(edges.points)[np.asarray(edges.lines).reshape(-1, 3)[:, 1:]]
            sp = seg.reshape(-1, 3)
            fvs = vessel(sp, FAR).reshape(-1, 2)
            fos = (
                np.min([q.sdf(sp) for j, q in enumerate(parts) if j != i], axis=0).reshape(-1, 2)
                if others
                else np.full((len(seg), 2), FAR)
            )
            neck.append(seg[np.all(np.abs(fvs) <= np.abs(fos), axis=1)])
    if not pieces:
        raise GeometryError("the sac lies inside the vessel")
    offsets = np.cumsum([0] + [len(v) for v, _ in pieces[:-1]])
    vertices = np.vstack([v for v, _ in pieces])
    tris = np.vstack([t + o for (_, t), o in zip(pieces, offsets)])
    return Sac(vertices, tris, np.vstack(neck) if neck else np.zeros((0, 2, 3)))


def neck_loop_count(seg: np.ndarray, tol: float = 0.3) -> int:
    """Number of connected loops the neck segments form; endpoints closer than ``tol`` mm are joined
    (arcs from different sac parts meet at triple points only up to the meshes' resolution)."""
    pts = seg.reshape(-1, 3)
    parent = np.arange(len(pts))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs = np.vstack([np.arange(0, len(pts), 2), np.arange(1, len(pts), 2)]).T
    for a, b in np.vstack([pairs, np.array(sorted(cKDTree(pts).query_pairs(tol)), dtype=int).reshape(-1, 2)]):
        parent[find(a)] = find(b)
    return len({find(a) for a in range(len(pts))})


def _vessel_context(anat: Anatomy, sac: Sac, centroid: np.ndarray) -> VesselContext:
    parent = anat.parent
    if anat.kind == "sidewall":
        i = parent.nearest_index(centroid)
        s = parent.abscissa[i]
        d1 = 2 * parent.radius_at(s)
        d2 = 2 * parent.radius_at(s - 1.5 * d1)
        neck_pts = sac.neck_segments.reshape(-1, 3)
        distal = max(parent.nearest_index(q) for q in neck_pts[:: max(1, len(neck_pts) // 200)])
        return VesselContext(parent.tangent[i], (parent.tangent[distal],), (d1 + d2) / 2, float(parent.curvature[i]))
    d_parent = 2 * parent.radius[-1]
    pairs = [(d_parent, 2 * parent.radius_at(parent.length - 1.5 * d_parent))]
    outflow = []
    for b in anat.branches[1:]:
        cl = b.centerline
        d1 = 2 * cl.radius[0]
        pairs.append((d1, 2 * cl.radius_at(1.5 * d1)))
        outflow.append(cl.tangent[0])
    d_vessel = float(np.mean([(a + b) / 2 for a, b in pairs]))
    return VesselContext(parent.tangent[-1], tuple(outflow), d_vessel, float(parent.curvature[-1]))


def morphology_truth(anat: Anatomy, subdivisions: int, extension: float) -> dict:
    """Morphology of the construction itself: sac parts clipped by the exact vessel field, fine meshes."""
    vessel = VesselField(list(anat.branches), extension)
    sac = construct_sac(anat.sac.parts, subdivisions, vessel)
    if len(sac.neck_segments) < 3 or neck_loop_count(sac.neck_segments) != 1:
        raise GeometryError("the sac does not meet the vessel along exactly one neck contour")
    shape = sac_shape(sac)
    values = {**shape, **vessel_terms(shape, _vessel_context(anat, sac, shape["_neck"].centroid))}
    neck = shape["_neck"]
    out = {k: values[k] for k in registry.MORPHOLOGY}
    return {
        **public(out),
        "neck_centroid": neck.centroid.tolist(),
        "neck_normal": neck.normal.tolist(),
        "dome_point": np.asarray(shape["_dome_point"]).tolist(),
    }
