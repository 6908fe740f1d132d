"""Clip ragged, oblique or non-planar open ends perpendicular to the centerline (pure numpy + pyvista).

Segmented vessels end wherever the segmentation stopped: the rims are jagged, tilted and not planar, which
spoils inlet/outlet boundary conditions and flow extensions (both assume a flat section across the vessel).
``end_quality`` measures every opening against its centerline; ``clip_ragged_ends`` cuts each flagged end
with the plane perpendicular to the centerline a little inside the rim, acting only on that end's
neighbourhood, and verifies the result. Ends that are fine are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyvista as pv
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from cfdgen import registry
from cfdgen.centerline import Centerline
from cfdgen.errors import ConfigError, GeometryError
from cfdgen.openings import OpeningLoop, loop_geometry
from cfdgen.surface import boundary_loops, triangles

# A cut opening must come out planar to this fraction of its radius (the cut points lie on the plane up to
# rounding, so anything larger means the cut did not produce one clean section).
_CUT_PLANARITY = 1e-3
# ... and its normal within this angle of the centerline tangent next to it (the plane IS perpendicular to
# the tangent at the cut; a larger angle means the section left the tube where the centerline bends).
_CUT_ANGLE_DEG = 5.0
# A kept vertex closer to the plane than this fraction of the edge it shares with a removed vertex is moved
# onto the plane instead of creating a new point next to it: no sliver triangles along the cut.
_SNAP = 0.1
# Rim points are projected onto the end piece of the centerline only, this many opening radii long (at most
# half the centerline), so that a vessel that loops back cannot capture them.
_END_REACH = 10.0
# The local radius is the median centerline radius over this window (in opening radii) inside the rim's
# innermost point, where the maximum inscribed spheres no longer touch the ragged cap.
_RADIUS_WINDOW = (1.0, 3.0)


@dataclass(frozen=True)
class ClipConfig:
    # Clean planar cuts (marching cubes clipped by a plane) are flat to ~1e-8 of the radius, while a rim that
    # follows voxels or triangle edges leaves its best-fit plane by half an element or more (0.1 mm = 5 % of a
    # 2 mm radius at 0.2 mm spacing; a segmentation that stopped unevenly: tens of %).
    planarity_tolerance: float = 0.05
    # Inlet profiles and flow extensions are laid along the opening normal; at 20° the section area is 6 % too
    # large (1/cos) and the extension points visibly into the wall, below it the error stays a few percent.
    obliqueness_deg: float = 20.0
    # One radius inside the rim's innermost point clears the ragged part with little loss of vessel length,
    # and keeps the cut out of the capped end where the centerline itself is least reliable.
    setback_in_radii: float = 1.0
    # Radius (in local vessel radii) of the cylinder around the centerline's end outside which a cut may not
    # remove anything: wide enough for an oval or bulging end, narrow enough to stop before a sac or a branch.
    neighbourhood_in_radii: float = 2.0

    def __post_init__(self):
        for name in ("planarity_tolerance", "obliqueness_deg", "setback_in_radii", "neighbourhood_in_radii"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"clip_ends.{name} must be > 0 (got {getattr(self, name)})")
        if self.neighbourhood_in_radii <= 1.0:
            raise ConfigError(f"clip_ends.neighbourhood_in_radii must be > 1 (got {self.neighbourhood_in_radii})")


@dataclass(frozen=True)
class EndQuality:
    """How one opening sits on its centerline."""

    patch: str
    planarity: float  # max distance of the rim from its best-fit plane / opening radius
    obliqueness_deg: float  # angle between the opening normal and the centerline tangent at the rim's centre
    ragged: bool  # planarity > ClipConfig.planarity_tolerance
    oblique: bool  # obliqueness_deg > ClipConfig.obliqueness_deg

    @property
    def needs_clip(self) -> bool:
        return self.ragged or self.oblique


@dataclass(frozen=True, eq=False)
class ClipResult:
    surface: pv.PolyData  # a copy of the input when nothing was cut
    clipped: tuple[str, ...]  # patch names of the ends that were cut
    messages: tuple[str, ...]  # one line per cut end
    quality: tuple[EndQuality, ...]  # of the input ends, in the order of ``openings``
    openings: tuple[OpeningLoop, ...]  # the openings of ``surface``, same patch names and order as given


# ---------------------------------------------------------------- end geometry


@dataclass(frozen=True, eq=False)
class _End:
    """A centerline seen from one opening: abscissa ``u`` runs from the opening into the vessel."""

    path: Centerline
    at_start: bool  # the opening is at the path's first point (inlet) rather than its last one

    def u_of_s(self, s):
        return s if self.at_start else self.path.length - np.asarray(s)

    def s_of_u(self, u):
        return u if self.at_start else self.path.length - np.asarray(u)

    def point(self, u: float) -> np.ndarray:
        s = float(self.s_of_u(u))
        return np.array([np.interp(s, self.path.abscissa, self.path.points[:, i]) for i in range(3)])

    def outward(self, u: float) -> np.ndarray:
        """Unit tangent at ``u``, pointing out of the vessel through this end."""
        s = float(self.s_of_u(u))
        t = np.array([np.interp(s, self.path.abscissa, self.path.tangent[:, i]) for i in range(3)])
        t /= np.linalg.norm(t)
        return -t if self.at_start else t

    def radius(self, u0: float, u1: float) -> float:
        u = self.u_of_s(self.path.abscissa)
        sel = (u >= u0) & (u <= u1)
        if not sel.any():
            return float(np.interp(self.s_of_u(0.5 * (u0 + u1)), self.path.abscissa, self.path.radius))
        return float(np.median(self.path.radius[sel]))

    def depth(self, pts: np.ndarray, reach: float) -> np.ndarray:
        """``u`` of the nearest centerline point (within ``reach`` of the end) to each of ``pts``."""
        u = self.u_of_s(self.path.abscissa)
        sel = np.flatnonzero(u <= reach)
        _, j = cKDTree(self.path.points[sel]).query(pts)
        return u[sel][j]


def _end_of(op: OpeningLoop, paths: list[Centerline]) -> _End:
    """The centerline end nearest the opening's centre (the inlet is the start of every path)."""
    best = None
    for path in paths:
        for at_start, p in ((True, path.points[0]), (False, path.points[-1])):
            d = float(np.linalg.norm(p - op.center))
            if best is None or d < best[0]:
                best = (d, _End(path, at_start))
    if best is None or best[0] > 2.0 * op.radius:
        raise GeometryError(f"{op.patch}: no centerline ends at this opening")
    return best[1]


