"""Low-fidelity WSS before any CFD (registry ``wss_lofi``): Poiseuille shear along the centerlines, corrected for
the curvature of the vessel. Pure numpy.

For every wall point the nearest centerline point gives the local radius R (the maximum inscribed sphere, mm),
the flow direction (the centerline tangent), the curvature κ and the mean flow Q_b of its branch; the estimate
is |τ| = g(De)·4μQ_b/(πR³) along the tangent projected onto the wall's tangent plane. 4μQ_b/(πR³) is steady
Poiseuille in a tube of radius R; g is the ratio of the friction factor of fully developed laminar flow in a
curved pipe to a straight one's, g = 1 + 0.033 (log₁₀ De)⁴ (Mishra & Gupta 1979, helical coils, 1 < De < 3·10³),
with the Dean number De = Re·√(Rκ) and Re = 2ρQ_b/(πRμ). In a straight tube g = 1 and the estimate is exact.
The correction matters: on the draft dataset (52 runs) it brings the error of the non-sac TAWSS from 43.7 % to
31.1 % (relative L2, mean over runs; benchmarks/lofi_accuracy.py); the bends there put the runs' median De at
45-200 (g ≈ 1.25-1.9; a one-off check on the 39 runs packed before, no benchmark writes it).

Points of the aneurysm sac are treated like the others but without the curvature factor (a wall point more than
``TUBE_DEVIATION_MAX`` radii from its centerline point is not on the tube the correlation describes): they
receive the parent's Poiseuille value of their nearest centerline point (the sac has no centerline of its own);
the network learns the sac's correction. Where the tangent is (nearly) normal to the wall the direction is
undefined and the vector is 0.

Branch flows: paths run inlet → outlet_k and share their common trunk; outlet k receives the fraction
r_k^n / Σ r_j^n of the inlet flow (r_k its opening radius, n the split exponent: 2 square law .. 3 Murray),
and a centerline point carries the sum of the fractions of every path that passes through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from cfdgen.centerline import Centerline

# Two paths pass through the same place when they are closer than this fraction of the local radius.
SHARED_PER_RADIUS = 0.25
# Recorded in each sample's provenance; samples made before the curvature factor have no such key (plain Poiseuille).
LOFI_MODEL = "poiseuille-dean"
# Projected tangents shorter than this (unit vectors) are treated as normal to the wall: direction undefined.
MIN_PROJECTION = 1e-3
# Wall points farther than this many local radii from their centerline point are off the tube (sac, junction):
# no curvature factor there. The result hardly depends on it: 1.05-1.5 changed the dataset's mean error by
# < 0.5 % (a one-off check on the 39 runs packed before the factor; no benchmark writes it).
TUBE_DEVIATION_MAX = 1.2


@dataclass(frozen=True, eq=False)
class CenterlineFlow:
    """Centerline points with what the low-fidelity model needs. Lengths in mm, flow in m³/s."""

    points: np.ndarray  # (m, 3) mm
    radius: np.ndarray  # (m,) mm, maximum inscribed sphere radius
    tangent: np.ndarray  # (m, 3) unit, flow direction
    flow: np.ndarray  # (m,) m³/s, mean flow of the branch through the point
    curvature: np.ndarray  # (m,) 1/mm


@dataclass(frozen=True, eq=False)
class LofiResult:
    wss: np.ndarray  # (n, 3) Pa, registry wss_lofi
    tube_deviation: np.ndarray  # (n,) 1, distance to the nearest centerline point / its radius
    nearest: np.ndarray  # (n,) index of the nearest centerline point


def outlet_fractions(outlet_radii: Sequence[float], exponent: float) -> np.ndarray:
    """Share of the inlet flow leaving through each outlet: r^n / Σ r^n."""
    r = np.asarray(outlet_radii, dtype=np.float64)
    if np.any(r <= 0):
        raise ValueError("outlet radii must be positive")
    w = r**exponent
    return w / w.sum()


def branch_flows(paths: Sequence[Centerline], fractions: Sequence[float], q_inlet: float) -> CenterlineFlow:
    """Stack the paths (one per outlet, in the order of ``fractions``) with the flow through each point."""
    if len(paths) != len(fractions):
        raise ValueError(f"{len(paths)} paths but {len(fractions)} outlet fractions")
    fractions = np.asarray(fractions, dtype=np.float64)
    trees = [cKDTree(p.points) for p in paths]
    pts, rad, tan, flow, curv = [], [], [], [], []
    for p in paths:
        share = np.zeros(len(p.points))
        for j, tree in enumerate(trees):
            d, _ = tree.query(p.points)
            share += np.where(d <= SHARED_PER_RADIUS * np.maximum(p.radius, 1e-12), fractions[j], 0.0)
        pts.append(p.points)
        rad.append(p.radius)
        tan.append(p.tangent)
        flow.append(q_inlet * share)
        curv.append(p.curvature)
    return CenterlineFlow(
        np.vstack(pts), np.concatenate(rad), np.vstack(tan), np.concatenate(flow), np.concatenate(curv)
    )


def dean_factor(dean: np.ndarray) -> np.ndarray:
    """Curved-to-straight ratio of the laminar friction factor (hence of the mean WSS at a given flow) at Dean
    number ``dean`` (Mishra & Gupta 1979); 1 for a straight pipe and below De = 1."""
    return 1.0 + 0.033 * np.log10(np.maximum(np.asarray(dean, dtype=np.float64), 1.0)) ** 4


def lofi_wss(points: np.ndarray, normals: np.ndarray, centerline: CenterlineFlow, mu: float, rho: float) -> LofiResult:
    """Curvature-corrected Poiseuille WSS vector (Pa) at wall ``points`` (mm) with unit ``normals``; ``mu`` in
    Pa·s, ``rho`` in kg/m³."""
    points = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    dist, idx = cKDTree(centerline.points).query(points)
    radius = np.maximum(centerline.radius[idx], 1e-9)  # mm
    r_m = radius * 1e-3
    q = centerline.flow[idx]
    reynolds = 2.0 * rho * q / (np.pi * r_m * mu)
    dean = reynolds * np.sqrt(np.clip(radius * centerline.curvature[idx], 0.0, 1.0))
    deviation = dist / radius
    factor = np.where(deviation <= TUBE_DEVIATION_MAX, dean_factor(dean), 1.0)
    magnitude = factor * 4.0 * mu * q / (np.pi * r_m**3)
    t = centerline.tangent[idx]
    proj = t - np.sum(t * normals, axis=1, keepdims=True) * normals
    length = np.linalg.norm(proj, axis=1)
    direction = np.where(length[:, None] > MIN_PROJECTION, proj / np.maximum(length, 1e-300)[:, None], 0.0)
    return LofiResult(magnitude[:, None] * direction, deviation, idx)
