"""The sac's TAWSS level: a ridge regression of log(sac-mean TAWSS / parent-artery mean TAWSS) on the morphology
vector, which rescales the point network's sac field. Pure numpy.

Why a separate case-level model: the point network is fitted point by point, and the sac is a small share of the
wall, so its *level* is learned from only as many examples as there are training geometries, mixed with the
pattern. On the 55-run draft dataset the network's sac-averaged TAWSS was off by 106 % (median of the held-out
runs), while the ratio above follows the sac's shape closely (its correlation with the aspect ratio is −0.95;
low sac WSS in high-AR sacs is the classic finding, Ujiie 1999, Xiang 2011). The network keeps the pattern inside
the sac; this model sets its mean relative to the parent artery the prediction already has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cfdgen import registry
from surrogate.metrics import parent_diameter, parent_mask

PREFIX = "morph:"
RIDGES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
# fields proportional to the wall's shear level (OSI and pressure are not), by their registry keys
SCALED = tuple(registry.FIELDS[k].key for k in ("tawss", "wss_mean"))


@dataclass(frozen=True)
class SacLevelModel:
    names: tuple[str, ...]  # the morphology inputs, in the order of mean/scale/weights[1:]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]  # intercept first, on standardised inputs
    ridge: float
    cv_abs_log_error: float  # leave-one-geometry-out mean |error| of the log ratio on the training runs
    n_runs: int
    n_geometries: int

    def to_dict(self) -> dict:
        """Plain Python values only: the artifact is read with torch.load(weights_only=True), which refuses numpy
        scalars."""
        d = asdict(self)
        for k in ("mean", "scale", "weights"):
            d[k] = [float(x) for x in d[k]]
        d.update(names=list(self.names), ridge=float(self.ridge), cv_abs_log_error=float(self.cv_abs_log_error))
        d.update(n_runs=int(self.n_runs), n_geometries=int(self.n_geometries))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SacLevelModel:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def log_ratio(self, globals_, global_names) -> float | None:
        """Predicted log(sac TAWSS / parent TAWSS); None when an input is missing or not finite (no sac found)."""
        names = list(global_names)
        if any(n not in names for n in self.names):
            return None
        x = np.asarray([float(globals_[names.index(n)]) for n in self.names])
        if not np.all(np.isfinite(x)):
            return None
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(self.weights[0] + z @ np.asarray(self.weights[1:]))


def observed_log_ratio(points, sac, tawss, parent_diam: float) -> float | None:
    """log(mean TAWSS on the sac / mean TAWSS of the parent artery near the neck); None without either."""
    sac = np.asarray(sac, dtype=bool)
    if not sac.any() or not (np.isfinite(parent_diam) and parent_diam > 0):
        return None
    parent = parent_mask(points, sac, parent_diam)
    t = np.asarray(tawss, dtype=np.float64)
    if not parent.any() or not (t[sac].mean() > 0 and t[parent].mean() > 0):
        return None
    return float(np.log(t[sac].mean() / t[parent].mean()))


def _solve(z: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    a = np.column_stack([np.ones(len(z)), z])
    penalty = ridge * np.eye(a.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    return np.linalg.solve(a.T @ a + penalty, a.T @ y)


def fit_sac_level(x: np.ndarray, y: np.ndarray, names, geometries, ridges: tuple[float, ...] = RIDGES) -> SacLevelModel:
    """Ridge fit of y (log ratios) on x (runs × morphology inputs); the ridge chosen by leave-one-geometry-out
    error over the training runs (runs of one geometry share it, so they leave together)."""
    x, y, geometries = np.asarray(x, float), np.asarray(y, float), np.asarray(geometries)
    keep = np.std(x, axis=0) > 0  # a constant input carries nothing and cannot be standardised
    x, names = x[:, keep], [n for n, k in zip(names, keep) if k]
    mean, scale = x.mean(0), x.std(0)
    z = (x - mean) / scale
    groups = np.unique(geometries)
    if len(groups) < 3:
        raise ValueError(f"the sac-level model needs runs of at least 3 geometries with a sac (got {len(groups)})")

    def cv_error(ridge: float) -> float:
        err = []
        for g in groups:
            held = geometries == g
            w = _solve(z[~held], y[~held], ridge)
            err.extend(np.abs(w[0] + z[held] @ w[1:] - y[held]))
        return float(np.mean(err))

    errors = {r: cv_error(r) for r in ridges}
    best = min(errors, key=errors.get)
    w = _solve(z, y, best)
    return SacLevelModel(
        tuple(names), _floats(mean), _floats(scale), _floats(w), float(best), errors[best], len(y), len(groups)
    )


def _floats(values) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def fit_from_clouds(clouds) -> SacLevelModel:
    """Fit on point-cloud samples (surrogate.data.Cloud) with a sac: their CFD TAWSS and morphology inputs."""
    xs, ys, geoms, names = [], [], [], None
    for c in clouds:
        y = observed_log_ratio(c.points, c.sac, c.fields["tawss"], parent_diameter(c.globals_, c.global_names))
        cols = [i for i, n in enumerate(c.global_names) if n.startswith(PREFIX)]
        x = np.asarray(c.globals_, dtype=float)[cols]
        if y is None or not np.all(np.isfinite(x)):
            continue
        names = names or [c.global_names[i] for i in cols]
        xs.append(x)
        ys.append(y)
        geoms.append(c.geometry)
    if not xs:
        raise ValueError("no training run with a sac and a parent artery for the sac-level model")
    return fit_sac_level(np.stack(xs), np.asarray(ys), names, geoms)


def rescale_sac(
    fields: dict[str, np.ndarray], points, sac, parent_diam: float, log_ratio: float | None
) -> tuple[dict[str, np.ndarray], float]:
    """The fields with the shear-proportional ones (SCALED) multiplied on the sac so that its mean TAWSS is
    exp(log_ratio) × the fields' own parent-artery mean; returns (fields, factor). Factor 1 (fields unchanged)
    when there is nothing to scale by."""
    sac = np.asarray(sac, dtype=bool)
    if log_ratio is None or "tawss" not in fields:
        return fields, 1.0
    now = observed_log_ratio(points, sac, fields["tawss"], parent_diam)
    if now is None:
        return fields, 1.0
    factor = float(np.exp(log_ratio - now))
    return scale_on_sac(fields, sac, factor), factor


def scale_on_sac(fields: dict[str, np.ndarray], sac, factor: float) -> dict[str, np.ndarray]:
    """The fields with the shear-proportional ones multiplied by ``factor`` on the sac (also their spread)."""
    sac = np.asarray(sac, dtype=bool)
    out = dict(fields)
    for key in SCALED:
        if key in out:
            v = np.array(out[key], dtype=np.float64)
            v[sac] *= factor
            out[key] = v
    return out