def _planarity(pts: np.ndarray, radius: float) -> float:
    mean = pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts - mean, full_matrices=False)
    return float(np.max(np.abs((pts - mean) @ vt[2])) / radius)


def _rim_depth(op: OpeningLoop, end: _End, points: np.ndarray) -> float:
    """``u`` where the rim's innermost point projects onto the centerline."""
    reach = min(0.5 * end.path.length, _END_REACH * op.radius)
    return float(end.depth(points[op.point_ids], reach).max())


def _local_radius(op: OpeningLoop, end: _End, u_inner: float) -> float:
    lo, hi = _RADIUS_WINDOW
    return end.radius(u_inner + lo * op.radius, u_inner + hi * op.radius)


def _quality(op: OpeningLoop, end: _End, points: np.ndarray, cfg: ClipConfig) -> EndQuality:
    planarity = _planarity(points[op.point_ids], op.radius)
    # the tangent where the rim's centre projects: the axis of the vessel across the rim (ends curve, so a
    # tangent taken deeper inside would tilt clean ends). vmtk closes each path with a straight segment of about
    # one radius from its last inscribed sphere to the cap centre, a chord: on an end bent to a 13 mm radius of
    # curvature that tilts the tangent by ~5°, well below the obliqueness threshold.
    reach = min(0.5 * end.path.length, _END_REACH * op.radius)
    axis = end.outward(float(end.depth(op.center[None, :], reach)[0]))
    angle = float(np.degrees(np.arccos(np.clip(abs(float(op.normal @ axis)), 0.0, 1.0))))
    return EndQuality(op.patch, planarity, angle, planarity > cfg.planarity_tolerance, angle > cfg.obliqueness_deg)


