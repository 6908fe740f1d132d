"""Open ends of a lumen surface: find them, name them (inlet, outlet_k) and cap them (pure numpy + pyvista)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvista as pv

from cfdgen import registry
from cfdgen.errors import GeometryError
from cfdgen.surface import boundary_loops, triangles

# Wall points within this many opening radii of an opening's centre decide which side of it is the vessel.
_SIDE_REACH = 2.5


@dataclass(frozen=True, eq=False)
class OpeningLoop:
    """One open boundary loop of a surface, with its patch name. Lengths in the surface's units (mm)."""

    patch: str  # registry.INLET or registry.outlet(k)
    center: np.ndarray  # (3,) area centroid of the loop's polygon
    normal: np.ndarray  # (3,) unit, pointing out of the vessel domain
    radius: float  # mean distance of the loop points to the centre
    area: float  # area of the loop's polygon (projected on its best-fit plane)
    point_ids: np.ndarray  # ordered loop vertex ids in the surface


def loop_geometry(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Centre, unit normal (sign arbitrary), radius and area of a closed polygon given by ordered points."""
    if len(pts) < 3:
        raise GeometryError(f"an open boundary loop has only {len(pts)} points")
    mean = pts.mean(axis=0)
    nxt = np.roll(pts, -1, axis=0)
    cross = np.cross(pts - mean, nxt - mean)  # fan from the mean point: 2 × signed triangle areas
    vector_area = 0.5 * cross.sum(axis=0)
    # best-fit plane normal; the vector area fixes the sign consistently with the loop order
    _, _, vt = np.linalg.svd(pts - mean, full_matrices=False)
    normal = vt[2]
    if normal @ vector_area < 0:
        normal = -normal
    tri_area = 0.5 * (cross @ normal)
    total = float(tri_area.sum())
    if abs(total) < 1e-12:
        raise GeometryError("an open boundary loop has zero area")
    center = ((mean + pts + nxt) / 3.0 * tri_area[:, None]).sum(axis=0) / total
    radius = float(np.mean(np.linalg.norm(pts - center, axis=1)))
    return center, normal, radius, abs(total)


def _outward(points: np.ndarray, loop_ids: np.ndarray, center: np.ndarray, normal: np.ndarray, radius: float):
    """Flip ``normal`` so that it points away from the wall near the opening (the vessel lies behind it)."""
    on_loop = np.zeros(len(points), bool)
    on_loop[loop_ids] = True
    rel = points - center
    near = (np.linalg.norm(rel, axis=1) < _SIDE_REACH * radius) & ~on_loop
    if not near.any():
        raise GeometryError("cannot tell the outward side of an opening: no wall points near it")
    side = rel[near] @ normal
    return -normal if np.mean(side) > 0 else normal


def find_openings(surface: pv.PolyData, inlet_hint: np.ndarray | None = None) -> list[OpeningLoop]:
    """Every open boundary loop of ``surface``, inlet first, then outlet_0, outlet_1, ... by decreasing area.

    The inlet is the loop whose centre is nearest ``inlet_hint`` when given, else the largest one.
    """
    tri = triangles(surface)
    loops = boundary_loops(tri)
    if len(loops) < 2:
        raise GeometryError(f"the surface has {len(loops)} open boundary loop(s); need an inlet and an outlet")
    points = np.asarray(surface.points, dtype=np.float64)
    used = np.unique(tri)
    geo = []
    for ids in loops:
        center, normal, radius, area = loop_geometry(points[ids])
        normal = _outward(points[used], np.searchsorted(used, ids), center, normal, radius)
        geo.append((ids, center, normal, radius, area))
    if inlet_hint is not None:
        hint = np.asarray(inlet_hint, dtype=np.float64)
        inlet = int(np.argmin([np.linalg.norm(g[1] - hint) for g in geo]))
    else:
        inlet = int(np.argmax([g[4] for g in geo]))
    rest = sorted((i for i in range(len(geo)) if i != inlet), key=lambda i: -geo[i][4])
    names = [(inlet, registry.INLET)] + [(i, registry.outlet(k)) for k, i in enumerate(rest)]
    out = []
    for i, patch in names:
        ids, center, normal, radius, area = geo[i]
        out.append(OpeningLoop(patch, center, normal / np.linalg.norm(normal), radius, area, np.asarray(ids)))
    return out


def region_of(patch: str) -> int:
    """Cell label of a patch in ``registry.REGION_ID``: 0 wall, 1 inlet cap, 2 + k outlet k cap."""
    kind = registry.patch_kind(patch)
    if kind == "wall":
        return 0
    if kind == "inlet":
        return 1
    return 2 + registry.outlet_index(patch)


def cap(surface: pv.PolyData, openings: list[OpeningLoop]) -> pv.PolyData:
    """Closed surface: each opening is filled by a fan from its centre, oriented like the adjacent wall.

    Point arrays are dropped (the cap centres have no values); the cell array ``registry.REGION_ID`` labels
    the wall and every cap.
    """
    tri = triangles(surface)
    points = np.asarray(surface.points, dtype=np.float64)
    directed = {(int(a), int(b)) for a, b in np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])}
    new_points, new_tris, regions = [points], [tri], [np.zeros(len(tri), np.int32)]
    n = len(points)
    for op in openings:
        ids = np.asarray(op.point_ids)
        a, b = int(ids[0]), int(ids[1])
        if (a, b) not in directed and (b, a) not in directed:
            raise GeometryError(f"opening {op.patch}: its loop does not follow the surface's boundary edges")
        # a wall triangle uses the edge a->b, so the cap must use b->a (consistent orientation)
        nxt = np.roll(ids, -1)
        first, second = (nxt, ids) if (a, b) in directed else (ids, nxt)
        fan = np.column_stack([np.full(len(ids), n), first, second])
        new_points.append(op.center[None, :])
        new_tris.append(fan)
        regions.append(np.full(len(fan), region_of(op.patch), np.int32))
        n += 1
    all_tris = np.vstack(new_tris)
    faces = np.hstack([np.full((len(all_tris), 1), 3), all_tris]).ravel()
    out = pv.PolyData(np.vstack(new_points), faces)
    out.cell_data[registry.REGION_ID] = np.concatenate(regions)
    return out


def label_openings(surface: pv.PolyData, openings: list[OpeningLoop]) -> None:
    """Point array ``opening_id`` (k on the rim of ``openings[k]``, -1 elsewhere) and field data ``opening_patch``
    (the patch names in that order): how surfaces carry their named openings to later stages."""
    ids = np.full(surface.n_points, -1, np.int8)
    for k, op in enumerate(openings):
        ids[op.point_ids] = k
    surface.point_data[registry.OPENING_ID] = ids
    surface.field_data[registry.OPENING_PATCH] = [op.patch for op in openings]
