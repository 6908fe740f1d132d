"""Self-intersections of a triangle surface: pairs of triangles that share no vertex but cross each other.

Broad phase: a k-d tree on triangle centroids (two triangles can only meet when their centroids are closer than the
sum of their bounding radii), then axis-aligned bounding boxes and a shared-vertex filter. Narrow phase, vectorised
over the candidates: a pair crosses when an edge of one triangle runs from one side of the other's plane to the
other side through its strict interior, both ends farther from the plane than a small fraction of the pair's size
(``min_depth``), or, for pairs coplanar within rounding, when their interiors clearly overlap. Touching (a vertex
or an edge lying on the other triangle) and micrometre wrinkles are not crossings, so rounding noise in exported
files and marching-cubes creases are not reported.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

_CHUNK = 100_000  # candidate pairs per vectorised batch: ~100 MB of temporaries at most
_BRUTE = 64  # below this many triangles every pair is a candidate
_EDGES = ((0, 1), (1, 2), (2, 0))
# Crossings shallower than this fraction of the two triangles' size are let through. Marching cubes snapped onto
# an exact zero set (the synthetic cohort) folds concave neck creases by a few micrometres: 7 of 29 cases, at most
# 1.9 % of a 0.3 mm pair (5.5 um). Such a fold hides no volume a mesher or solver can see; a wall pushed through
# another, or two fused vessels, cross by a sizeable fraction of a triangle.
MIN_DEPTH = 0.05


def self_intersecting_pairs(
    points: np.ndarray,
    tri: np.ndarray,
    max_pairs: int | None = 10,
    min_depth: float = MIN_DEPTH,
    tol: float = 1e-6,
) -> np.ndarray:
    """Up to ``max_pairs`` (all when None) index pairs (i, j), i < j, of triangles that cross and share no vertex.

    Both tolerances are relative to each pair's size (the diagonal of the two triangles' bounding box). A
    crossing counts only where an edge has both ends farther than ``min_depth * size`` from the other triangle's
    plane, so wrinkles shallower than that are let through; ``tol`` is the rounding allowance of every
    orientation test (determinants below ``tol * size**3`` are zero). Returns an (n, 2) int64 array sorted by
    (i, j); when ``max_pairs`` stops the search early, which pairs are returned is deterministic but not
    necessarily the smallest indices.
    """
    points = np.asarray(points, dtype=np.float64)
    tri = np.asarray(tri, dtype=np.int64)
    empty = np.zeros((0, 2), np.int64)
    if len(tri) < 2 or (max_pairs is not None and max_pairs <= 0):
        return empty
    p = points[tri]  # (m, 3, 3)
    lo, hi = _fold(np.minimum, p), _fold(np.maximum, p)
    centroid = (p[:, 0] + p[:, 1] + p[:, 2]) / 3.0
    radius = _fold(np.maximum, np.linalg.norm(p - centroid[:, None], axis=2)) * (1 + 1e-9) + 1e-300
    candidates = _candidates(centroid, radius, np.arange(len(tri)))
    found = []
    n_found = 0
    for start in range(0, len(candidates), _CHUNK):
        i, j = candidates[start : start + _CHUNK].T
        keep = np.ones(len(i), bool)  # boxes overlap and no shared vertex (column by column: faster than any())
        for x in range(3):
            keep &= (lo[i, x] <= hi[j, x]) & (lo[j, x] <= hi[i, x])
        ti, tj = tri[i], tri[j]
        for x in range(3):
            for y in range(3):
                keep &= ti[:, x] != tj[:, y]
        i, j = i[keep], j[keep]
        if len(i) == 0:
            continue
        hit = _crossing(p[i], p[j], tol, min_depth)
        if hit.any():
            found.append(np.column_stack([i[hit], j[hit]]))
            n_found += int(hit.sum())
            if max_pairs is not None and n_found >= max_pairs:
                break
    if not found:
        return empty
    pairs = np.vstack(found)
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    return pairs if max_pairs is None else pairs[:max_pairs]


def _candidates(centroid: np.ndarray, radius: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Unique pairs (i < j) of ``ids`` whose centroids are within the sum of their bounding radii (or closer).

    One fixed-radius search would be quadratic when a few triangles are huge (hole caps, coarse flow extensions),
    so the search radius is set by the 99th percentile and the larger triangles are queried one by one, their
    pairs among themselves found by recursing on them.
    """
    n = len(ids)
    if n < 2:
        return np.zeros((0, 2), np.int64)
    if n <= _BRUTE:
        a, b = np.triu_indices(n, 1)
        return np.column_stack([ids[a], ids[b]]).astype(np.int64)
    c, r = centroid[ids], radius[ids]
    cap = float(np.quantile(r, 0.99))
    tree = cKDTree(c)
    parts = [ids[tree.query_pairs(2 * cap, output_type="ndarray")]]  # each pair once
    big = np.flatnonzero(r > cap)
    if len(big):
        # pairs of a big and a small triangle farther apart than query_pairs looked; big-big pairs by recursion
        hits = tree.query_ball_point(c[big], r[big] + cap)
        counts = np.array([len(h) for h in hits])
        local = np.column_stack([np.repeat(big, counts), np.concatenate(hits).astype(np.int64)])
        local = local[r[local[:, 1]] <= cap]
        parts.append(ids[local[np.linalg.norm(c[local[:, 0]] - c[local[:, 1]], axis=1) > 2 * cap]])
        deep = _candidates(centroid, radius, ids[big])
        parts.append(deep[np.linalg.norm(centroid[deep[:, 0]] - centroid[deep[:, 1]], axis=1) > 2 * cap])
    return np.sort(np.vstack(parts).astype(np.int64), axis=1)