def end_quality(
    surface: pv.PolyData, openings: list[OpeningLoop], paths: list[Centerline], config: ClipConfig = ClipConfig()
) -> list[EndQuality]:
    """Planarity (fraction of the radius) and obliqueness (degrees) of every opening, with the flags."""
    points = np.asarray(surface.points, dtype=np.float64)
    return [_quality(op, _end_of(op, paths), points, config) for op in openings]


# ---------------------------------------------------------------- one cut


def _components(tri: np.ndarray, n: int, mask: np.ndarray) -> np.ndarray:
    """Component label of every point among the points in ``mask`` linked by triangle edges (-1 outside)."""
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    e = e[mask[e[:, 0]] & mask[e[:, 1]]]
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.where(mask, labels, -1)


def _polyline_distance(pts: np.ndarray, line: np.ndarray, step: float) -> np.ndarray:
    """Distance from each point to a polyline, to within ``step`` (the polyline is resampled that finely)."""
    seg = np.diff(line, axis=0)
    lengths = np.linalg.norm(seg, axis=1)
    dense = [line[:1]]
    for a, d, length in zip(line[:-1], seg, lengths):
        k = max(int(np.ceil(length / step)), 1)
        dense.append(a + d * (np.arange(1, k + 1) / k)[:, None])
    d, _ = cKDTree(np.vstack(dense)).query(pts)
    return d


def _towards_end(end: _End, u_cut: float) -> np.ndarray:
    """Centerline points between the cut (exclusive) and the end, ordered from the cut outwards."""
    u = end.u_of_s(end.path.abscissa)
    sel = u < u_cut
    pts = end.path.points[sel]
    order = np.argsort(-u[sel])
    return pts[order]


@dataclass(frozen=True, eq=False)
class _Cut:
    points: np.ndarray
    tri: np.ndarray
    parent: np.ndarray  # (m,) input triangle of each output triangle
    source: np.ndarray  # (n, 2) input points each output point comes from (same id twice for kept points)
    weight: np.ndarray  # (n,) weight of source[:, 0] (1 for kept points)
    rim: np.ndarray  # output ids of the points on the cut plane


