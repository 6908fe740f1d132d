"""Where a wall point sits in the vessel tree (registry ``wall_context``): per-point, dimensionless descriptors
taken from the centerlines, for the hemodynamics surrogate. Pure numpy.

Why: off the aneurysm sac the CFD's TAWSS departs from the curvature-corrected Poiseuille estimate (channel 3)
mainly near junctions and branch ends and on the outer and inner walls of bends (a one-off regression of
log(CFD TAWSS / |channel 3|) on centerline features, Nov 2026, README "What limits ε"): entrance and bifurcation
flow that a local tube model cannot know, and that a network seeing only coordinates learns little of from a few
dozen geometries. These descriptors tell it directly.

Columns (CONTEXT_NAMES), lengths in units of the local radius R of the point's nearest centerline point:

- ``branch_start``: asinh of the arclength since the inlet or the last junction upstream (where paths part);
  negative on the inlet's flow extension.
- ``branch_end``: asinh of the arclength to the next junction downstream or the outlet.
- ``curvature``: κR of the centerline (clipped to [0, 1]).
- ``upstream_curvature``: |κ| averaged upstream with an exponential kernel of UPSTREAM_RADII radii, times R
  (the Dean vortices build up and decay over a few diameters after a bend).
- ``outer_wall``: −R κ⃗·r̂ with κ⃗ = dT/ds (pointing to the bend's centre) and r̂ the unit vector from the
  centerline to the wall point: +κR on the outer wall of a bend, −κR on the inner, 0 in a straight tube.
- ``upstream_outer_wall``: the same with the upstream-averaged κ⃗.
- ``tube_deviation``: distance to the nearest centerline point / R (1 on a tube's wall; above it on a sac or in
  a junction's corner).
- ``sac_distance``: asinh of the distance to the nearest sac point / R, capped at SAC_DISTANCE_CAP radii (the cap
  when there is no sac).
- ``taper``: dR/ds along the centerline (clipped to ±TAPER_CLIP).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from cfdgen import registry
from cfdgen.centerline import Centerline
from cfdgen.lofi import SHARED_PER_RADIUS  # two paths run together (a shared trunk): the branch-flow rule

CONTEXT_NAMES: tuple[str, ...] = registry.FIELDS["wall_context"].components
# Memory of the upstream curvature, in local radii: the secondary flow of a bend settles over 2-3 diameters.
UPSTREAM_RADII = 5.0
SAC_DISTANCE_CAP = 30.0
TAPER_CLIP = 0.5


def _segment_bounds(shared: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per centerline point, the abscissa where its run of equal sharing pattern starts and ends (junctions)."""
    change = np.flatnonzero(np.any(shared[1:] != shared[:-1], axis=1)) + 1
    cuts = np.concatenate([[0], change, [len(s) - 1]])
    seg = np.searchsorted(change, np.arange(len(s)), side="right")
    return s[cuts[seg]], s[cuts[seg + 1]]


def _upstream_average(values: np.ndarray, s: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Exponential moving average along the path (row 0 first) with a memory of UPSTREAM_RADII local radii."""
    out = np.empty_like(values)
    out[0] = values[0]
    for i in range(1, len(s)):
        w = np.exp(-(s[i] - s[i - 1]) / max(UPSTREAM_RADII * radius[i], 1e-9))
        out[i] = w * out[i - 1] + (1.0 - w) * values[i]
    return out


def _path_arrays(paths: Sequence[Centerline]) -> dict[str, np.ndarray]:
    """Every path's points with abscissa, junction bounds, curvature vectors and taper, stacked."""
    trees = [cKDTree(p.points) for p in paths]
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("points", "tangent", "radius", "s", "start", "end", "kvec", "kvec_up", "taper")
    }
    for p in paths:
        s = p.abscissa
        r = np.maximum(np.asarray(p.radius, dtype=np.float64), 1e-9)
        shared = np.column_stack([t.query(p.points)[0] <= SHARED_PER_RADIUS * r for t in trees])
        start, end = _segment_bounds(shared, s)
        if len(s) > 2:
            s_strict = s + 1e-9 * np.arange(len(s))  # repeated points must not divide by zero
            dt = np.gradient(np.asarray(p.tangent, dtype=np.float64), s_strict, axis=0)
            # direction from dT/ds, size from the path's own (smoothed) curvature
            kvec = dt / np.maximum(np.linalg.norm(dt, axis=1), 1e-12)[:, None] * np.asarray(p.curvature)[:, None]
            taper = np.gradient(r, s_strict)
        else:
            kvec, taper = np.zeros((len(s), 3)), np.zeros(len(s))
        for k, v in (
            ("points", p.points),
            ("tangent", p.tangent),
            ("radius", r),
            ("s", s),
            ("start", start),
            ("end", end),
            ("kvec", kvec),
            ("kvec_up", _upstream_average(kvec, s, r)),
            ("taper", taper),
        ):
            cols[k].append(np.asarray(v, dtype=np.float64))
    return {k: np.concatenate(v) for k, v in cols.items()}


def wall_context(points: np.ndarray, sac: np.ndarray | None, paths: Sequence[Centerline]) -> np.ndarray:
    """(n, len(CONTEXT_NAMES)) descriptors of wall ``points`` (mm) given the sac mask and the inlet → outlet
    centerline paths (mm, flow direction)."""
    if not paths:
        raise ValueError("no centerline paths")
    points = np.asarray(points, dtype=np.float64)
    a = _path_arrays(paths)
    dist, i = cKDTree(a["points"]).query(points)
    radius = a["radius"][i]
    offset = points - a["points"][i]
    # past a path's ends (the flow extensions) the nearest point is the end point: project along its tangent
    s = a["s"][i] + np.einsum("ij,ij->i", offset, a["tangent"][i])
    radial = offset - np.einsum("ij,ij->i", offset, a["tangent"][i])[:, None] * a["tangent"][i]
    rhat = radial / np.maximum(np.linalg.norm(radial, axis=1), 1e-12)[:, None]
    kappa_r = np.linalg.norm(a["kvec"][i], axis=1) * radius
    sac_mask = np.zeros(len(points), bool) if sac is None else np.asarray(sac).astype(bool)
    if sac_mask.any():
        sac_d = cKDTree(points[sac_mask]).query(points)[0] / radius
    else:
        sac_d = np.full(len(points), SAC_DISTANCE_CAP)
    cols = {
        "branch_start": np.arcsinh((s - a["start"][i]) / radius),
        "branch_end": np.arcsinh((a["end"][i] - s) / radius),
        "curvature": np.clip(kappa_r, 0.0, 1.0),
        "upstream_curvature": np.clip(np.linalg.norm(a["kvec_up"][i], axis=1) * radius, 0.0, 1.0),
        "outer_wall": np.clip(-radius * np.einsum("ij,ij->i", a["kvec"][i], rhat), -1.0, 1.0),
        "upstream_outer_wall": np.clip(-radius * np.einsum("ij,ij->i", a["kvec_up"][i], rhat), -1.0, 1.0),
        "tube_deviation": dist / radius,
        "sac_distance": np.arcsinh(np.minimum(sac_d, SAC_DISTANCE_CAP)),
        "taper": np.clip(a["taper"][i], -TAPER_CLIP, TAPER_CLIP),
    }
    # 1e-3: more than a network input needs, and about the float16 precision the samples store it in
    return np.round(np.column_stack([cols[k] for k in CONTEXT_NAMES]), 3)
