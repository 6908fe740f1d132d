"""Error measures of predicted wall fields and the sac-level quantities they feed. Pure numpy.

Point clouds are evenly spaced (farthest-point sampling), so point means stand in for area means.

- ε (relative L2): ‖pred − true‖₂ / ‖true‖₂ over the cloud (vectors: the Euclidean norm of each point's error).
- NMAE: mean |pred − true| / (max(true) − min(true)).
- max-normalised L2: RMS(pred − true) / max |true| (the measure of the RHSIA paper in the reference).
- MAE: mean |pred − true| in the field's unit (the OSI headline).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

LSA_FRACTION = 0.1  # LSA: sac area with TAWSS < 10 % of the parent-artery mean (HEMODYNAMICS.md §6, Xiang 2011)
PARENT_REACH = 1.0  # parent region: non-sac points within this many parent diameters of the sac
PARENT_INPUT = "morph:parent_diameter"


def _err(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} differ in shape")
    if p.ndim == 2:
        return np.linalg.norm(p - t, axis=1), np.linalg.norm(t, axis=1)
    return np.abs(p - t), np.abs(t)


def rel_l2(pred: np.ndarray, true: np.ndarray) -> float:
    e, t = _err(pred, true)
    return float(np.sqrt(np.sum(e**2)) / max(np.sqrt(np.sum(t**2)), 1e-300))


def nmae(pred: np.ndarray, true: np.ndarray) -> float:
    e, t = _err(pred, true)
    span = float(np.max(t) - np.min(t)) if np.asarray(true).ndim == 1 else float(np.max(t))
    return float(np.mean(e) / max(span, 1e-300))


def max_norm_l2(pred: np.ndarray, true: np.ndarray) -> float:
    e, t = _err(pred, true)
    return float(np.sqrt(np.mean(e**2)) / max(float(np.max(t)), 1e-300))


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    e, _ = _err(pred, true)
    return float(np.mean(e))


FIELD_METRICS = {"rel_l2": rel_l2, "nmae": nmae, "max_norm_l2": max_norm_l2, "mae": mae}


def field_errors(pred: dict[str, np.ndarray], true: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    return {k: {name: f(pred[k], true[k]) for name, f in FIELD_METRICS.items()} for k in pred if k in true}


def where_errors(pred: np.ndarray, true: np.ndarray, sac: np.ndarray) -> dict[str, float | None]:
    """ε of one field on the sac and off it, and the share of ‖true‖² that lies off the sac: the whole-cloud ε
    weighs each part by that share (on the draft dataset ~97 % of the TAWSS norm is off the sac, so the headline ε
    mostly measures the parent vessels). A part with no points gives None."""
    sac = np.asarray(sac, dtype=bool)
    _, t = _err(pred, true)
    total = float(np.sum(t**2))
    return {
        "rel_l2_sac": rel_l2(pred[sac], true[sac]) if sac.any() else None,
        "rel_l2_off_sac": rel_l2(pred[~sac], true[~sac]) if (~sac).any() else None,
        "off_sac_share": float(np.sum(t[~sac] ** 2) / total) if total > 0 else None,
    }


def parent_diameter(globals_, global_names) -> float:
    """The parent-artery diameter (mm) from a morphology + BC input vector; NaN when it is not there."""
    names = list(global_names)
    return float(globals_[names.index(PARENT_INPUT)]) if PARENT_INPUT in names else float("nan")


def parent_mask(points: np.ndarray, sac: np.ndarray, parent_diameter: float) -> np.ndarray:
    """Non-sac points within PARENT_REACH parent diameters of the sac: the parent artery near the neck."""
    sac = np.asarray(sac, dtype=bool)
    if not sac.any():
        return np.zeros(len(points), dtype=bool)
    d, _ = cKDTree(points[sac]).query(points[~sac])
    out = np.zeros(len(points), dtype=bool)
    out[np.flatnonzero(~sac)[d <= PARENT_REACH * parent_diameter]] = True
    return out


def sac_quantities(points: np.ndarray, sac: np.ndarray, tawss: np.ndarray, osi: np.ndarray, parent_diameter: float):
    """Sac-averaged TAWSS, normalised sac TAWSS (÷ parent mean), maximum OSI on the sac and LSA; None without a
    sac (or a parent region)."""
    sac = np.asarray(sac, dtype=bool)
    if not sac.any() or not np.isfinite(parent_diameter) or parent_diameter <= 0:
        return None
    parent = parent_mask(points, sac, parent_diameter)
    if not parent.any():
        return None
    p_mean = float(np.mean(tawss[parent]))
    t_sac = tawss[sac]
    return {
        "sac_tawss": float(np.mean(t_sac)),
        "sac_ntawss": float(np.mean(t_sac) / p_mean),
        "sac_osi_max": float(np.max(osi[sac])),
        "lsa": float(np.mean(t_sac < LSA_FRACTION * p_mean)),
    }


def sac_errors(pred: dict | None, true: dict | None) -> dict[str, float] | None:
    """Relative errors of sac TAWSS and nTAWSS, absolute errors of max OSI and LSA."""
    if pred is None or true is None:
        return None
    return {
        "sac_tawss_rel": abs(pred["sac_tawss"] - true["sac_tawss"]) / max(abs(true["sac_tawss"]), 1e-300),
        "sac_ntawss_rel": abs(pred["sac_ntawss"] - true["sac_ntawss"]) / max(abs(true["sac_ntawss"]), 1e-300),
        "sac_osi_max_abs": abs(pred["sac_osi_max"] - true["sac_osi_max"]),
        "lsa_abs": abs(pred["lsa"] - true["lsa"]),
    }


def summarise(per_sample: list[dict]) -> dict:
    """Mean and max over samples of every numeric leaf (nested dicts kept)."""
    out: dict = {}
    keys = {k for s in per_sample for k in s}
    for k in sorted(keys):
        vals = [s[k] for s in per_sample if s.get(k) is not None]
        if vals and isinstance(vals[0], dict):
            out[k] = summarise(vals)
        elif vals:
            arr = np.asarray(vals, dtype=np.float64)
            out[k] = {"mean": float(arr.mean()), "median": float(np.median(arr)), "max": float(arr.max())}
    return out