def _cut_end(
    points: np.ndarray, tri: np.ndarray, op: OpeningLoop, end: _End, cfg: ClipConfig
) -> tuple[_Cut, np.ndarray, float, float]:
    """Cut one end; returns the cut, the plane's normal (outward), the cut's depth ``u`` and the local radius."""
    u_inner = _rim_depth(op, end, points)
    r = _local_radius(op, end, u_inner)
    u_cut = u_inner + cfg.setback_in_radii * r
    if u_cut >= end.path.length - r:
        raise GeometryError(
            f"{op.patch}: the end is too short to clip (cut {u_cut:.3g} mm from the centerline's end needed, "
            f"the centerline is {end.path.length:.3g} mm long)"
        )
    c, n = end.point(u_cut), end.outward(u_cut)
    f = (points - c) @ n  # > 0: the side of the end

    rim_ids = np.asarray(op.point_ids)
    if np.any(f[rim_ids] <= 0):
        raise GeometryError(
            f"{op.patch}: the cut plane {u_cut:.3g} mm from the centerline's end does not clear its rim"
        )
    used = np.zeros(len(points), bool)
    used[tri] = True
    labels = _components(tri, len(points), (f > 0) & used)
    doomed = np.isin(labels, np.unique(labels[rim_ids]))  # the part beyond the plane that holds the rim

    # the neighbourhood: within neighbourhood_in_radii × r of the centerline from the cut to the end, continued
    # straight past the end as far as the rim reaches (and one radius more)
    beyond = float(np.max(f[rim_ids]) - (end.point(0.0) - c) @ n)
    tip = end.point(0.0) + end.outward(0.0) * (max(beyond, 0.0) + r)
    line = np.vstack([end.point(u_cut), _towards_end(end, u_cut), tip])
    reach = cfg.neighbourhood_in_radii * r
    far = _polyline_distance(points[doomed], line, 0.02 * r)
    if np.any(far > reach):
        raise GeometryError(
            f"{op.patch}: a cut {u_cut:.3g} mm from the centerline's end would remove more than the end "
            f"(surface {far.max():.3g} mm from the centerline, limit {reach:.3g} mm): end too short or too "
            "close to a branch or the sac"
        )

    # snap kept vertices that sit next to the plane onto it (no slivers along the cut)
    touched = doomed[tri].any(axis=1)
    pts = points.copy()
    ft = f.copy()
    tt = tri[touched]
    for a, b in ((0, 1), (1, 2), (2, 0), (1, 0), (2, 1), (0, 2)):
        ia, ib = tt[:, a], tt[:, b]
        cross = (ft[ia] <= 0) & doomed[ib]
        frac = np.zeros(len(ia))
        frac[cross] = ft[ia[cross]] / (ft[ia[cross]] - ft[ib[cross]])
        snap = ia[cross & (frac < _SNAP)]
        pts[snap] -= ft[snap, None] * n
        ft[snap] = 0.0

    # Sutherland–Hodgman on each touched triangle: keep the part with f <= 0, in the triangle's orientation
    n0 = len(points)
    new_pts, new_src, new_w, edge_id = [], [], [], {}
    out_tri, out_parent = [], []

    def crossing(a: int, b: int) -> int:
        key = (a, b) if ft[a] < 0 else (b, a)  # (kept, removed)
        if key not in edge_id:
            w = ft[key[1]] / (ft[key[1]] - ft[key[0]])  # weight of the kept end: f = 0 at the new point
            edge_id[key] = n0 + len(new_pts)
            new_pts.append(w * pts[key[0]] + (1.0 - w) * pts[key[1]])
            new_src.append(key)
            new_w.append(w)
        return edge_id[key]

    for k in np.flatnonzero(touched):
        poly = []
        tk = tri[k]
        for j in range(3):
            a, b = int(tk[j]), int(tk[(j + 1) % 3])
            if ft[a] <= 0:
                poly.append(a)
            if (ft[a] < 0 < ft[b]) or (ft[b] < 0 < ft[a]):
                poly.append(crossing(a, b))
        if len(poly) >= 3 and any(ft[v] < 0 for v in poly if v < n0):
            for j in range(1, len(poly) - 1):
                out_tri.append((poly[0], poly[j], poly[j + 1]))
                out_parent.append(k)

    kept = np.flatnonzero(~touched)
    all_tri = np.vstack([tri[kept], np.asarray(out_tri, np.int64).reshape(-1, 3)])
    parent = np.concatenate([kept, np.asarray(out_parent, np.int64)])
    all_pts = np.vstack([pts, np.asarray(new_pts).reshape(-1, 3)])
    src = np.vstack([np.column_stack([np.arange(n0), np.arange(n0)]), np.asarray(new_src, np.int64).reshape(-1, 2)])
    weight = np.concatenate([np.ones(n0), np.asarray(new_w)])
    on_plane = np.concatenate([(ft == 0.0) & ~doomed, np.ones(len(new_pts), bool)])
    cut = _Cut(all_pts, all_tri, parent, src, weight, np.flatnonzero(on_plane))
    return cut, n, u_cut, r


# ---------------------------------------------------------------- clean-up, arrays, checks


def _compact(cut: _Cut, keep_tri: np.ndarray):
    """Drop triangles not in ``keep_tri`` and every point no triangle uses; returns the cut and old→new ids."""
    tri = cut.tri[keep_tri]
    used = np.zeros(len(cut.points), bool)
    used[tri] = True
    new_id = np.full(len(cut.points), -1, np.int64)
    new_id[used] = np.arange(int(used.sum()))
    rim = new_id[cut.rim]
    out = _Cut(
        cut.points[used],
        new_id[tri],
        cut.parent[keep_tri],
        cut.source[used],
        cut.weight[used],
        rim[rim >= 0],
    )
    return out, new_id


