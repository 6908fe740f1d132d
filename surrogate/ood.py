"""Out-of-distribution check of a new geometry/BC against the training data.

Two distances, each with a threshold taken from the training split itself: the Mahalanobis distance of the
normalised morphology+BC vector (channel 2) and of the network's whole-cloud latent feature (shape as the network
sees it). The threshold is ``margin`` × the largest leave-one-out distance of a training case (its distance from
the statistics of the others: in-sample distances of a few dozen cases in 40+ dimensions are too small to judge a
new case by). The flag says "the model never saw anything like this", not "the prediction is wrong".
"""

from __future__ import annotations

import numpy as np

MARGIN = 1.2  # × the largest training distance
RIDGE = 0.1  # covariance regularisation relative to its mean diagonal (few samples, many dimensions)


def _moments(x: np.ndarray) -> dict:
    mean = x.mean(axis=0)
    cov = np.atleast_2d(np.cov(x, rowvar=False)) if len(x) > 1 else np.zeros((x.shape[1], x.shape[1]))
    scale = max(float(np.mean(np.diag(cov))), 1e-12) if len(x) > 1 else 1.0
    cov = cov + RIDGE * scale * np.eye(len(cov))
    return {"mean": mean.tolist(), "inv_cov": np.linalg.inv(cov).tolist()}


def fit_reference(vectors: np.ndarray) -> dict:
    """Mean, regularised inverse covariance and the largest leave-one-out distance of ``vectors`` (n, d)."""
    x = np.asarray(vectors, dtype=np.float64)
    ref = {**_moments(x), "max_train": 0.0}
    if len(x) > 2:
        loo = [mahalanobis(_moments(np.delete(x, i, axis=0)), x[i])[0] for i in range(len(x))]
    else:
        loo = mahalanobis(ref, x)
    ref["max_train"] = float(np.max(loo))
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
