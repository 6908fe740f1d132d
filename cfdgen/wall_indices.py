"""Wall indices from a WSS time series (HEMODYNAMICS.md §4). Pure numpy: no files, no VTK.

Conventions
- ``tau``: (n_t, n_faces, 3) WSS vectors in Pa at times ``t`` (s), ``t`` increasing, uniform or not.
- Time integrals use one set of quadrature weights (``time_rule``):
  * **periodic rectangle rule** when the samples are uniform and span a whole number of periods ``period``:
    either the last sample repeats the first phase (t_end − t_0 = kT; the last sample is dropped) or it is one
    step short of it (t_end − t_0 = kT − Δt). For periodic data this is spectrally accurate, whereas the
    trapezoid rule would count the repeated phase twice when it is not exactly equal to the first;
  * **trapezoid rule** over [t_0, t_end] otherwise (a window that is not a whole number of cycles).
  All averages divide by the window length T of that rule.
- TWSSG integrates |∂τ/∂t| of the piecewise-linear interpolant of the samples, i.e. Σ|τ_{i+1} − τ_i| / T (the total
  variation of τ over the window, closing the cycle in the periodic case); exact when the samples include the
  turning points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cfdgen.reference import LSA_FRACTION

# Relative tolerance on time steps and window length when deciding whether the periodic rule applies.
PERIODIC_RTOL = 1e-3
# Shear (Pa) below which RRT and ECAP are capped: RRT = 1/|mean τ| → ∞ where OSI → 0.5 (fully oscillatory
# shear) and ECAP = OSI/TAWSS → ∞ on stagnant wall. The cap keeps both finite (≤ 1e4 1/Pa) and learnable in log space.
MIN_SHEAR = 1e-4


@dataclass(frozen=True)
class TimeRule:
    """Quadrature weights over the recorded window: ∫f dt ≈ Σ weights[i]·f[i] (weights sum to ``duration``)."""

    weights: np.ndarray  # (n_t,) s
    duration: float  # s, the window length T the averages divide by
    name: str  # "periodic-rectangle" | "trapezoid"
    wrap: bool  # periodic and the last sample is one step before the first phase: close the cycle for TWSSG


@dataclass(frozen=True)
class WallIndices:
    """Per-face time-averaged indices (registry keys in comments)."""

    tawss: np.ndarray  # tawss, Pa
    osi: np.ndarray  # osi, 1
    rrt: np.ndarray  # rrt, 1/Pa
    ecap: np.ndarray  # ecap, 1/Pa
    twssg: np.ndarray  # twssg, Pa/s
    wss_mean: np.ndarray  # wss_mean, (n, 3) Pa
    tap: np.ndarray | None  # tap, Pa (None without a pressure series)
    rule: TimeRule


def time_rule(t: np.ndarray, period: float | None = None, rtol: float = PERIODIC_RTOL) -> TimeRule:
    """Quadrature weights for samples at ``t``; the periodic rectangle rule when it applies (module doc)."""
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or len(t) < 2:
        raise ValueError(f"need at least two sample times, got {t.shape}")
    dt = np.diff(t)
    if np.any(dt <= 0):
        raise ValueError("sample times must be strictly increasing")
    span = float(t[-1] - t[0])
    step = float(dt.mean())
    uniform = bool(np.all(np.abs(dt - step) <= rtol * step))
    if period and period > 0 and uniform:
        closed = span / period  # last sample repeats the first phase
        open_ = (span + step) / period  # last sample is one step before it
        for cycles, drop_last in ((closed, True), (open_, False)):
            k = round(cycles)
            if k >= 1 and abs(cycles - k) <= rtol * max(1.0, cycles) + rtol * step / period:
                w = np.full(len(t), step)
                if drop_last:
                    w[-1] = 0.0
                return TimeRule(w, float(w.sum()), "periodic-rectangle", wrap=not drop_last)
    w = np.zeros(len(t))
    w[:-1] += dt / 2
    w[1:] += dt / 2
    return TimeRule(w, span, "trapezoid", wrap=False)


def time_average(values: np.ndarray, rule: TimeRule) -> np.ndarray:
    """(1/T)∫ values dt along axis 0."""
    return np.tensordot(rule.weights, np.asarray(values, dtype=np.float64), axes=(0, 0)) / rule.duration


def twssg(tau: np.ndarray, rule: TimeRule) -> np.ndarray:
    """(1/T)∫|∂τ/∂t| dt of the piecewise-linear interpolant: total variation of τ over the window / T."""
    tau = np.asarray(tau, dtype=np.float64)
    total = np.linalg.norm(np.diff(tau, axis=0), axis=-1).sum(axis=0)
    if rule.wrap:  # samples stop one step short of the first phase: the last interval runs back to it
        total = total + np.linalg.norm(tau[0] - tau[-1], axis=-1)
    return total / rule.duration


def wall_indices(
    tau: np.ndarray,
    t: np.ndarray,
    period: float | None = None,
    pressure: np.ndarray | None = None,
    min_shear: float = MIN_SHEAR,
) -> WallIndices:
    """TAWSS, OSI, RRT, ECAP, TWSSG, mean WSS vector (and TAP from a (n_t, n) pressure series in Pa)."""
    tau = np.asarray(tau, dtype=np.float64)
    if tau.ndim != 3 or tau.shape[-1] != 3 or tau.shape[0] != len(t):
        raise ValueError(f"tau must be (n_t={len(t)}, n, 3), got {tau.shape}")
    rule = time_rule(t, period)
    tawss = time_average(np.linalg.norm(tau, axis=-1), rule)
    mean = time_average(tau, rule)
    mean_mag = np.linalg.norm(mean, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(tawss > 0, mean_mag / tawss, 1.0)  # no shear at all: no oscillation either
    osi = np.clip(0.5 * (1.0 - ratio), 0.0, 0.5)  # rounding can leave |mean| a hair above TAWSS
    # (1 − 2·OSI)·TAWSS is |mean τ| itself; the floor keeps RRT finite where the shear fully oscillates.
    rrt = 1.0 / np.maximum((1.0 - 2.0 * osi) * tawss, min_shear)
    ecap = osi / np.maximum(tawss, min_shear)
    tap = None if pressure is None else time_average(pressure, rule)
    return WallIndices(tawss, osi, rrt, ecap, twssg(tau, rule), mean, tap, rule)


# ---------------------------------------------------------------- surfaces


def fan_triangles(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangles (m, 3) of a VTK flat face array ``[n, i0, .., i_{n-1}, n, ...]`` by fan splitting, and the
    polygon each came from (m,)."""
    faces = np.asarray(faces, dtype=np.int64)
    tris, parent = [], []
    i = 0
    sizes = []
    while i < len(faces):  # one pass to find sizes; polygons of one size are then split vectorised
        n = int(faces[i])
        sizes.append((i, n))
        i += n + 1
    starts = np.array([s for s, _ in sizes], dtype=np.int64)
    counts = np.array([n for _, n in sizes], dtype=np.int64)
    for n in np.unique(counts):
        sel = np.nonzero(counts == n)[0]
        ids = faces[starts[sel, None] + 1 + np.arange(n)[None, :]]  # (p, n)
        for j in range(1, n - 1):
            tris.append(ids[:, [0, j, j + 1]])
            parent.append(sel)
    if not tris:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    return np.concatenate(tris), np.concatenate(parent)