def _fold(op, values: np.ndarray) -> np.ndarray:
    """``op`` folded over axis 1 slice by slice: many times faster than a reduction along a short axis."""
    out = values[:, 0]
    for x in range(1, values.shape[1]):
        out = op(out, values[:, x])
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...j,...j->...", a, b)


def _triple(p, q, a, b) -> np.ndarray:
    """(q - p) . ((a - p) x (b - p)): the side of line pq that edge ab passes, six times a tetrahedron's volume."""
    return _dot(q - p, np.cross(a - p, b - p))


def _crossing(a: np.ndarray, b: np.ndarray, tol: float, min_depth: float) -> np.ndarray:
    """Whether triangles a[k] and b[k] (each (k, 3, 3)) cross, strictly beyond the tolerances."""
    origin = a[:, :1]
    a, b = a - origin, b - origin  # small coordinates: determinants lose no digits to a far origin
    both = np.concatenate([a, b], axis=1)
    size = np.linalg.norm(_fold(np.maximum, both) - _fold(np.minimum, both), axis=1)
    eps3 = tol * size**3
    na = np.cross(a[:, 1] - a[:, 0], a[:, 2] - a[:, 0])
    nb = np.cross(b[:, 1] - b[:, 0], b[:, 2] - b[:, 0])
    db = _dot(b - a[:, :1], na[:, None])  # b's vertices against a's plane, times |na|
    da = _dot(a - b[:, :1], nb[:, None])
    # A vertex is on one side of the other's plane only when farther from it than min_depth * size
    deep_a = np.maximum(eps3, min_depth * size * np.linalg.norm(na, axis=1))[:, None]
    deep_b = np.maximum(eps3, min_depth * size * np.linalg.norm(nb, axis=1))[:, None]
    side_b, side_a = _sign(db, deep_a), _sign(da, deep_b)
    hit = np.zeros(len(a), bool)
    separate = (np.abs(side_b.sum(axis=1)) == 3) | (np.abs(side_a.sum(axis=1)) == 3)
    k = np.flatnonzero(~separate & ((side_a != 0).any(axis=1) | (side_b != 0).any(axis=1)))
    if len(k):
        hit[k] = _pierces(b[k], side_b[k], a[k], eps3[k]) | _pierces(a[k], side_a[k], b[k], eps3[k])
    # Coplanar within rounding only: a fold flattened onto itself. Nearly coplanar pairs count as shallow.
    flat = np.flatnonzero((np.abs(da) <= eps3[:, None]).all(axis=1) & (np.abs(db) <= eps3[:, None]).all(axis=1))
    if len(flat):
        hit[flat] = _coplanar_overlap(a[flat], b[flat], na[flat], tol * size[flat] ** 2)
    return hit


def _sign(values: np.ndarray, eps) -> np.ndarray:
    return np.where(values > eps, 1, np.where(values < -eps, -1, 0)).astype(np.int8)


def _pierces(e: np.ndarray, side: np.ndarray, t: np.ndarray, eps3: np.ndarray) -> np.ndarray:
    """Whether an edge of triangle e, its ends strictly on opposite sides of t's plane, passes t's strict inside."""
    out = np.zeros(len(e), bool)
    for u, v in _EDGES:
        k = np.flatnonzero(side[:, u] * side[:, v] == -1)
        if len(k) == 0:
            continue
        p, q, tk, ek = e[k, u], e[k, v], t[k], eps3[k]
        s = np.stack([_sign(_triple(p, q, tk[:, x], tk[:, y]), ek) for x, y in _EDGES], axis=1)
        out[k] |= np.abs(s.sum(axis=1)) == 3
    return out


def _coplanar_overlap(a: np.ndarray, b: np.ndarray, normal: np.ndarray, eps2: np.ndarray) -> np.ndarray:
    """Whether coplanar triangles clearly overlap: edges properly cross or a vertex lies strictly inside."""
    drop = np.abs(normal).argmax(axis=1)
    keep_axes = np.array([[1, 2], [0, 2], [0, 1]])[drop]  # project on the plane the normal is most upright to
    rows = np.arange(len(a))[:, None, None]
    a2 = a[rows, np.arange(3)[None, :, None], keep_axes[:, None, :]]
    b2 = b[rows, np.arange(3)[None, :, None], keep_axes[:, None, :]]

    def orient(p, q, r):
        return _sign((q[:, 0] - p[:, 0]) * (r[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (r[:, 0] - p[:, 0]), eps2)

    out = np.zeros(len(a), bool)
    for s, t in ((a2, b2), (b2, a2)):
        for w in range(3):  # a vertex of t strictly inside s
            out |= np.abs(sum(orient(s[:, x], s[:, y], t[:, w]) for x, y in _EDGES)) == 3
    for x, y in _EDGES:
        for u, v in _EDGES:  # proper crossing of an edge of a and an edge of b
            p, q, r, w = a2[:, x], a2[:, y], b2[:, u], b2[:, v]
            out |= (orient(p, q, r) * orient(p, q, w) == -1) & (orient(r, w, p) * orient(r, w, q) == -1)
    return out
