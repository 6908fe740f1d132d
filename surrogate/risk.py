"""The hemodynamic–morphologic rupture-risk grade: an L2-regularised logistic regression on a few sac-level features
(Xiang et al., Stroke 2011: size ratio, normalised WSS, OSI; plus low-shear area and aspect ratio).

The published coefficients are not available (HEMODYNAMICS.md §6), so the model is fitted on labelled data.
The shipped default is a *demonstration* model fitted on :func:`demonstration_table` — synthetic labels drawn from
the published effect directions, not patient data — and says so in every saved file.

Pipeline: table (CSV or rows) → checks → standardisation → stratified k-fold CV (out-of-fold probabilities → AUC,
Brier, reliability curve, bootstrap CIs) → refit on all rows → :class:`RiskModel` (JSON).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import brentq, minimize
from scipy.special import expit
from scipy.stats import rankdata

from cfdgen.atomic import atomic_path, write_json
from cfdgen.errors import ConfigError, IahemoError

DEFAULT_FEATURES: tuple[str, ...] = ("size_ratio", "sac_ntawss", "sac_osi_max", "lsa", "aspect_ratio")
GRADES = ("low", "intermediate", "high")
MIN_CASES = 10
FORMAT = "iahemo-risk-model"
FORMAT_VERSION = 1
DEMO_LABEL_SOURCE = "synthetic: published effect directions (Xiang 2011), not patient data"
DISCLAIMER = (
    "Research use only; not a medical device and not clinically validated. The grade cut-offs (0.3 / 0.6 by "
    "default) are demonstration values, not from the literature."
)
DEMO_DISCLAIMER = (
    DISCLAIMER + " This model was fitted on synthetic labels drawn from published effect directions (Xiang 2011), "
    "not on patient outcomes: its probabilities are not rupture risks."
)
_TRUE = {"yes", "y", "1", "1.0", "true", "t", "ruptured"}
_FALSE = {"no", "n", "0", "0.0", "false", "f", "unruptured"}


@dataclass(frozen=True)
class GradeConfig:
    """Grade cut-offs on the predicted probability (low < ``low_below`` ≤ intermediate < ``high_from`` ≤ high) and
    fitting / validation settings. The cut-offs are demonstration values, not taken from the literature."""

    low_below: float = 0.3
    high_from: float = 0.6
    penalty: float = 1.0  # λ of λ/2·‖w‖² on standardised coefficients (intercept unpenalised)
    folds: int = 5
    bootstrap: int = 200
    bins: int = 10  # reliability curve, equal-width on [0, 1]
    seed: int = 0

    def __post_init__(self):
        if not 0.0 < self.low_below < self.high_from < 1.0:
            raise ConfigError(
                f"grade cut-offs must satisfy 0 < low_below < high_from < 1 (got {self.low_below}, {self.high_from})"
            )
        if not (math.isfinite(self.penalty) and self.penalty > 0):
            raise ConfigError(f"penalty must be > 0 so the fit has a finite optimum (got {self.penalty})")
        if self.folds < 2:
            raise ConfigError(f"folds must be >= 2 (got {self.folds})")
        if self.bootstrap < 0:
            raise ConfigError(f"bootstrap must be >= 0 (got {self.bootstrap})")
        if self.bins < 2:
            raise ConfigError(f"bins must be >= 2 (got {self.bins})")


# ---------------------------------------------------------------------------------------------------------------
# Pure math


def fit_logistic(x: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, float]:
    """Coefficients and intercept minimising Σ[log(1+e^z) − y·z] + λ/2·‖w‖², z = x·w + b (L-BFGS)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = x.shape[1]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        z = x @ w + b
        r = expit(z) - y
        f = float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * penalty * w @ w)
        return f, np.concatenate([x.T @ r + penalty * w, [r.sum()]])

    # start from the prevalence so the intercept does not have to travel far
    p0 = np.clip(y.mean(), 1e-6, 1 - 1e-6)
    theta0 = np.concatenate([np.zeros(d), [math.log(p0 / (1 - p0))]])
    res = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-8})
    if not np.all(np.isfinite(res.x)):
        raise IahemoError(f"logistic fit diverged ({res.message})")
    return res.x[:d].copy(), float(res.x[d])


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve in the Mann–Whitney form (ties count ½); NaN without both classes."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def brier(p: np.ndarray, labels: np.ndarray) -> float:
    """Mean squared difference between predicted probability and outcome (0 is perfect)."""
    return float(np.mean((np.asarray(p, dtype=np.float64) - np.asarray(labels, dtype=np.float64)) ** 2))


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n (sane at 0 and n, unlike the normal approximation)."""
    if n == 0:
        return float("nan"), float("nan")
    phat = k / n
    den = 1 + z**2 / n
    centre = (phat + z**2 / (2 * n)) / den
    half = z * math.sqrt(phat * (1 - phat) / n + z**2 / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def reliability_curve(p: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Per equal-width bin of predicted probability: count, mean prediction, observed frequency (+ Wilson CI)."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    idx = np.minimum((p * bins).astype(int), bins - 1)  # p = 1 belongs to the last bin
    out = []
    for b in range(bins):
        m = idx == b
        n = int(m.sum())
        k = int(y[m].sum())
        lo, hi = wilson_interval(k, n)
        out.append(
            {
                "bin_lo": b / bins,
                "bin_hi": (b + 1) / bins,
                "count": n,
                "mean_predicted": float(p[m].mean()) if n else None,
                "observed": k / n if n else None,
                "observed_ci95": [lo, hi] if n else None,
            }
        )
    return out


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index per row: each class shuffled (seeded) and dealt round-robin, so folds keep the prevalence."""
    y = np.asarray(labels).astype(bool)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    start = 0
    for cls in (True, False):
        rows = rng.permutation(np.flatnonzero(y == cls))
        # continue dealing where the previous class stopped so small folds stay balanced in size
        fold[rows] = (start + np.arange(len(rows))) % k
        start = (start + len(rows)) % k
    return fold