def triangle_gradients(points: np.ndarray, tri: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In-surface gradient of point ``values`` (n, c) on each triangle, (m, c, 3), and triangle areas (m,).

    Linear interpolation on a triangle has the gradient Σ_k f_k ∇φ_k with ∇φ_k = n̂ × e_k / (2A) (e_k the edge
    opposite vertex k, counter-clockwise): it lies in the triangle's plane, so it is the tangential (surface)
    gradient by construction, exact for fields that are linear on the surface.
    """
    p = np.asarray(points, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    cross = np.cross(b - a, c - a)
    twice_area = np.linalg.norm(cross, axis=1)
    safe = np.maximum(twice_area, 1e-300)
    nhat = cross / safe[:, None]
    grads = np.zeros((len(tri), v.shape[1], 3))
    for k, (e0, e1) in enumerate(((b, c), (c, a), (a, b))):  # edge opposite vertex k
        dphi = np.cross(nhat, e1 - e0) / safe[:, None]
        grads += v[tri[:, k]][:, :, None] * dphi[:, None, :]
    grads[twice_area <= 0] = 0.0
    return grads, twice_area / 2


def wssg(points: np.ndarray, faces: np.ndarray, wss_mean_points: np.ndarray) -> np.ndarray:
    """WSSG per polygon of a surface: Frobenius norm of the in-surface gradient of the time-averaged WSS vector.

    ``points`` in m gives Pa/m. The point values are interpolated linearly on a fan triangulation; each
    polygon gets the area-weighted mean of its triangles' gradient tensors (3 components × 3 tangential
    derivatives), whose Frobenius norm √(Σ_ij (∂τ_i/∂x_j)²) is the magnitude. This is coordinate-free; the
    often-quoted √((∂τ_p/∂p)² + (∂τ_q/∂q)²) of flow-aligned axes keeps only two of these entries.
    """
    tri, parent = fan_triangles(faces)
    grads, area = triangle_gradients(points, tri, wss_mean_points)
    n_faces = int(parent.max()) + 1 if len(parent) else 0
    acc = np.zeros((n_faces, grads.shape[1] * 3))
    np.add.at(acc, parent, grads.reshape(len(tri), -1) * area[:, None])
    face_area = np.bincount(parent, weights=area, minlength=n_faces)
    acc /= np.maximum(face_area, 1e-300)[:, None]
    return np.linalg.norm(acc, axis=1)


def face_areas_normals(points: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area (m² if points in m) and unit normal (Newell, winding order kept) of every polygon."""
    tri, parent = fan_triangles(faces)
    p = np.asarray(points, dtype=np.float64)
    cross = np.cross(p[tri[:, 1]] - p[tri[:, 0]], p[tri[:, 2]] - p[tri[:, 0]])
    n_faces = int(parent.max()) + 1 if len(parent) else 0
    vec = np.zeros((n_faces, 3))
    np.add.at(vec, parent, cross / 2)
    area = np.linalg.norm(vec, axis=1)
    return area, vec / np.maximum(area, 1e-300)[:, None]