def _main_piece(cut: _Cut, others: list[np.ndarray]) -> np.ndarray:
    """Triangles of the connected pieces that hold an untouched opening (or the largest piece)."""
    labels = _components(cut.tri, len(cut.points), np.ones(len(cut.points), bool))
    tri_label = labels[cut.tri[:, 0]]
    wanted = {int(labels[ids[0]]) for ids in others if len(ids)}
    if not wanted:
        wanted = {int(np.bincount(tri_label).argmax())}
    return np.isin(tri_label, list(wanted))


def _carry_arrays(old: pv.PolyData, new: pv.PolyData, source: np.ndarray, weight: np.ndarray, parent: np.ndarray):
    """Point arrays: kept points keep their values, cut points interpolate (integers take the inner point's);
    cell arrays follow the triangle each piece was cut from; field data is copied."""
    for name in old.point_data.keys():
        a = np.asarray(old.point_data[name])
        if len(a) != old.n_points:
            continue
        w = weight.reshape((-1,) + (1,) * (a.ndim - 1))
        if np.issubdtype(a.dtype, np.floating):
            new.point_data[name] = (w * a[source[:, 0]] + (1.0 - w) * a[source[:, 1]]).astype(a.dtype)
        else:
            new.point_data[name] = a[source[:, 0]]  # source[:, 0] of a cut edge is its kept end
    for name in old.cell_data.keys():
        a = np.asarray(old.cell_data[name])
        if len(a) == old.n_cells:
            new.cell_data[name] = a[parent]
    for name in old.field_data.keys():
        new.field_data[name] = old.field_data[name]


def _polydata(points: np.ndarray, tri: np.ndarray) -> pv.PolyData:
    return pv.PolyData(points, np.hstack([np.full((len(tri), 1), 3), tri]).ravel())


def _check(
    tri: np.ndarray, points: np.ndarray, op: OpeningLoop, rim: np.ndarray, n: np.ndarray, end: _End, expected: int
):
    """One clean planar section perpendicular to the centerline, manifold, same number of openings."""
    e = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    if np.any(counts > 2):
        raise GeometryError(f"{op.patch}: clipping the end left {int((counts > 2).sum())} non-manifold edges")
    loops = boundary_loops(tri)
    if len(loops) != expected:
        raise GeometryError(f"{op.patch}: clipping the end left {len(loops)} openings instead of {expected}")
    on_plane = set(rim.tolist())
    mine = [ids for ids in loops if on_plane.issuperset(ids.tolist())]
    if len(mine) != 1:
        raise GeometryError(f"{op.patch}: clipping the end did not leave one section on the cut plane")
    ids = mine[0]
    center, normal, radius, area = loop_geometry(points[ids])
    if normal @ n < 0:
        normal = -normal
    flat = _planarity(points[ids], radius)
    reach = min(0.5 * end.path.length, _END_REACH * op.radius)
    u = float(end.depth(center[None, :], reach)[0])
    angle = float(np.degrees(np.arccos(np.clip(normal @ end.outward(u), -1.0, 1.0))))
    if flat > _CUT_PLANARITY or angle > _CUT_ANGLE_DEG:
        raise GeometryError(
            f"{op.patch}: the cut section is not flat and perpendicular to the centerline "
            f"(planarity {flat:.2g} of the radius, {angle:.2g}° from the tangent)"
        )
    return OpeningLoop(op.patch, center, normal / np.linalg.norm(normal), radius, area, np.asarray(ids))


# ---------------------------------------------------------------- entry point


