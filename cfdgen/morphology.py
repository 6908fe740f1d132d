"""Aneurysm morphology from a sac surface and its neck contour (HEMODYNAMICS.md §5). Pure numpy/scipy.

The same functions give the synthetic cohort's ground truth (on a high-resolution construction) and the
measured morphology of any surface (on a detected sac), so the two can only differ by what was detected.

Conventions (chosen where the literature is loose, and kept everywhere):
- the neck is the closed contour where the sac meets the parent vessel, given as line segments; its plane is
  the least-squares plane of the contour, its normal points to the dome;
- the sac is closed by the fan from the neck centroid to the contour: V is the volume of that closed body,
  S the sac wall area *without* the fan (so a hemisphere has NSI = 0); the convex hull's area in EI likewise
  excludes the fan area;
- size is the largest distance between two sac points (the "maximum diameter" of clinical scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, cKDTree

_SPHERE_CONST = (18.0 * np.pi) ** (1.0 / 3.0)


@dataclass(frozen=True, eq=False)
class Sac:
    """Sac wall triangles (outward normals) and the neck contour as segments, in mm."""

    vertices: np.ndarray  # (n, 3)
    triangles: np.ndarray  # (m, 3) int, oriented with normals out of the lumen
    neck_segments: np.ndarray  # (k, 2, 3)


@dataclass(frozen=True)
class Neck:
    centroid: np.ndarray
    normal: np.ndarray  # unit, towards the dome
    diameter: float
    area: float  # area of the fan spanning the contour


def _segment_weights(seg: np.ndarray):
    mid = seg.mean(axis=1)
    length = np.linalg.norm(seg[:, 1] - seg[:, 0], axis=1)
    return mid, length


def neck_from_segments(seg: np.ndarray, dome_points: np.ndarray) -> Neck:
    """Neck centroid, plane normal (towards ``dome_points``), diameter and spanning area."""
    seg = np.asarray(seg, float)
    if len(seg) < 3:
        raise ValueError("neck contour needs at least 3 segments")
    mid, w = _segment_weights(seg)
    c = (mid * w[:, None]).sum(0) / w.sum()
    cov = ((mid - c) * w[:, None]).T @ (mid - c)
    normal = np.linalg.eigh(cov)[1][:, 0]
    if np.mean((dome_points - c) @ normal) < 0:
        normal = -normal
    diameter = 2.0 * float((np.linalg.norm(mid - c, axis=1) * w).sum() / w.sum())
    area = 0.5 * float(np.linalg.norm(np.cross(seg[:, 0] - c, seg[:, 1] - c), axis=1).sum())
    return Neck(c, normal, diameter, area)


def triangle_areas(v: np.ndarray, t: np.ndarray) -> np.ndarray:
    return 0.5 * np.linalg.norm(np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]), axis=1)


def closed_volume(v: np.ndarray, t: np.ndarray, apex: np.ndarray) -> float:
    """Volume of the body bounded by the triangles and the fan from ``apex`` to their boundary.

    The fan triangles contain the apex, so they add nothing to Σ det(a−c, b−c, d−c)/6.
    """
    a, b, d = v[t[:, 0]] - apex, v[t[:, 1]] - apex, v[t[:, 2]] - apex
    return float(np.einsum("ij,ij->i", a, np.cross(b, d)).sum() / 6.0)


def _directions(dim: int, n: int) -> np.ndarray:
    if dim == 2:
        a = np.pi * np.arange(n) / n
        return np.stack([np.cos(a), np.sin(a)], axis=1)
    k = np.arange(n) + 0.5  # Fibonacci half-sphere
    z = k / n
    phi = np.pi * (1 + 5**0.5) * k
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def point_set_diameter(p: np.ndarray, brute_max: int = 1500) -> float:
    """Largest distance between two of the points.

    Exact on the convex hull when it is small; otherwise the largest pair among the extreme points of 4,000
    sampled directions (the diameter is the largest width, so this misses it by < 0.1 %, and the returned
    value is always a real pair distance).
    """
    p = np.asarray(p, float)
    if len(p) < 2:
        return 0.0
    try:
        p = p[ConvexHull(p).vertices]
    except Exception:  # degenerate (coplanar/collinear) input: use all points
        pass
    if len(p) <= brute_max:
        return float(np.linalg.norm(p[:, None, :] - p[None, :, :], axis=2).max())
    proj = _directions(p.shape[1], 4000) @ p.T  # rows contiguous: the reductions run along memory
    hi, lo = proj.argmax(axis=1), proj.argmin(axis=1)
    return float(np.linalg.norm(p[hi] - p[lo], axis=1).max())


def _plane_basis(n: np.ndarray):
    a = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(n, a)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(n, e1)


def max_slice_diameter(v: np.ndarray, t: np.ndarray, origin: np.ndarray, axis: np.ndarray, levels: int = 64) -> float:
    """Largest diameter of the sections of the surface by planes perpendicular to ``axis``."""
    h = (v - origin) @ axis
    edges = np.unique(np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), axis=1), axis=0)
    h0, h1 = h[edges[:, 0]], h[edges[:, 1]]
    e1, e2 = _plane_basis(axis)
    lo, hi = max(h.min(), 0.0), h.max()
    best = 0.0
    for level in lo + (np.arange(levels) + 0.5) / levels * (hi - lo):
        cross = (h0 - level) * (h1 - level) < 0
        if cross.sum() < 3:
            continue
        ea, eb = edges[cross, 0], edges[cross, 1]
        f = ((level - h[ea]) / (h[eb] - h[ea]))[:, None]
        pts = v[ea] + f * (v[eb] - v[ea])
        best = max(best, point_set_diameter(np.stack([pts @ e1, pts @ e2], axis=1)))
    return best


def _hull_without_neck(wall: np.ndarray, neck_pts: np.ndarray):
    """Convex hull of the sac and its area without the faces spanned by neck points alone (the ostium)."""
    on_neck = cKDTree(neck_pts).query(wall, distance_upper_bound=1e-9)[0] == 0.0
    pts = np.vstack([wall[~on_neck], neck_pts])
    hull = ConvexHull(pts)
    s = hull.simplices
    a = 0.5 * np.linalg.norm(np.cross(pts[s[:, 1]] - pts[s[:, 0]], pts[s[:, 2]] - pts[s[:, 0]]), axis=1)
    ostium = np.all(s >= int((~on_neck).sum()), axis=1)
    return hull, float(a[~ostium].sum())


def sac_shape(sac: Sac) -> dict:
    """Size, heights, width, neck, ratios, NSI/EI/UI, volume and areas of one sac (registry keys, mm)."""
    v, t = np.asarray(sac.vertices, float), np.asarray(sac.triangles, np.int64)
    used = np.unique(t)
    pts = v[used]
    neck = neck_from_segments(sac.neck_segments, pts)
    neck_pts = np.asarray(sac.neck_segments, float).reshape(-1, 3)
    heights = (pts - neck.centroid) @ neck.normal
    radial = np.linalg.norm(pts - neck.centroid, axis=1)
    height = float(heights.max())
    dome_point = pts[int(np.argmax(heights))]

    area = float(triangle_areas(v, t).sum())
    volume = closed_volume(v, t, neck.centroid)
    hull, hull_area = _hull_without_neck(pts, neck_pts)
    width = max_slice_diameter(v, t, neck.centroid, neck.normal)
    n_d = neck.diameter
    return {
        "size": point_set_diameter(np.vstack([pts, neck_pts])),
        "height": height,
        "height_max": float(radial.max()),
        "width": width,
        "neck_diameter": n_d,
        "aspect_ratio": height / n_d,
        "bottleneck_factor": width / n_d,
        "height_width_ratio": height / width if width > 0 else float("nan"),
        "nsi": 1.0 - _SPHERE_CONST * volume ** (2.0 / 3.0) / area,
        "ei": 1.0 - _SPHERE_CONST * hull.volume ** (2.0 / 3.0) / hull_area,
        "ui": 1.0 - volume / hull.volume,
        "sac_volume": volume,
        "sac_area": area,
        "neck_area": neck.area,
        "_neck": neck,
        "_dome_point": dome_point,
    }


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    c = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


@dataclass(frozen=True)
class VesselContext:
    """What the vessel-related parameters need, from a centerline or a construction."""

    inflow_direction: np.ndarray  # parent flow direction at the neck
    outflow_directions: tuple[np.ndarray, ...]  # downstream vessel direction(s) at the neck
    parent_diameter: float  # D_vessel = (D1 + D2)/2, averaged over the vessels at the neck
    parent_curvature: float  # 1/mm


def vessel_terms(shape: dict, ctx: VesselContext) -> dict:
    """Size ratio, inflow/outflow angles and parent curvature for a sac measured by :func:`sac_shape`."""
    axis = shape["_dome_point"] - shape["_neck"].centroid
    return {
        "size_ratio": shape["height_max"] / ctx.parent_diameter,
        "parent_diameter": ctx.parent_diameter,
        "inflow_angle": angle_deg(ctx.inflow_direction, axis),
        "outflow_angle": float(np.mean([angle_deg(d, axis) for d in ctx.outflow_directions])),
        "parent_curvature": ctx.parent_curvature,
    }


def public(values: dict) -> dict:
    """Drop the private helpers (keys starting with '_') and make plain floats for JSON."""
    return {k: float(v) for k, v in values.items() if not k.startswith("_")}


# Closed forms for a spherical cap cut by a plane (tests and documentation).
def sphere_cap_closed_form(radius: float, neck_radius: float, major: bool = True) -> dict:
    """Exact morphology of a spherical cap of sphere ``radius`` on a planar neck of ``neck_radius``.

    ``major`` selects the larger cap (centre on the dome side of the plane).
    """
    r, a = radius, neck_radius
    d = np.sqrt(r * r - a * a)
    h = r + d if major else r - d
    volume = np.pi * h * h * (3 * r - h) / 3.0
    area = 2 * np.pi * r * h
    width = 2 * r if major else 2 * a  # the equator lies in a major cap; the rim is widest in a minor one
    return {
        "height": h,
        "height_max": h if major else a,
        "width": width,
        "size": width,
        "neck_diameter": 2 * a,
        "aspect_ratio": h / (2 * a),
        "bottleneck_factor": width / (2 * a),
        "sac_volume": volume,
        "sac_area": area,
        "nsi": 1 - _SPHERE_CONST * volume ** (2 / 3) / area,
        "ei": 1 - _SPHERE_CONST * volume ** (2 / 3) / area,  # a cap is convex: hull = cap
        "ui": 0.0,
    }
