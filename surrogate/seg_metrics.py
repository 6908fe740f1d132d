"""Overlap and boundary measures of label maps (pure numpy/scipy), as segmentation challenges report them.

- Dice: 2|A∩B| / (|A| + |B|); 1.0 when both are empty (nothing to find, nothing found).
- HD95: the 95th percentile of the symmetric boundary-to-boundary distances in mm (voxel spacing respected);
  infinite when exactly one of the two is empty.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

CLASSES = {"vessel": (1,), "aneurysm": (2,), "lumen": (1, 2)}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else float(2.0 * np.logical_and(a, b).sum() / total)


def _boundary(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(3, 1), border_value=0)


def hd95(a: np.ndarray, b: np.ndarray, spacing) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return float("inf")
    ba, bb = _boundary(a), _boundary(b)
    # distances from every voxel to the nearest boundary voxel of the other mask
    to_b = ndimage.distance_transform_edt(~bb, sampling=spacing)
    to_a = ndimage.distance_transform_edt(~ba, sampling=spacing)
    return float(np.percentile(np.concatenate([to_b[ba], to_a[bb]]), 95))


def label_metrics(pred: np.ndarray, true: np.ndarray, spacing) -> dict[str, dict[str, float]]:
    """Dice and HD95 (mm) of each class of CLASSES."""
    out = {}
    for name, values in CLASSES.items():
        p, t = np.isin(pred, values), np.isin(true, values)
        out[name] = {"dice": dice(p, t), "hd95_mm": hd95(p, t, spacing)}
    return out
