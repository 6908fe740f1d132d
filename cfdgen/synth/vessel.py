"""Parent vessels of the synthetic cohort: smooth random spline centerlines and their tube distance fields."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial import cKDTree

from cfdgen.centerline import Centerline, frenet_from_derivatives

SAMPLE_SPACING = 0.02  # mm between centerline samples: distance-field error ~ spacing²/(8 r) ≈ 3e-5 mm


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation of vector ``v`` about unit ``axis``."""
    axis = _unit(np.asarray(axis, float))
    return v * np.cos(angle) + np.cross(axis, v) * np.sin(angle) + axis * (axis @ v) * (1 - np.cos(angle))


def perpendicular(v: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """A unit vector perpendicular to ``v`` (random direction if ``rng`` is given)."""
    a = rng.normal(size=3) if rng is not None else (np.array([1.0, 0, 0]) if abs(v[0]) < 0.9 else np.array([0, 1.0, 0]))
    p = a - (a @ v) / (v @ v) * v
    return p / np.linalg.norm(p)


def spline_centerline(
    ctrl: np.ndarray, r_start: float, r_end: float, start_dir: np.ndarray | None, name: str
) -> Centerline:
    """Arclength-sampled cubic spline through control points, radius tapering linearly along the arc."""
    u = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ctrl, axis=0), axis=1))])
    # u is close to arclength, so a unit first derivative clamps the initial direction (branch angle)
    start = "not-a-knot" if start_dir is None else (1, _unit(np.asarray(start_dir, float)))
    end = "not-a-knot" if start_dir is None else (2, np.zeros(3))
    spl = CubicSpline(u, ctrl, bc_type=(start, end))
    uf = np.linspace(0, u[-1], 20000)
    sf = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(spl(uf), axis=0), axis=1))])
    s = np.arange(0.0, sf[-1], SAMPLE_SPACING)
    us = np.interp(s, sf, uf)
    tangent, curvature, torsion = frenet_from_derivatives(spl(us, 1), spl(us, 2), spl(us, 3))
    radius = r_start + (r_end - r_start) * s / s[-1]
    return Centerline(spl(us), radius, tangent, curvature, torsion, name=name)


def random_path(
    rng: np.random.Generator,
    start: np.ndarray,
    direction: np.ndarray,
    length: float,
    n_seg: int,
    turn_deg: tuple[float, float],
) -> np.ndarray:
    """Control points of a siphon-like path: segments turning by random angles about a slowly rotating axis."""
    d = _unit(np.asarray(direction, float))
    axis = perpendicular(d, rng)
    pts = [np.asarray(start, float)]
    step = length / n_seg
    for _ in range(n_seg):
        pts.append(pts[-1] + d * step)
        axis = rotate(axis, d, rng.uniform(-0.6, 0.6))  # torsion: the bending plane drifts
        axis = perpendicular(d) if abs(axis @ d) > 0.99 else _unit(axis - (axis @ d) * d)
        d = _unit(rotate(d, axis, np.radians(rng.uniform(*turn_deg))))
    return np.array(pts)


def self_clearance(cl: Centerline, gap: float) -> bool:
    """True when no two parts of the branch come closer than ``2 r + gap`` (tube does not touch itself)."""
    idx = np.arange(0, len(cl.points), max(1, int(0.4 / SAMPLE_SPACING)))
    p, s, r = cl.points[idx], cl.abscissa[idx], cl.radius[idx]
    d = np.linalg.norm(p[:, None] - p[None], axis=2)
    far_along = np.abs(s[:, None] - s[None]) > np.pi * (r[:, None] + r[None])
    return bool(np.all(d[far_along] > r[:, None].repeat(len(r), 1)[far_along] * 2 + gap))


@dataclass(frozen=True, eq=False)
class Branch:
    """A centerline and whether its ends continue straight past the domain (open ends of the vessel)."""

    centerline: Centerline
    open_start: bool
    open_end: bool


def _extended_samples(b: Branch, extension: float):
    cl = b.centerline
    pts, rad = [cl.points], [cl.radius]
    n = int(extension / SAMPLE_SPACING)
    steps = np.arange(1, n + 1)[:, None] * SAMPLE_SPACING
    if b.open_start:
        pts.insert(0, (cl.points[0] - cl.tangent[0] * steps)[::-1])
        rad.insert(0, np.full(n, cl.radius[0]))
    if b.open_end:
        pts.append(cl.points[-1] + cl.tangent[-1] * steps)
        rad.append(np.full(n, cl.radius[-1]))
    return np.concatenate(pts), np.concatenate(rad)


class VesselField:
    """Signed distance (approximate, exact zero set) to the union of tubes; negative inside the lumen."""

    def __init__(self, branches: list[Branch], extension: float):
        self.branches = branches
        self._trees = []
        for b in branches:
            pts, rad = _extended_samples(b, extension)
            self._trees.append((cKDTree(pts), rad))
        self.r_max = max(float(b.centerline.radius.max()) for b in branches)

    def __call__(self, p: np.ndarray, far: float = np.inf) -> np.ndarray:
        """Distance field at points ``p`` (n, 3); values beyond ``far`` outside are clipped to ``far``."""
        p = np.asarray(p, float)
        out = np.full(len(p), far if np.isfinite(far) else np.inf)
        bound = self.r_max + far if np.isfinite(far) else np.inf
        for tree, rad in self._trees:
            d, i = tree.query(p, distance_upper_bound=bound, workers=-1)
            hit = np.isfinite(d)
            out[hit] = np.minimum(out[hit], d[hit] - rad[i[hit]])
        return np.minimum(out, far) if np.isfinite(far) else out