def tangential(vectors: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Remove the component along the unit ``normals`` (last axis 3; broadcasts over leading time axes)."""
    return vectors - np.sum(vectors * normals, axis=-1, keepdims=True) * normals


# ---------------------------------------------------------------- parent artery and sac


@dataclass(frozen=True)
class ParentConfig:
    """Which wall counts as "parent artery near the neck": outside the sac, at a distance from the neck centroid
    between ``shell[0]`` and ``shell[1]`` neck radii. The inner bound skips the neck rim, whose shear is the
    disturbed inflow jet rather than the parent's; the outer bound stays near the aneurysm."""

    shell: tuple[float, float] = (1.0, 3.0)
    lsa_fraction: float = LSA_FRACTION  # Xiang 2011 (unverified threshold): expose in config


@dataclass(frozen=True)
class SacSummary:
    """Area-weighted sac-level quantities (NaN where there is no sac)."""

    parent_tawss: float  # Pa, area-mean TAWSS of the parent region (the nTAWSS normaliser)
    parent_area: float  # area units of the input
    parent_region: str  # how the parent region was chosen
    sac_area: float
    sac_tawss: float  # Pa
    sac_ntawss: float  # 1
    sac_osi_mean: float  # 1
    sac_osi_max: float  # 1
    lsa: float  # 1, fraction of the sac area with TAWSS < lsa_fraction × parent_tawss
    lsa_threshold: float  # Pa


def parent_mask(
    centers: np.ndarray,
    sac: np.ndarray,
    neck_centroid: np.ndarray | None,
    neck_radius: float | None,
    config: ParentConfig = ParentConfig(),
) -> tuple[np.ndarray, str]:
    """Faces of the parent artery near the neck, with a description. Falls back to all non-sac wall when there is
    no neck or the shell holds no face (a plain pipe, or a shell beyond the model)."""
    outside = ~np.asarray(sac, dtype=bool)
    if neck_centroid is not None and neck_radius and neck_radius > 0:
        d = np.linalg.norm(np.asarray(centers) - np.asarray(neck_centroid), axis=1) / neck_radius
        lo, hi = config.shell
        m = outside & (d >= lo) & (d <= hi)
        if m.any():
            return m, f"non-sac wall {lo:g}-{hi:g} neck radii from the neck centroid"
    return outside, "all non-sac wall (no neck or no wall in the neck shell)"


def _mean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(x * w) / np.sum(w)) if np.sum(w) > 0 else float("nan")


def sac_summary(
    tawss: np.ndarray,
    osi: np.ndarray,
    area: np.ndarray,
    centers: np.ndarray,
    sac: np.ndarray,
    neck_centroid: np.ndarray | None = None,
    neck_radius: float | None = None,
    config: ParentConfig = ParentConfig(),
) -> tuple[np.ndarray, SacSummary]:
    """nTAWSS per face (TAWSS / parent mean) and the sac summary. Inputs per face; ``sac`` boolean/0-1."""
    sac = np.asarray(sac) > 0.5
    parent, region = parent_mask(centers, sac, neck_centroid, neck_radius, config)
    parent_tawss = _mean(tawss[parent], area[parent])
    ntawss = tawss / parent_tawss if parent_tawss > 0 else np.full_like(tawss, np.nan)
    threshold = config.lsa_fraction * parent_tawss
    sa = area[sac]
    has_sac = bool(sac.any())
    summary = SacSummary(
        parent_tawss=parent_tawss,
        parent_area=float(area[parent].sum()),
        parent_region=region,
        sac_area=float(sa.sum()),
        sac_tawss=_mean(tawss[sac], sa),
        sac_ntawss=_mean(ntawss[sac], sa),
        sac_osi_mean=_mean(osi[sac], sa),
        sac_osi_max=float(osi[sac].max()) if has_sac else float("nan"),
        lsa=float(sa[tawss[sac] < threshold].sum() / sa.sum()) if has_sac else float("nan"),
        lsa_threshold=threshold,
    )
    return ntawss, summary