def bootstrap_metrics(p: np.ndarray, labels: np.ndarray, n: int, seed: int) -> dict[str, list[float] | None]:
    """95 % percentile intervals of AUC and Brier over ``n`` case resamples of the (out-of-fold) predictions.

    They show the sampling spread of the cases given these predictions, not the variability of refitting."""
    if n == 0:
        return {"auc_ci95": None, "brier_ci95": None}
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    rng = np.random.default_rng(seed)
    aucs, briers = np.empty(n), np.empty(n)
    for i in range(n):
        j = rng.integers(0, len(p), len(p))
        aucs[i] = auc(p[j], y[j])  # NaN for a one-class resample: dropped below
        briers[i] = brier(p[j], y[j])
    return {
        "auc_ci95": [float(v) for v in np.nanpercentile(aucs, [2.5, 97.5])],
        "brier_ci95": [float(v) for v in np.percentile(briers, [2.5, 97.5])],
    }


# ---------------------------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class RiskModel:
    """Standardisation + logistic coefficients (on standardised features) + grade cut-offs + provenance."""

    features: tuple[str, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    penalty: float
    thresholds: tuple[float, float]  # (low_below, high_from)
    n_cases: int
    n_ruptured: int
    demonstration: bool
    label_source: str
    disclaimer: str
    metrics: dict[str, Any] = field(default_factory=dict)  # cross-validation summary

    def _matrix(self, rows: Sequence[dict]) -> np.ndarray:
        x = np.empty((len(rows), len(self.features)))
        for i, row in enumerate(rows):
            for j, f in enumerate(self.features):
                if f not in row or row[f] is None:
                    raise IahemoError(
                        f"risk model needs feature '{f}' (row {i + 1} has: {', '.join(sorted(row)) or 'nothing'})"
                    )
                try:
                    v = float(row[f])
                except (TypeError, ValueError):
                    raise IahemoError(f"risk model feature '{f}' of row {i + 1} is not a number: {row[f]!r}") from None
                if not math.isfinite(v):
                    raise IahemoError(f"risk model feature '{f}' of row {i + 1} is not finite: {v}")
                x[i, j] = v
        return x

    def predict_proba(self, features: dict | Sequence[dict]) -> np.ndarray:
        """Rupture-grade probability per feature dict (extra keys are ignored)."""
        rows = [features] if isinstance(features, dict) else list(features)
        z = (self._matrix(rows) - np.asarray(self.means)) / np.asarray(self.stds)
        return expit(z @ np.asarray(self.coef) + self.intercept)

    def grade(self, p: float) -> str:
        """Grade of a probability with this model's cut-offs: low, intermediate or high."""
        return grade(p, self.thresholds)

    def raw_coefficients(self) -> tuple[dict[str, float], float]:
        """Coefficients and intercept on the features' own scales (undoing the standardisation)."""
        c, m, s = np.asarray(self.coef), np.asarray(self.means), np.asarray(self.stds)
        return dict(zip(self.features, map(float, c / s))), float(self.intercept - np.sum(c * m / s))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "demonstration": self.demonstration,
            "label_source": self.label_source,
            "disclaimer": self.disclaimer,
            "features": list(self.features),
            "means": list(self.means),
            "stds": list(self.stds),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "penalty": self.penalty,
            "thresholds": {"low_below": self.thresholds[0], "high_from": self.thresholds[1]},
            "n_cases": self.n_cases,
            "n_ruptured": self.n_ruptured,
            "metrics": self.metrics,
        }

    @classmethod
    def from_dict(cls, d: Any, source: str = "risk model") -> RiskModel:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise IahemoError(f"{source}: not an iahemo risk model (format field is not {FORMAT!r})")
        if d.get("version") != FORMAT_VERSION:
            raise IahemoError(f"{source}: risk model version {d.get('version')!r} is not {FORMAT_VERSION}")
        try:
            features = tuple(map(str, d["features"]))
            vectors = {k: tuple(float(v) for v in d[k]) for k in ("means", "stds", "coef")}
            for k, v in vectors.items():
                if len(v) != len(features):
                    raise IahemoError(f"{source}: '{k}' has {len(v)} values for {len(features)} features")
            if not all(s > 0 for s in vectors["stds"]):
                raise IahemoError(f"{source}: 'stds' must all be > 0")
            th = d["thresholds"]
            return cls(
                features=features,
                **vectors,
                intercept=float(d["intercept"]),
                penalty=float(d["penalty"]),
                thresholds=(float(th["low_below"]), float(th["high_from"])),
                n_cases=int(d["n_cases"]),
                n_ruptured=int(d["n_ruptured"]),
                demonstration=bool(d["demonstration"]),
                label_source=str(d["label_source"]),
                disclaimer=str(d["disclaimer"]),
                metrics=dict(d.get("metrics") or {}),
            )
        except KeyError as exc:
            raise IahemoError(f"{source}: risk model lacks the field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise IahemoError(f"{source}: malformed risk model ({exc})") from None

    def save(self, path: str | Path) -> Path:
        write_json(path, self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> RiskModel:
        path = Path(path)
        if not path.is_file():
            raise IahemoError(f"{path}: risk model file not found")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IahemoError(f"{path}: not a JSON risk model ({exc})") from None
        return cls.from_dict(data, str(path))


def grade(p: float, thresholds: tuple[float, float] = (0.3, 0.6)) -> str:
    """Grade of a probability: low < thresholds[0] ≤ intermediate < thresholds[1] ≤ high."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise IahemoError(f"a probability must lie in [0, 1] to be graded (got {p})")
    low_below, high_from = thresholds
    return "low" if p < low_below else ("intermediate" if p < high_from else "high")


def grade_distribution(model: RiskModel, feature_rows: Sequence[dict]) -> dict[str, Any]:
    """Grade fractions and probability summary over an ensemble of feature dicts (e.g. one case under several
    boundary-condition samples)."""
    rows = list(feature_rows)
    if not rows:
        raise IahemoError("grade distribution needs at least one feature row")
    p = model.predict_proba(rows)
    grades = [model.grade(v) for v in p]
    out: dict[str, Any] = {g: grades.count(g) / len(grades) for g in GRADES}
    out["probability"] = {
        "mean": float(p.mean()),
        "p05": float(np.percentile(p, 5)),
        "p95": float(np.percentile(p, 95)),
    }
    return out


# ---------------------------------------------------------------------------------------------------------------
# Tables


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        raise IahemoError(f"{path}: labels table not found")
    try:
        with path.open(newline="") as fh:
            return list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise IahemoError(f"{path}: not a readable CSV table ({exc})") from None


def _label(value: Any, where: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    s = str(value).strip().lower() if value is not None else ""
    if s in _TRUE:
        return 1
    if s in _FALSE:
        return 0
    raise IahemoError(f"{where}: column 'ruptured': {value!r} is not yes/no/1/0/true/false")


def _number(value: Any, where: str, column: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise IahemoError(f"{where}: column '{column}' is empty")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise IahemoError(f"{where}: column '{column}': {value!r} is not a number") from None
    if not math.isfinite(v):
        raise IahemoError(f"{where}: column '{column}': {value!r} is not a finite number")
    return v


def read_table(
    table: Sequence[dict] | str | Path, features: Sequence[str] = DEFAULT_FEATURES
) -> tuple[list[str], np.ndarray, np.ndarray, str | None]:
    """Checked (case ids, feature matrix, labels, label_source column value) from rows or a CSV path."""
    source = str(table) if isinstance(table, str | Path) else "labels table"
    rows = _read_csv(Path(table)) if isinstance(table, str | Path) else list(table)
    if len(rows) < MIN_CASES:
        raise IahemoError(f"{source}: needs at least {MIN_CASES} cases, got {len(rows)}")
    columns = set().union(*(r.keys() for r in rows))
    absent = [c for c in ("ruptured", *features) if c not in columns]
    if absent:
        raise IahemoError(f"{source}: missing column{'s' if len(absent) > 1 else ''} {', '.join(map(repr, absent))}")
    ids, x, y = [], np.empty((len(rows), len(features))), np.empty(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        cid = str(row.get("case_id") or f"row{i + 1}")
        where = f"{source}: row {i + 1} (case_id {cid})"
        ids.append(cid)
        y[i] = _label(row.get("ruptured"), where)
        for j, f in enumerate(features):
            x[i, j] = _number(row.get(f), where, f)
    dup = sorted({c for c in ids if ids.count(c) > 1})
    if dup:
        # one case twice could sit in a training and a test fold at once and inflate the CV numbers
        more = f" (and {len(dup) - 1} more)" if len(dup) > 1 else ""
        raise IahemoError(f"{source}: duplicate case_id {dup[0]!r}{more}")
    n1 = int(y.sum())
    if n1 in (0, len(y)):
        which = "ruptured" if n1 else "unruptured"
        raise IahemoError(f"{source}: all {len(y)} cases are {which}; need both ruptured and unruptured cases")
    const = [f for j, f in enumerate(features) if np.ptp(x[:, j]) == 0]
    if const:
        raise IahemoError(f"{source}: column '{const[0]}' is constant over all cases and carries no information")
    sources = {str(r["label_source"]) for r in rows if r.get("label_source")}
    return ids, x, y, sources.pop() if len(sources) == 1 else None


# ---------------------------------------------------------------------------------------------------------------
# Fitting


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), x.std(axis=0)


def cross_validate(x: np.ndarray, y: np.ndarray, cfg: GradeConfig) -> np.ndarray:
    """Out-of-fold probabilities; standardisation is refitted inside each training fold (no test-fold leakage)."""
    fold = stratified_folds(y, cfg.folds, cfg.seed)
    oof = np.empty(len(y))
    for k in range(cfg.folds):
        test = fold == k
        mu, sd = _standardise(x[~test])
        sd = np.where(sd > 0, sd, 1.0)  # a feature constant within one training fold: leave it unscaled
        w, b = fit_logistic((x[~test] - mu) / sd, y[~test], cfg.penalty)
        oof[test] = expit(((x[test] - mu) / sd) @ w + b)
    return oof


def fit_risk_model(
    table: Sequence[dict] | str | Path,
    features: Sequence[str] = DEFAULT_FEATURES,
    cfg: GradeConfig | None = None,
    label_source: str | None = None,
) -> tuple[RiskModel, dict[str, Any]]:
    """Cross-validate, then refit on all rows. ``label_source`` defaults to the table's ``label_source`` column
    (when it has a single value) or to where the table came from. Returns (model, CV report)."""
    cfg = cfg or GradeConfig()
    features = tuple(features)
    if not features:
        raise ConfigError("the risk model needs at least one feature")
    ids, x, y, column_source = read_table(table, features)
    n1 = int(y.sum())
    minority = min(n1, len(y) - n1)
    if minority < cfg.folds:
        raise IahemoError(
            f"only {minority} cases in the smaller class: {cfg.folds}-fold stratified CV needs at least {cfg.folds} "
            "(add cases or lower the number of folds)"
        )
    if label_source is None:
        label_source = column_source or (f"labels from {table}" if isinstance(table, str | Path) else "user labels")
    demonstration = label_source.startswith("synthetic")

    oof = cross_validate(x, y, cfg)
    ci = bootstrap_metrics(oof, y, cfg.bootstrap, cfg.seed)
    prevalence = n1 / len(y)
    metrics = {
        "auc": auc(oof, y),
        "auc_ci95": ci["auc_ci95"],
        "brier": brier(oof, y),
        "brier_ci95": ci["brier_ci95"],
        # the Brier score of always predicting the prevalence: the bar a useful model must beat
        "brier_prevalence": prevalence * (1 - prevalence),
        "folds": cfg.folds,
        "bootstrap": cfg.bootstrap,
        "seed": cfg.seed,
    }

    mu, sd = _standardise(x)
    w, b = fit_logistic((x - mu) / sd, y, cfg.penalty)
    model = RiskModel(
        features=features,
        means=tuple(map(float, mu)),
        stds=tuple(map(float, sd)),
        coef=tuple(map(float, w)),
        intercept=b,
        penalty=cfg.penalty,
        thresholds=(cfg.low_below, cfg.high_from),
        n_cases=len(y),
        n_ruptured=n1,
        demonstration=demonstration,
        label_source=label_source,
        disclaimer=DEMO_DISCLAIMER if demonstration else DISCLAIMER,
        metrics=metrics,
    )
    report = {
        "n_cases": len(y),
        "n_ruptured": n1,
        "prevalence": prevalence,
        "features": list(features),
        "penalty": cfg.penalty,
        **metrics,
        "reliability": reliability_curve(oof, y, cfg.bins),
        "coefficients_standardised": dict(zip(features, model.coef)),
        "coefficients_raw": model.raw_coefficients()[0],
        "demonstration": demonstration,
        "label_source": label_source,
        "out_of_fold": [
            {"case_id": c, "ruptured": int(t), "probability": float(p)} for c, t, p in zip(ids, y, oof, strict=True)
        ],
    }
    return model, report


def _fmt_ci(ci: list[float] | None) -> str:
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""


def reliability_plot(report: dict[str, Any], path: str | Path) -> Path:
    """PNG: observed rupture frequency vs mean prediction per bin (Wilson 95 % bars, counts), the diagonal, and
    a histogram of the out-of-fold predictions; AUC and Brier with their bootstrap CIs in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = [b for b in report["reliability"] if b["count"]]
    fig, (ax, hx) = plt.subplots(
        2, 1, figsize=(6, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}, constrained_layout=True
    )
    ax.plot([0, 1], [0, 1], "--", color="0.5", lw=1, label="perfect calibration")
    if bins:
        mp = np.array([b["mean_predicted"] for b in bins])
        ob = np.array([b["observed"] for b in bins])
        lo = np.array([b["observed_ci95"][0] for b in bins])
        hi = np.array([b["observed_ci95"][1] for b in bins])
        # Wilson bounds can miss 0 or 1 by rounding (k = 0 or k = n): clip, matplotlib refuses negative bars
        yerr = [np.maximum(ob - lo, 0.0), np.maximum(hi - ob, 0.0)]
        ax.errorbar(mp, ob, yerr=yerr, fmt="o-", color="C3", capsize=3, label="out-of-fold (95 % CI)")
        for b, xv, yv in zip(bins, mp, ob, strict=True):
            ax.annotate(f"n={b['count']}", (xv, yv), textcoords="offset points", xytext=(5, -12), fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("observed rupture frequency")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    tag = " — DEMONSTRATION (synthetic labels)" if report.get("demonstration") else ""
    ax.set_title(
        f"Reliability, {report.get('folds', '?')}-fold CV, n={report['n_cases']}{tag}\n"
        f"AUC {report['auc']:.3f}{_fmt_ci(report.get('auc_ci95'))}   "
        f"Brier {report['brier']:.3f}{_fmt_ci(report.get('brier_ci95'))}",
        fontsize=9,
    )
    rel = report["reliability"]
    edges = [rel[0]["bin_lo"]] + [b["bin_hi"] for b in rel]
    hx.bar(edges[:-1], [b["count"] for b in rel], width=np.diff(edges), align="edge", color="C0", edgecolor="w")
    hx.set_xlabel("predicted probability (out of fold)")
    hx.set_ylabel("cases")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150)
    plt.close(fig)
    return path


def train_risk_command(
    labels_csv: str | Path,
    out_dir: str | Path,
    cfg: GradeConfig | None = None,
    features: Sequence[str] = DEFAULT_FEATURES,
) -> dict[str, Any]:
    """``iahemo train-risk``: fit on a labels CSV → DIR/risk_model.json, DIR/risk_cv.json, DIR/reliability.png."""
    model, report = fit_risk_model(labels_csv, features, cfg)
    out_dir = Path(out_dir)
    model.save(out_dir / "risk_model.json")
    write_json(out_dir / "risk_cv.json", report)
    reliability_plot(report, out_dir / "reliability.png")
    return report


# ---------------------------------------------------------------------------------------------------------------
# Demonstration data


def demonstration_table(n: int = 400, seed: int = 0) -> list[dict[str, Any]]:
    """Synthetic labelled cases for the shipped demonstration model — not patient data.

    Features are drawn in plausible ranges with mild physical correlations (larger sacs: slower flow, lower
    normalised WSS, more low-shear area). Labels come from a logistic model with the published effect directions
    (Xiang 2011): higher size ratio, lower normalised WSS and higher OSI → more rupture, aspect ratio above 1.6 →
    more rupture. LSA has no direct effect (the reference gives no direction); it is related only through WSS.
    The intercept is solved so the expected rupture prevalence is 30 %.
    """
    if n < MIN_CASES:
        raise ConfigError(f"demonstration table needs n >= {MIN_CASES} (got {n})")
    rng = np.random.default_rng(seed)
    z_sr = rng.standard_normal(n)
    size_ratio = np.clip(2.0 * np.exp(0.5 * z_sr), 0.8, 8.0)  # lognormal, median 2
    aspect_ratio = np.clip(np.exp(np.log(1.3) + 0.25 * z_sr + 0.3 * rng.standard_normal(n)), 0.6, 3.5)
    z_wss = -0.5 * z_sr + math.sqrt(1 - 0.25) * rng.standard_normal(n)  # correlation −0.5 with size ratio
    sac_ntawss = np.clip(0.55 * np.exp(0.5 * z_wss), 0.1, 1.5)
    lsa = np.clip(0.6 * expit(-2.5 * (np.log(sac_ntawss) - np.log(0.35))) + 0.04 * rng.standard_normal(n), 0.0, 0.6)
    z_ar = (np.log(aspect_ratio) - np.log(1.3)) / 0.39
    sac_osi_max = np.clip(0.45 * rng.beta(2.0, 3.0, n) + 0.03 * z_ar, 0.0, 0.45)  # elongated sacs: more reversal

    logit_no_intercept = (
        0.9 * (np.log(size_ratio) - np.log(2.0)) / 0.5
        - 0.75 * (np.log(sac_ntawss) - np.log(0.55)) / 0.5
        + 0.6 * (sac_osi_max - 0.18) / 0.09
        + 0.8 * expit((aspect_ratio - 1.6) / 0.1)  # a soft step at AR = 1.6
    )
    b0 = brentq(lambda b: float(np.mean(expit(logit_no_intercept + b))) - 0.30, -20.0, 20.0)
    ruptured = rng.random(n) < expit(logit_no_intercept + b0)
    return [
        {
            "case_id": f"demo-{i:04d}",
            "ruptured": int(ruptured[i]),
            "size_ratio": round(float(size_ratio[i]), 4),
            "sac_ntawss": round(float(sac_ntawss[i]), 4),
            "sac_osi_max": round(float(sac_osi_max[i]), 4),
            "lsa": round(float(lsa[i]), 4),
            "aspect_ratio": round(float(aspect_ratio[i]), 4),
            "label_source": DEMO_LABEL_SOURCE,
        }
        for i in range(n)
    ]
