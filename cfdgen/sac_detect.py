"""Sac isolation: where the wall leaves the centerline-tube model, the aneurysm begins.

Each wall point gets ``deviation = |p − c| / r(c)``, with c its nearest centerline point and r a robust local
tube radius (a running median of the inscribed-sphere radius, so the bump the sac puts into the radius at the
neck does not hide it). The tube wall sits at ≈ 1; the sac is the connected region above ``1 + threshold``
that holds the dome, cut exactly along that iso-line, which becomes the neck contour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvista as pv
from scipy.ndimage import median_filter
from scipy.spatial import cKDTree

from cfdgen import registry
from cfdgen.centerline import Centerline
from cfdgen.errors import GeometryError, NoAneurysmError
from cfdgen.morphology import Sac, VesselContext
from cfdgen.surface import boundary_loops, triangles

DEVIATION = registry.FIELDS["tube_deviation"].key


@dataclass(frozen=True)
class SacConfig:
    threshold: float = 0.06  # iso-level above the tube wall (fraction of the radius) that defines the neck
    radius_window: float = 4.0  # running-median window of the tube radius, in local radii
    seed_deviation: float = 1.6  # a sac must reach this far out of the tube (else: no aneurysm found)
    junction_threshold: float = 0.15  # neck level near a branch point ...
    junction_reach: float = 1.5  # ... within this many parent radii of it
    # Level the neck is then followed down to (hysteresis). Equal to ``threshold`` (off) by default: on
    # marching-cubes surfaces the crease is rounded and following it down flares the neck, and on a
    # saddle-shaped neck it creeps along the saddle (tests/test_morph_shapes.py).
    threshold_low: float = 0.06
    hysteresis_band: float = 0.5  # how far (in radii) below the detected neck that following may go
    # Cut straddling edges at the crease (see crease_level) and put the cut back on the tube wall, instead of
    # cutting at the iso-level. Measured (benchmarks/morph_accuracy.py, 50 cohort shapes): median AR error
    # 5.3 % -> 1.9 %, H 2.5 % -> 1.1 %; analytic caps N 3.2 % -> 1.7 %; AnXplore 178 sac Dice unchanged (0.969).
    crease_cut: bool = True


@dataclass(frozen=True, eq=False)
class SacDetection:
    sac: Sac
    point_mask: np.ndarray  # (n_points,) uint8 on the input surface
    deviation: np.ndarray  # (n_points,)
    threshold: np.ndarray  # per point neck level above the tube wall
    dome_seed: np.ndarray


def robust_radius(cl: Centerline, window: float) -> np.ndarray:
    """Running median of the inscribed-sphere radius over ``window`` local radii of arclength."""
    step = max(float(np.median(np.diff(cl.abscissa))), 1e-6)
    size = max(3, int(window * float(np.median(cl.radius)) / step) | 1)
    return median_filter(cl.radius, size=size, mode="nearest")


def _segment(a: np.ndarray, b: np.ndarray, radius: float, step: float):
    n = max(2, int(np.linalg.norm(b - a) / step) + 1)
    return a + np.linspace(0.0, 1.0, n)[:, None] * (b - a), np.full(n, radius)


def _closest_between_lines(p0, u, q0, v) -> np.ndarray | None:
    """Midpoint of the shortest segment between two lines; None when they are (nearly) parallel."""
    w = p0 - q0
    a, b, c, d, e = u @ u, u @ v, v @ v, u @ w, v @ w
    den = a * c - b * b
    if den < 1e-3 * a * c:  # under ~2° apart: no corner to rebuild
        return None
    sp, tq = (b * e - c * d) / den, (a * e - b * d) / den
    return 0.5 * ((p0 + sp * u) + (q0 + tq * v))


def junction_tubes(paths: list[Centerline], cfg: SacConfig) -> tuple[list, list[tuple[np.ndarray, float]]]:
    """Straight tubes that rebuild a bifurcation's corners, which vmtk's paths cut.

    Where two paths part, the branch point B is where the straight parent (3 radii before the split) and the
    straight branch (3 radii after it) meet; the parent tube is run up to B (its round end reaches one radius
    past B) and the branch tube back to B — the union of tubes the junction is.
    """
    extra, junctions = [], []
    for a in paths:
        ra = robust_radius(a, cfg.radius_window)
        step = max(float(np.median(np.diff(a.abscissa))), 0.02)
        for b in paths:
            if b is a:
                continue
            j = split_index(a, b)
            if j >= len(a.points) - 1:
                continue
            s, r = a.abscissa[j], float(ra[j])
            m, k = a.index_at(s - 3.0 * r), a.index_at(s + 3.0 * r)
            tm, tk = _tangent(a, m, r), _tangent(a, k, r)
            branch_point = _closest_between_lines(a.points[m], tm, a.points[k], tk)
            if branch_point is None:
                continue
            extra.append(_segment(a.points[m], branch_point, float(ra[m]), step))
            extra.append(_segment(a.points[k], branch_point, float(ra[k]), step))
            junctions.append((branch_point, float(ra[m])))
    return extra, junctions


def _tube_model(paths: list[Centerline], cfg: SacConfig):
    extra, junctions = junction_tubes(paths, cfg)
    pts = np.vstack([c.points for c in paths] + [e[0] for e in extra])
    rad = np.concatenate([robust_radius(c, cfg.radius_window) for c in paths] + [e[1] for e in extra])
    return pts, rad, junctions


def tube_deviation(points: np.ndarray, paths: list[Centerline], cfg: SacConfig) -> tuple[np.ndarray, np.ndarray]:
    """Deviation of each point from the tube model, and the neck level that applies there.

    Near a junction the tube model is only approximate (real and synthetic junctions are not exact unions
    of straight tubes), so the level is raised there by ``junction_threshold``.
    """
    pts, rad, junctions = _tube_model(paths, cfg)
    # min over several near samples, not the nearest: where tubes of different radii overlap (a junction),
    # the nearest centerline sample may belong to the thinner tube while the wall belongs to the thicker one
    dist, idx = cKDTree(pts).query(points, k=24, workers=-1)
    level = np.full(len(points), cfg.threshold)
    for b, r in junctions:
        near = np.linalg.norm(points - b, axis=1) < cfg.junction_reach * r
        level[near] = cfg.junction_threshold
    return (dist / rad[idx]).min(axis=1), level


def _piece_with(mesh: pv.PolyData, seed: np.ndarray) -> pv.PolyData:
    conn = mesh.connectivity("all")
    region = conn.point_data["RegionId"][conn.find_closest_point(seed)]
    return conn.extract_values(region, scalars="RegionId").extract_surface(algorithm="dataset_surface")


def _components(mesh: pv.PolyData, keep: np.ndarray) -> np.ndarray:
    """Connected-component label of every kept point (through kept points only); -1 elsewhere."""
    labels = np.full(mesh.n_points, -1)
    if not keep.any():
        return labels
    mesh = mesh.copy()
    mesh.point_data["_pid"] = np.arange(mesh.n_points)
    sub = mesh.extract_points(keep, adjacent_cells=False, include_cells=True).connectivity("all")
    labels[np.asarray(sub.point_data["_pid"])] = np.asarray(sub.point_data["RegionId"])
    return labels


def crease_level(p: np.ndarray, tri: np.ndarray, region: np.ndarray, lift: np.ndarray) -> np.ndarray:
    """Cut level whose zero, on each edge from a sac vertex b to a tube vertex a, is the crease between them.

    The iso-line of the lift out of the tube lands next to a (the lift is ~0 on the tube and only grows on
    the sac side), up to an edge off the crease: the neck comes out too wide by a fraction of the edge
    length (3 % at 0.1 mm on a 4 mm neck). Where the sac and the tube meet, the point of the chord a–b
    nearest the crease is where it is equally far from both: from the tube by b's lift (1−t)·lift_b, from the
    sac's tangent plane at b by t·d_a. The level is +lift on sac vertices and −d_a on the tube vertices
    next to them, so linear interpolation puts the zero there. ``lift`` in mm.
    """
    both = region[tri].all(axis=1)
    fn = np.cross(p[tri[both, 1]] - p[tri[both, 0]], p[tri[both, 2]] - p[tri[both, 0]])  # area-weighted
    vn = np.zeros_like(p)
    for k in range(3):
        np.add.at(vn, tri[both, k], fn)
    vn /= np.maximum(np.linalg.norm(vn, axis=1), 1e-300)[:, None]
    e = _mesh_edges(tri)
    cross = region[e[:, 0]] != region[e[:, 1]]
    first = region[e[cross, 0]]
    b = np.where(first, e[cross, 0], e[cross, 1])
    a = np.where(first, e[cross, 1], e[cross, 0])
    d = np.abs(np.einsum("ij,ij->i", p[a] - p[b], vn[b]))
    total, count = np.zeros(len(p)), np.zeros(len(p))
    np.add.at(total, a, d)
    np.add.at(count, a, 1.0)
    level = np.where(region, np.maximum(lift, 1e-9), -1.0)
    ring = count > 0
    level[ring] = -np.maximum(total[ring] / count[ring], 1e-9)
    return level


def _mesh_edges(tri: np.ndarray) -> np.ndarray:
    return np.unique(np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1), axis=0)


def sac_region(mesh: pv.PolyData, above: np.ndarray, seed_index: int) -> np.ndarray:
    """Points above the neck level connected to the dome seed, plus the islands they enclose.

    An island is a patch below the level with no path to a vessel opening (a dimple in the dome, or where a
    centerline strays close to the wall): it belongs to the sac, and leaving it out would give a second neck.
    """
    comp = _components(mesh, above)
    region = comp == comp[seed_index]
    rest = _components(mesh, ~region)
    rims = np.concatenate(boundary_loops(triangles(mesh)) or [np.zeros(0, int)])
    vessel = np.isin(rest, np.unique(rest[rims])) & (rest >= 0)
    return ~vessel


def detect_sac(
    surface: pv.PolyData,
    paths: list[Centerline],
    cfg: SacConfig = SacConfig(),
    dome_point: np.ndarray | None = None,
    neck_point: np.ndarray | None = None,
) -> SacDetection:
    """Sac wall, neck contour and point mask; hints override the automatic dome seed and neck level."""
    p = np.asarray(surface.points)
    dev, thresholds = tube_deviation(p, paths, cfg)
    if neck_point is not None:
        thresholds[:] = float(dev[np.argmin(np.linalg.norm(p - np.asarray(neck_point), axis=1))]) - 1.0
    if dome_point is not None:
        seed = int(np.argmin(np.linalg.norm(p - np.asarray(dome_point), axis=1)))
    else:
        if dev.max() < cfg.seed_deviation:
            raise NoAneurysmError(
                f"no aneurysm found: the wall never leaves the vessel tube by more than "
                f"{dev.max() - 1:.0%} of the radius (give a dome_point hint if there is one)"
            )
        seed = int(np.argmax(dev))
    work = pv.PolyData(p, surface.faces)
    region = sac_region(work, dev >= 1.0 + thresholds, seed)
    if neck_point is None and cfg.threshold_low < cfg.threshold:
        # Hysteresis: from the confidently detected sac, follow the wall down to a lower level, but only a
        # short way, so the neck lands near the real crease without the region leaking along the vessel.
        thresholds = thresholds - (cfg.threshold - cfg.threshold_low)
        r_local = float(np.median([np.median(c.radius) for c in paths]))
        near = cKDTree(p[region]).query(p, distance_upper_bound=cfg.hysteresis_band * r_local)[0] < np.inf
        region = sac_region(work, region | (near & (dev >= 1.0 + thresholds)), seed)
    level = dev - (1.0 + thresholds)
    # Cut along the iso-line only where the sac meets the vessel; islands stay in, other bulges stay out.
    tiny = 1e-6
    if cfg.crease_cut and neck_point is None:
        # lift out of the tube in mm: deviation above 1 times the radius of the governing tube sample
        pts, rad, _ = _tube_model(paths, cfg)
        dist, idx = cKDTree(pts).query(p, k=24, workers=-1)
        r_at = rad[idx][np.arange(len(p)), np.argmin(dist / rad[idx], axis=1)]
        level = crease_level(p, triangles(work), region, (dev - 1.0) * r_at)
        ring_vertices = (level < 0) & (level > -1.0)
    work.point_data["_level"] = np.where(region, np.maximum(level, tiny), np.minimum(level, -tiny))
    clipped = work.clip_scalar(scalars="_level", value=0.0, invert=False).extract_surface(algorithm="dataset_surface")
    piece = _piece_with(clipped.triangulate(), p[seed])
    t = triangles(piece)
    if len(t) < 20:
        raise GeometryError("sac isolation found too small a region; give a dome_point or neck_point hint")
    edges = piece.extract_feature_edges(
        boundary_edges=True, feature_edges=False, manifold_edges=False, non_manifold_edges=False
    )
    if cfg.crease_cut and neck_point is None:
        # The chord through the crease bridges the concave corner outside the lumen: put the neck points
        # back on the tube wall (radially from their tube sample, at the wall's own deviation next to them).
        v = np.array(piece.points, dtype=float)
        rim = np.unique(cKDTree(v).query(np.asarray(edges.points))[1])
        wall = float(np.median(dev[ring_vertices]))
        dq, iq = cKDTree(pts).query(v[rim], k=24, workers=-1)
        j = np.argmin(dq / rad[iq], axis=1)
        kq, dj = iq[np.arange(len(rim)), j], dq[np.arange(len(rim)), j]
        c = pts[kq]
        v[rim] = c + (v[rim] - c) * (wall * rad[kq] / np.maximum(dj, 1e-12))[:, None]
        piece = pv.PolyData(v, piece.faces)
        edges = piece.extract_feature_edges(
            boundary_edges=True, feature_edges=False, manifold_edges=False, non_manifold_edges=False
        )
    seg = np.asarray(edges.points)[np.asarray(edges.lines).reshape(-1, 3)[:, 1:]]
    return SacDetection(Sac(np.asarray(piece.points), t, seg), region.astype(np.uint8), dev, thresholds, p[seed])


def _tangent(cl: Centerline, i: int, span: float) -> np.ndarray:
    """Chord direction over ±span of arclength: robust against centerline wiggles at the neck."""
    s = cl.abscissa[i]
    a, b = cl.index_at(s - span), cl.index_at(s + span)
    v = cl.points[b] - cl.points[a]
    n = np.linalg.norm(v)
    return v / n if n > 0 else cl.tangent[i]


def split_index(a: Centerline, b: Centerline) -> int:
    """Index on path ``a`` where it leaves path ``b`` (distance > the local radius)."""
    d, _ = cKDTree(b.points).query(a.points)
    away = np.nonzero(d > a.radius)[0]
    return int(away[0]) if len(away) else len(a.points) - 1


def vessel_context(
    paths: list[Centerline],
    neck_centroid: np.ndarray,
    neck_segments: np.ndarray,
    kind: str | None,
    cfg: SacConfig = SacConfig(),
) -> tuple[str, VesselContext]:
    """Sidewall or bifurcation, and the parent/outflow directions and diameters the morphology needs."""
    radii = [robust_radius(c, cfg.radius_window) for c in paths]
    near = [c.nearest_index(neck_centroid) for c in paths]
    k0 = int(np.argmin([np.linalg.norm(c.points[i] - neck_centroid) for c, i in zip(paths, near)]))
    main, r_main = paths[k0], radii[k0]
    if kind is None:
        kind = "sidewall"
        if len(paths) > 1:
            others = [c for k, c in enumerate(paths) if k != k0]
            j = min(split_index(main, o) for o in others)
            reach = np.linalg.norm(neck_centroid - main.points[j])
            kind = "bifurcation" if reach < 3.0 * r_main[j] and near[k0] >= j - 2 else "sidewall"
    if kind == "sidewall":
        i = near[k0]
        s = main.abscissa[i]
        d1 = 2 * float(np.interp(s, main.abscissa, r_main))
        d2 = 2 * float(np.interp(s - 1.5 * d1, main.abscissa, r_main))
        neck_pts = neck_segments.reshape(-1, 3)
        distal = max(main.nearest_index(q) for q in neck_pts[:: max(1, len(neck_pts) // 200)])
        curv = float(np.median(main.curvature[main.index_at(s - d1) : main.index_at(s + d1) + 1]))
        ctx = VesselContext(_tangent(main, i, d1), (_tangent(main, distal, d1),), (d1 + d2) / 2, curv)
        return kind, ctx
    # bifurcation: the parent ends where the paths part; daughters start there
    j = min(split_index(main, c) for c in paths if c is not main)
    r_p = float(r_main[main.index_at(main.abscissa[j] - 2 * r_main[j])])
    s_p = main.abscissa[j] - 2 * r_p
    d1p = 2 * float(np.interp(s_p, main.abscissa, r_main))
    pairs = [(d1p, 2 * float(np.interp(s_p - 1.5 * d1p, main.abscissa, r_main)))]
    outflow = []
    for c, r in zip(paths, radii):
        js = min(split_index(c, o) for o in paths if o is not c)
        s0 = c.abscissa[js] + 2 * float(r[js])
        d1 = 2 * float(np.interp(s0, c.abscissa, r))
        pairs.append((d1, 2 * float(np.interp(s0 + 1.5 * d1, c.abscissa, r))))
        outflow.append(_tangent(c, c.index_at(s0), d1))
    # parent direction at the branch point: the paths bend apart symmetrically there, so average them
    inflow = np.mean([c.tangent[min(split_index(c, o) for o in paths if o is not c)] for c in paths], axis=0)
    inflow /= np.linalg.norm(inflow)
    curv = float(main.curvature[main.index_at(s_p)])
    return kind, VesselContext(inflow, tuple(outflow), float(np.mean([(a + b) / 2 for a, b in pairs])), curv)
