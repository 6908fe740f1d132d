"""Out-of-distribution check of a new geometry/BC against the training data.

Two distances, each with a threshold taken from the training split itself: the Mahalanobis distance of the
normalised morphology+BC vector (channel 2) and of the network's whole-cloud latent feature (shape as the network
sees it). A case is flagged when either exceeds the largest training distance by ``margin``: the flag says
"the model never saw anything like this", not "the prediction is wrong".
"""

from __future__ import annotations

import numpy as np

MARGIN = 1.2  # × the largest training distance
RIDGE = 1e-3  # covariance regularisation relative to its mean diagonal (few samples, many dimensions)


def fit_reference(vectors: np.ndarray) -> dict:
    """Mean, regularised inverse covariance and the training distances' maximum of ``vectors`` (n, d)."""
    x = np.asarray(vectors, dtype=np.float64)
    mean = x.mean(axis=0)
    cov = np.atleast_2d(np.cov(x, rowvar=False)) if len(x) > 1 else np.eye(x.shape[1])
    cov = cov + RIDGE * max(float(np.mean(np.diag(cov))), 1e-12) * np.eye(len(cov))
    inv = np.linalg.inv(cov)
    ref = {"mean": mean.tolist(), "inv_cov": inv.tolist(), "max_train": 0.0}
    ref["max_train"] = float(np.max(mahalanobis(ref, x)))
    return ref


def mahalanobis(ref: dict, vectors: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(np.asarray(vectors, dtype=np.float64)) - np.asarray(ref["mean"])
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, np.asarray(ref["inv_cov"]), x), 0.0))


def assess(references: dict[str, dict], vectors: dict[str, np.ndarray], margin: float = MARGIN) -> dict:
    """{"out_of_distribution": bool, "<name>_distance", "<name>_threshold"} for every reference given."""
    out: dict = {"out_of_distribution": False, "margin": margin}
    for name, ref in references.items():
        d = float(mahalanobis(ref, vectors[name])[0])
        thr = margin * float(ref["max_train"])
        out[f"{name}_distance"] = d
        out[f"{name}_threshold"] = thr
        out["out_of_distribution"] |= d > thr
    out["out_of_distribution"] = bool(out["out_of_distribution"])
    return out
