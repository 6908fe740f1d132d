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

from cfdgen.centerline import Centerline
from cfdgen.errors import GeometryError
from cfdgen.morphology import Sac, VesselContext
from cfdgen.surface import triangles

DEVIATION = "tube_deviation"


@dataclass(frozen=True)
class SacConfig:
    threshold: float = 0.06  # iso-level above the tube wall (fraction of the radius) that defines the neck
    radius_window: float = 4.0  # running-median window of the tube radius, in local radii
    seed_deviation: float = 1.6  # a sac must reach this far out of the tube (else: no aneurysm found)


@dataclass(frozen=True, eq=False)
class SacDetection:
    sac: Sac
    point_mask: np.ndarray  # (n_points,) uint8 on the input surface
    deviation: np.ndarray  # (n_points,)
    threshold: float
    dome_seed: np.ndarray


def robust_radius(cl: Centerline, window: float) -> np.ndarray:
    """Running median of the inscribed-sphere radius over ``window`` local radii of arclength."""
    step = max(float(np.median(np.diff(cl.abscissa))), 1e-6)
    size = max(3, int(window * float(np.median(cl.radius)) / step) | 1)
    return median_filter(cl.radius, size=size, mode="nearest")


def tube_deviation(points: np.ndarray, paths: list[Centerline], cfg: SacConfig) -> np.ndarray:
    pts = np.vstack([c.points for c in paths])
    rad = np.concatenate([robust_radius(c, cfg.radius_window) for c in paths])
    dist, idx = cKDTree(pts).query(points, workers=-1)
    return dist / rad[idx]


def _piece_with(mesh: pv.PolyData, seed: np.ndarray) -> pv.PolyData:
    conn = mesh.connectivity("all")
    region = conn.point_data["RegionId"][conn.find_closest_point(seed)]
    return conn.extract_values(region, scalars="RegionId").extract_surface(algorithm="dataset_surface")


def _region_mask(mesh: pv.PolyData, above: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Points above the level that are connected (through such points) to the dome seed."""
    mask = np.zeros(mesh.n_points, np.uint8)
    mesh = mesh.copy()
    mesh.point_data["_pid"] = np.arange(mesh.n_points)
    sub = mesh.extract_points(above, adjacent_cells=False, include_cells=True)
    if sub.n_points == 0:
        return mask
    conn = sub.connectivity("closest", closest_point=seed)
    mask[np.asarray(conn.point_data["_pid"])] = 1
    return mask


def detect_sac(
    surface: pv.PolyData,
    paths: list[Centerline],
    cfg: SacConfig = SacConfig(),
    dome_point: np.ndarray | None = None,
    neck_point: np.ndarray | None = None,
) -> SacDetection:
    """Sac wall, neck contour and point mask; hints override the automatic dome seed and neck level."""
    p = np.asarray(surface.points)
    dev = tube_deviation(p, paths, cfg)
    threshold = cfg.threshold
    if neck_point is not None:
        threshold = float(dev[np.argmin(np.linalg.norm(p - np.asarray(neck_point), axis=1))]) - 1.0
    if dome_point is not None:
        seed = p[np.argmin(np.linalg.norm(p - np.asarray(dome_point), axis=1))]
    else:
        if dev.max() < cfg.seed_deviation:
            raise GeometryError(
                f"no aneurysm found: the wall never leaves the vessel tube by more than "
                f"{dev.max() - 1:.0%} of the radius (give a dome_point hint if there is one)"
            )
        seed = p[int(np.argmax(dev))]
    work = pv.PolyData(p, surface.faces)
    work.point_data["_level"] = dev - (1.0 + threshold)
    clipped = work.clip_scalar(scalars="_level", value=0.0, invert=False).extract_surface(algorithm="dataset_surface")
    piece = _piece_with(clipped.triangulate(), seed)
    t = triangles(piece)
    if len(t) < 20:
        raise GeometryError("sac isolation found too small a region; give a dome_point or neck_point hint")
    edges = piece.extract_feature_edges(
        boundary_edges=True, feature_edges=False, manifold_edges=False, non_manifold_edges=False
    )
    seg = np.asarray(edges.points)[np.asarray(edges.lines).reshape(-1, 3)[:, 1:]]
    mask = _region_mask(work, dev >= 1.0 + threshold, seed)
    return SacDetection(Sac(np.asarray(piece.points), t, seg), mask, dev, threshold, seed)


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
    inflow = _tangent(main, main.index_at(s_p), d1p)
    curv = float(main.curvature[main.index_at(s_p)])
    return kind, VesselContext(inflow, tuple(outflow), float(np.mean([(a + b) / 2 for a, b in pairs])), curv)
