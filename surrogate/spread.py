"""How far to trust the ensemble's spread: scores of the spread against the actual error, and its calibration.

A deep ensemble of three members trained on the same data agrees with itself more than with the CFD: on the 27
validation runs of the session-24 model the CFD lay within one standard deviation of the members at only 28 % of the
TAWSS points and within two at 50 %, where a standard deviation of the error would hold 68 % and 95 % (OSI 47 / 69 %,
TAP 23 / 41 %, mean WSS vector 35 / 58 %; benchmarks/surrogate_spread.py). So one factor per field, fitted on the
validation split (where every training choice is made), scales ``<NAME>_std`` to a standard deviation of the error:
the factor that puts the median of |error| / spread at 0.674, the median |z| of a normal error (a median, so that a
few points where the members happen to agree do not set it). For that model: TAWSS ×2.95, OSI ×1.61, TAP ×3.86, mean
WSS ×2.35; on the 42 test runs then 64 % of the TAWSS points within one spread and 83 % within two — the errors have
heavier tails than a normal one.

Vector fields are scored per component (error and spread of each Cartesian component). Pure numpy.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

NORMAL_MEDIAN_ABS_Z = 0.6745  # median of |z| for a standard normal z
NORMAL_WITHIN = {"within_1sd": 0.6827, "within_2sd": 0.9545}  # P(|z| <= 1), P(|z| <= 2)


def abs_z(std: np.ndarray, pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """|error| / spread at every point (every component of a vector field); points with no spread are left out."""
    e = np.abs(np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)).ravel()
    s = np.asarray(std, dtype=np.float64).ravel()
    if e.shape != s.shape:
        raise ValueError(f"spread {np.shape(std)} and error {np.shape(pred)} differ in shape")
    ok = s > 0
    return e[ok] / s[ok]


def spread_scores(std: np.ndarray, pred: np.ndarray, true: np.ndarray) -> dict[str, float | None]:
    """``error_ratio`` (mean spread / mean |error|), and the shares of the points whose error lies within one and
    two spreads (a standard deviation of a normal error: 0.68 and 0.95)."""
    std, err = np.asarray(std, dtype=np.float64), np.abs(np.asarray(pred, dtype=np.float64) - true)
    z = abs_z(std, pred, true)
    out: dict[str, float | None] = {"error_ratio": float(np.mean(std) / max(float(np.mean(err)), 1e-300))}
    for key, k in (("within_1sd", 1.0), ("within_2sd", 2.0)):
        out[key] = float(np.mean(z <= k)) if z.size else None
    return out


def fit_scale(pairs: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
    """The factor for the spreads of (std, pred, true) triples (pooled over every point) that makes the median of
    |error| / (factor · spread) the normal one; 1 when there is nothing to fit."""
    z = [abs_z(*p) for p in pairs]
    z = np.concatenate(z) if z else np.zeros(0)
    if z.size == 0:
        return 1.0
    median = float(np.median(z))
    return median / NORMAL_MEDIAN_ABS_Z if median > 0 else 1.0


def scaled(std: dict[str, np.ndarray], scale: dict[str, float]) -> dict[str, np.ndarray]:
    """Every field's spread times its factor (fields without one unchanged)."""
    return {k: v * scale.get(k, 1.0) for k, v in std.items()}