def clip_ragged_ends(
    surface: pv.PolyData, openings: list[OpeningLoop], paths: list[Centerline], config: ClipConfig = ClipConfig()
) -> ClipResult:
    """Cut every ragged or oblique end with the plane perpendicular to the centerline, ``setback_in_radii`` local
    radii inside the rim's innermost point (see ``ClipConfig``).

    Only the part of the surface beyond that plane that holds the end's rim is removed, and it must lie within
    ``neighbourhood_in_radii`` local radii of the centerline's end, else GeometryError names the patch. Each cut
    is verified (manifold, same number of openings, the section planar and perpendicular to the centerline).
    Points and triangles away from the cuts keep their coordinates, order of appearance and arrays; points on a
    cut interpolate their edge's values (integer arrays take the inner point's), and ``opening_id`` labels the
    new rim like the old one. Nothing is cut when no end is flagged: ``surface`` comes back as a copy.
    """
    quality = tuple(end_quality(surface, openings, paths, config))
    flagged = [i for i, q in enumerate(quality) if q.needs_clip]
    if not flagged:
        return ClipResult(surface.copy(), (), (), quality, tuple(openings))
    mesh = surface if surface.is_all_triangles else surface.triangulate()
    points = np.asarray(mesh.points, dtype=np.float64)
    tri = triangles(mesh)
    ops = list(openings)
    source = np.column_stack([np.arange(len(points)), np.arange(len(points))])
    weight = np.ones(len(points))
    parent = np.arange(len(tri))
    messages = []
    for i in flagged:
        op, q = ops[i], quality[i]
        end = _end_of(openings[i], paths)
        cut, n, u_cut, r = _cut_end(points, tri, op, end, config)
        others = [o.point_ids for j, o in enumerate(ops) if j != i]
        cut, new_id = _compact(cut, _main_piece(cut, others))
        for j, o in enumerate(ops):
            if j != i:
                ids = new_id[o.point_ids]
                if np.any(ids < 0):
                    raise GeometryError(f"{op.patch}: clipping the end removed part of {o.patch}")
                ops[j] = replace(o, point_ids=ids)
        ops[i] = _check(cut.tri, cut.points, op, cut.rim, n, end, len(ops))
        # compose the provenance with that of the earlier cuts
        s0, s1 = source[cut.source[:, 0]], source[cut.source[:, 1]]
        w0 = weight[cut.source[:, 0]]
        same = cut.source[:, 0] == cut.source[:, 1]
        if np.any(~same & ((s0[:, 0] != s0[:, 1]) | (s1[:, 0] != s1[:, 1]))):
            raise GeometryError(f"{op.patch}: its cut runs through an earlier cut")
        source = np.where(same[:, None], s0, np.column_stack([s0[:, 0], s1[:, 0]]))
        weight = np.where(same, w0, cut.weight)
        parent = parent[cut.parent]
        points, tri = cut.points, cut.tri
        ring = 2.0 * np.sqrt(ops[i].area / np.pi)
        what = " and ".join(
            w
            for w, on in (
                (f"ragged (rim {q.planarity:.2g} radii off its plane)", q.ragged),
                (f"oblique ({q.obliqueness_deg:.1f}° to the centerline)", q.oblique),
            )
            if on
        )
        messages.append(
            f"{op.patch}: {what}; cut perpendicular to the centerline {u_cut:.3g} mm from its end "
            f"(setback {config.setback_in_radii:g} × local radius {r:.3g} mm), section diameter {ring:.3g} mm"
        )
    out = _polydata(points, tri)
    _carry_arrays(mesh, out, source, weight, parent)
    if registry.OPENING_ID in out.point_data:
        labels = np.asarray(out.point_data[registry.OPENING_ID]).copy()
        old = np.asarray(mesh.point_data[registry.OPENING_ID])
        for i in flagged:
            values, counts = np.unique(old[openings[i].point_ids], return_counts=True)
            labels[ops[i].point_ids] = values[np.argmax(counts)]
        out.point_data[registry.OPENING_ID] = labels
    return ClipResult(out, tuple(ops[i].patch for i in flagged), tuple(messages), quality, tuple(ops))
