"""High-risk wall regions on the aneurysm sac, labelled from wall fields (CFD or surrogate). Pure numpy.

Categories (Meng et al., AJNR 2014: two hemodynamic pathways of aneurysm growth and rupture):
- ``low_wss_high_osi`` — low, oscillating shear: TAWSS below ``low_fraction`` × the parent-artery mean and OSI
  above ``osi_threshold``; associated with inflammatory-cell-mediated wall degeneration of large, irregular sacs.
  The fraction defaults to Xiang 2011's low-shear-area threshold (10 %); the OSI threshold to 0.1, a value common
  in the literature but not standardised (both configurable).
- ``impingement`` — high shear with a positive spatial gradient along the flow: TAWSS above ``high_fraction`` ×
  the parent mean and ∂TAWSS/∂s > 0 along the mean WSS direction (flow accelerating over the wall); associated with
  mural-cell-mediated destructive remodelling of small sacs and blebs.
Only sac points are labelled; 0 = none. Points are evenly spaced, so fractions of points are fractions of area.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial import cKDTree

from surrogate.metrics import parent_mask

CATEGORIES = ("none", "low_wss_high_osi", "impingement")


@dataclass(frozen=True)
class RegionConfig:
    low_fraction: float = 0.1  # × parent-artery mean TAWSS (Xiang 2011 LSA)
    osi_threshold: float = 0.1
    high_fraction: float = 1.0  # × parent-artery mean TAWSS
    gradient_neighbours: int = 12  # points in the local least-squares gradient

    def to_dict(self) -> dict:
        return asdict(self)


def streamwise_gradient(points: np.ndarray, values: np.ndarray, direction: np.ndarray, k: int = 12) -> np.ndarray:
    """∂values/∂s along ``direction`` (unit or not; zero vectors give 0) at every point: a least-squares plane fit of
    the k nearest neighbours' values (the surface is locally flat at the cloud's spacing)."""
    pts = np.asarray(points, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    k = min(k, len(pts))
    _, idx = cKDTree(pts).query(pts, k=k)
    d = pts[idx] - pts[:, None, :]  # (n, k, 3)
    dv = v[idx] - v[:, None]
    # minimum-norm solution of d·g = dv per point: the component normal to the surface is left at 0
    g = np.einsum("nij,nj->ni", np.linalg.pinv(d, rcond=1e-6), dv)
    u = np.asarray(direction, dtype=np.float64)
    norm = np.linalg.norm(u, axis=1)
    u = np.where(norm[:, None] > 0, u / np.maximum(norm, 1e-300)[:, None], 0.0)
    return np.einsum("ni,ni->n", g, u)


def label_regions(
    points: np.ndarray,
    sac: np.ndarray,
    tawss: np.ndarray,
    osi: np.ndarray,
    wss_mean: np.ndarray,
    parent_diameter: float,
    cfg: RegionConfig | None = None,
) -> np.ndarray:
    """Per-point category index into CATEGORIES (0 outside the sac or without a parent region)."""
    cfg = cfg or RegionConfig()
    sac = np.asarray(sac, dtype=bool)
    labels = np.zeros(len(points), dtype=np.int64)
    parent = parent_mask(points, sac, parent_diameter) if np.isfinite(parent_diameter) else np.zeros_like(sac)
    if not sac.any() or not parent.any():
        return labels
    p_mean = float(np.mean(tawss[parent]))
    low = sac & (tawss < cfg.low_fraction * p_mean) & (osi > cfg.osi_threshold)
    grad = streamwise_gradient(points, tawss, wss_mean, cfg.gradient_neighbours)
    high = sac & (tawss > cfg.high_fraction * p_mean) & (grad > 0)
    labels[low] = 1
    labels[high & ~low] = 2
    return labels


def region_fractions(labels: np.ndarray, sac: np.ndarray) -> dict[str, float]:
    """Share of the sac area in each risk category."""
    sac = np.asarray(sac, dtype=bool)
    n = max(int(sac.sum()), 1)
    return {name: float(np.sum((labels == i) & sac) / n) for i, name in enumerate(CATEGORIES) if i > 0}


def iou(pred: np.ndarray, true: np.ndarray, category: int) -> float | None:
    """Intersection over union of one category; None when neither has it (nothing to compare)."""
    a, b = np.asarray(pred) == category, np.asarray(true) == category
    union = int(np.sum(a | b))
    return None if union == 0 else float(np.sum(a & b) / union)
