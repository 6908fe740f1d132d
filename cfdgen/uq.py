"""Uncertainty of the measured boundary conditions: input distributions, designs, sensitivity and per-point bands.

Three steps, each reading what the previous one wrote (issue 5):

1. **Inputs** (:func:`uncertain_inputs`, :func:`input_distributions`): chaospy marginals built from a case's
   measurements, population ranges (:mod:`cfdgen.reference`) where a measurement is missing. The joint is
   independent, so every design is made on the unit hypercube and mapped through each marginal's inverse CDF.
2. **Design** (:func:`make_design`, :func:`write_design`, :func:`read_design`): ``design.csv`` (one row per run,
   ``sample_id`` then one SI column per input, header ``name [unit]``) and ``design.json`` (method, size, seed,
   distributions in words and parameters, SALib problem, library versions, format version). Every later step
   reads the rows from the CSV, never regenerates them, so the same file makes the same runs on any machine;
   regenerating with the same seed and library versions gives the same bytes.
3. **Analysis** (:func:`analyse`): sac-level quantities of interest from each run's ``post/summary.json``,
   Sobol S1/ST with confidence intervals (SALib) for ``sobol`` designs, Morris μ*/σ for ``morris`` designs,
   a polynomial chaos expansion (chaospy) for ``pce`` designs, both for the quantities and per wall point of
   TAWSS and OSI (mean, sd, 5 % and 95 % quantiles) → ``uq.json``, ``uq_wall.vtp`` and plots.

Design size ``n`` per method (the libraries' own conventions, not the number of runs):

==========  ==========================================  =================================
method      n means                                     runs
==========  ==========================================  =================================
sobol       Saltelli base size, a power of 2            n·(d+2), or n·(2d+2) with S2
morris      trajectories                                n·(d+1)
pce sobol   runs (quasi-random rule "sobol"/"halton")   n
pce gauss   Gaussian quadrature order per input         (n+1)^d
==========  ==========================================  =================================

Run folder convention for the analysis: ``DIR/runs/<sample_id>/`` holding ``qc.json`` (status), and
``post/summary.json`` + ``post/wall.vtp`` from :func:`cfdgen.post.postprocess`; or pass the folders explicitly.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import version as _dist_version
from pathlib import Path
from typing import Any, Literal

import chaospy
import numpy as np

from cfdgen import __version__, reference, registry
from cfdgen.atomic import write_json, write_text
from cfdgen.bc import BoundaryConditions, Waveform, flow_split
from cfdgen.case import Case, Measured
from cfdgen.errors import ConfigError, IahemoError

DESIGN_FORMAT_VERSION = "1"
UQ_FORMAT_VERSION = "1"
DESIGN_CSV = "design.csv"
DESIGN_JSON = "design.json"
UQ_JSON = "uq.json"
UQ_WALL = "uq_wall.vtp"
RUNS = "runs"  # default run folders: DIR/runs/<sample_id>/

# "spread": n quasi-random draws of the joint input distribution and no analysis — the BC variety of a training
# dataset, where a handful of runs per geometry is all the budget allows.
METHODS = ("sobol", "morris", "pce", "spread")
PCE_RULES = ("sobol", "halton", "gaussian")
# "mean_velocity" and "mean_flow" name the same input, the inflow magnitude: the case decides which one exists
# (a measured mean flow takes precedence over velocity × area, as in cfdgen.bc.inlet_waveform).
INPUTS = ("mean_velocity", "mean_flow", "period", "harmonic_scale", "viscosity", "split_exponent", "mean_pressure")
DEFAULT_INPUTS = ("mean_velocity", "period", "harmonic_scale", "viscosity", "split_exponent", "mean_pressure")
UNITS = {
    "mean_velocity": "m/s",
    "mean_flow": "m^3/s",
    "period": "s",
    "harmonic_scale": "1",
    "viscosity": "Pa*s",
    "split_exponent": "1",
    "mean_pressure": "Pa",
}
WALL_FIELDS = ("tawss", "osi")  # registry keys of the per-point bands
WALL_STATS = ("mean", "std")  # plus one pXX per quantile


class UQError(IahemoError):
    """A design or run set that cannot be analysed (one readable line)."""


# ---------------------------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class UQConfig:
    """Which inputs vary, their population ranges, design options and analysis settings."""

    inputs: tuple[str, ...] = DEFAULT_INPUTS
    velocity_log_sd: float = reference.MEAN_VELOCITY_LOG_SD  # σ of log(inflow) when the inflow is a default
    period_range: tuple[float, float] = reference.PERIOD_RANGE  # s, when no heart rate is measured
    # One common factor on all harmonics, uniform on 1 ± this: one input instead of ten keeps a Sobol design at
    # n·(d+2) runs with d ≈ 6 rather than d ≈ 15; it moves the pulsatility (what OSI responds to) as a whole.
    harmonic_perturbation: float = reference.HARMONIC_PERTURBATION
    viscosity_range: tuple[float, float] = reference.VISCOSITY_RANGE  # Pa·s
    split_exponent_range: tuple[float, float] = reference.OUTLET_SPLIT_EXPONENT_RANGE
    calc_second_order: bool = False  # Sobol S2 costs n·d more runs; the CFD budget usually cannot afford it
    morris_levels: int = 4
    pce_rule: str = "sobol"  # "sobol"/"halton" quasi-random of size n, or "gaussian" quadrature of order n
    pce_order: int = 2  # total order of the expansion fitted by regression
    n_bootstrap: int = 100  # SALib confidence-interval resamples
    conf_level: float = 0.95
    n_pce_samples: int = 10_000  # surrogate draws for the quantiles
    quantiles: tuple[float, ...] = (0.05, 0.95)

    def __post_init__(self):
        inputs = tuple(self.inputs)
        unknown = [x for x in inputs if x not in INPUTS]
        if unknown:
            raise ConfigError(f"unknown uncertain input {unknown[0]!r} (allowed: {', '.join(INPUTS)})")
        if len(set(inputs)) != len(inputs):
            raise ConfigError(f"uncertain inputs are listed twice: {list(inputs)}")
        object.__setattr__(self, "inputs", inputs)
        for name in ("period_range", "viscosity_range", "split_exponent_range"):
            lo, hi = (float(v) for v in getattr(self, name))
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
                raise ConfigError(f"uq {name} must be 0 < low < high, got [{lo}, {hi}]")
            object.__setattr__(self, name, (lo, hi))
        if not (math.isfinite(self.velocity_log_sd) and self.velocity_log_sd > 0):
            raise ConfigError(f"uq velocity_log_sd must be > 0, got {self.velocity_log_sd}")
        if not 0 < self.harmonic_perturbation < 1:
            raise ConfigError(f"uq harmonic_perturbation must be in (0, 1), got {self.harmonic_perturbation}")
        if self.morris_levels < 2 or self.morris_levels % 2:
            raise ConfigError(f"uq morris_levels must be an even number >= 2, got {self.morris_levels}")
        if self.pce_rule not in PCE_RULES:
            raise ConfigError(f"unknown PCE rule {self.pce_rule!r} (allowed: {', '.join(PCE_RULES)})")
        if self.pce_order < 1:
            raise ConfigError(f"uq pce_order must be >= 1, got {self.pce_order}")
        if self.n_bootstrap < 1 or self.n_pce_samples < 100:
            raise ConfigError("uq n_bootstrap must be >= 1 and n_pce_samples >= 100")
        if not 0 < self.conf_level < 1:
            raise ConfigError(f"uq conf_level must be in (0, 1), got {self.conf_level}")
        qs = tuple(float(q) for q in self.quantiles)
        if not qs or any(not 0 < q < 1 for q in qs):
            raise ConfigError(f"uq quantiles must be in (0, 1), got {list(qs)}")
        object.__setattr__(self, "quantiles", qs)

    def analysis_settings(self) -> dict[str, Any]:
        """The fields the analysis uses; recorded in design.json so a later analysis uses the same ones."""
        keys = ("pce_order", "n_bootstrap", "conf_level", "n_pce_samples", "quantiles")
        return {k: (list(v) if isinstance(v := getattr(self, k), tuple) else v) for k in keys}

    def with_analysis(self, settings: Mapping[str, Any]) -> UQConfig:
        allowed = self.analysis_settings()
        known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in settings.items() if k in allowed}
        return replace(self, **known)


# ---------------------------------------------------------------------------------------------------------------
# Input distributions

Kind = Literal["uniform", "normal", "lognormal", "truncnormal"]
_PARAMS: dict[str, tuple[str, ...]] = {
    "uniform": ("lower", "upper"),
    "normal": ("mu", "sigma"),
    "lognormal": ("mu_log", "sigma_log"),  # of log(x)
    "truncnormal": ("mu", "sigma", "lower", "upper"),  # the normal before truncation
}


@dataclass(frozen=True)
class InputSpec:
    """One uncertain input: a named marginal in SI units that can be rebuilt from design.json."""

    name: str
    unit: str
    kind: Kind
    params: tuple[float, ...]
    source: str = ""  # where the numbers came from, in words

    def __post_init__(self):
        if self.kind not in _PARAMS:
            raise ConfigError(f"unknown distribution {self.kind!r} (allowed: {', '.join(_PARAMS)})")
        p = tuple(float(v) for v in self.params)
        if len(p) != len(_PARAMS[self.kind]):
            raise ConfigError(f"{self.name}: a {self.kind} distribution needs {', '.join(_PARAMS[self.kind])}")
        if self.kind == "uniform" and not p[0] < p[1]:
            raise ConfigError(f"{self.name}: uniform needs lower < upper, got [{p[0]}, {p[1]}]")
        if self.kind != "uniform" and not (math.isfinite(p[1]) and p[1] > 0):
            raise ConfigError(f"{self.name}: standard deviation must be > 0, got {p[1]}")
        object.__setattr__(self, "params", p)

    def distribution(self) -> chaospy.Distribution:
        p = self.params
        if self.kind == "uniform":
            return chaospy.Uniform(p[0], p[1])
        if self.kind == "normal":
            return chaospy.Normal(p[0], p[1])
        if self.kind == "lognormal":
            return chaospy.LogNormal(p[0], p[1])
        return chaospy.TruncNormal(p[2], p[3], p[0], p[1])

    def describe(self) -> str:
        p, u = self.params, self.unit
        if self.kind == "uniform":
            text = f"uniform on [{p[0]:.6g}, {p[1]:.6g}] {u} (sd {reference.uniform_sd(p[0], p[1]):.4g})"
        elif self.kind == "normal":
            text = f"normal, mean {p[0]:.6g} {u}, sd {p[1]:.4g}"
        elif self.kind == "lognormal":
            mean = math.exp(p[0] + p[1] ** 2 / 2)
            text = f"log-normal, mean {mean:.6g} {u}, median {math.exp(p[0]):.6g} {u}, sigma of log {p[1]:.4g}"
        else:
            text = f"normal, mean {p[0]:.6g} {u}, sd {p[1]:.4g}, truncated to [{p[2]:.6g}, {p[3]:.6g}]"
        return f"{text}; {self.source}" if self.source else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "distribution": self.kind,
            "parameters": dict(zip(_PARAMS[self.kind], self.params, strict=True)),
            "description": self.describe(),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSpec:
        kind = d["distribution"]
        if kind not in _PARAMS:
            raise ConfigError(f"unknown distribution {kind!r} in design file (allowed: {', '.join(_PARAMS)})")
        params = tuple(float(d["parameters"][k]) for k in _PARAMS[kind])
        return cls(d["name"], d["unit"], kind, params, d.get("source", ""))


def lognormal_from_mean_sd(mean: float, sd: float) -> tuple[float, float]:
    """(μ, σ) of log(x) for a log-normal with the given mean and sd: the nominal value stays the expected value."""
    sigma = math.sqrt(math.log1p((sd / mean) ** 2))
    return math.log(mean) - sigma**2 / 2, sigma


def _check_sd(name: str, m: Measured) -> None:
    if not (math.isfinite(m.sd) and m.sd >= 0):
        raise ConfigError(f"{name}: standard deviation must be >= 0, got {m.sd}")


def uncertain_inputs(
    case: Case, cfg: UQConfig = UQConfig(), n_outlets: int | None = None
) -> tuple[tuple[InputSpec, ...], dict[str, float], list[str]]:
    """The varied inputs (in ``cfg.inputs`` order), the requested inputs held fixed (name → SI value), and notes
    saying why each choice was made. ``n_outlets`` None means unknown (the split exponent stays)."""
    m = case.measurements
    defaults = set(case.defaults_used)
    specs: list[InputSpec] = []
    fixed: dict[str, float] = {}
    notes: list[str] = []
    seen_inflow = False
    for name in cfg.inputs:
        if name in ("mean_velocity", "mean_flow"):
            if seen_inflow:
                continue
            seen_inflow = True
            meas, key = (m.mean_flow, "mean_flow") if m.mean_flow is not None else (m.mean_velocity, "mean_velocity")
            if meas is None:
                raise ConfigError(f"{case.path}: uq input {name}: the case has no mean velocity or mean flow")
            _check_sd(f"{case.path}: measurements.doppler.{key}", meas)
            if "doppler.mean_velocity" in defaults and key == "mean_velocity":
                mu = math.log(meas.value) - cfg.velocity_log_sd**2 / 2
                src = f"population default {meas.value:g} m/s, sigma of log {cfg.velocity_log_sd:g} (no Doppler value)"
                specs.append(InputSpec(key, UNITS[key], "lognormal", (mu, cfg.velocity_log_sd), src))
            elif meas.sd > 0:
                mu, sigma = lognormal_from_mean_sd(meas.value, meas.sd)
                src = f"Doppler {meas.value:.6g} ± {meas.sd:.4g} {UNITS[key]} ({meas.source})"
                specs.append(InputSpec(key, UNITS[key], "lognormal", (mu, sigma), src))
            else:
                fixed[key] = meas.value
                notes.append(f"{key}: measured without sd, held at {meas.value:.6g} {UNITS[key]}")
        elif name == "period":
            meas = m.heart_period
            _check_sd(f"{case.path}: measurements.doppler.heart_rate", meas)
            if "doppler.heart_rate" in defaults:
                lo, hi = cfg.period_range
                specs.append(InputSpec(name, UNITS[name], "uniform", (lo, hi), "population range (no heart rate)"))
            elif meas.sd > 0:
                src = f"from the heart rate, {meas.value:.6g} ± {meas.sd:.4g} s ({meas.source}), truncated positive"
                # upper bound 10 sd out (the mass beyond is < 1e-23): design.json stays finite, strict JSON
                upper = meas.value + 10 * meas.sd
                specs.append(InputSpec(name, UNITS[name], "truncnormal", (meas.value, meas.sd, 0.0, upper), src))
            else:
                fixed[name] = meas.value
                notes.append(f"period: heart rate measured without sd, held at {meas.value:.6g} s")
        elif name == "harmonic_scale":
            e = cfg.harmonic_perturbation
            src = f"one common factor on all waveform harmonics, ±{e:.0%}"
            specs.append(InputSpec(name, UNITS[name], "uniform", (1 - e, 1 + e), src))
        elif name == "viscosity":
            specs.append(InputSpec(name, UNITS[name], "uniform", cfg.viscosity_range, "population range"))
        elif name == "split_exponent":
            if n_outlets == 1:
                notes.append("split_exponent: dropped, one outlet carries all the flow whatever the exponent")
                continue
            specs.append(InputSpec(name, UNITS[name], "uniform", cfg.split_exponent_range, "square .. cube law"))
            if n_outlets is None:
                notes.append("split_exponent: outlet count unknown; the input is inert if the geometry has one outlet")
        elif name == "mean_pressure":
            meas = m.mean_pressure
            _check_sd(f"{case.path}: measurements.pressure_wire", meas)
            if "pressure_wire.mean" in defaults:
                fixed[name] = meas.value
                notes.append(
                    f"mean_pressure: no pressure wire value, fixed at {meas.value:g} Pa gauge (velocity and WSS do "
                    "not depend on it)"
                )
            elif meas.sd > 0:
                src = f"pressure wire {meas.value:.6g} ± {meas.sd:.4g} Pa ({meas.source})"
                specs.append(InputSpec(name, UNITS[name], "normal", (meas.value, meas.sd), src))
            else:
                fixed[name] = meas.value
                notes.append(f"mean_pressure: measured without sd, held at {meas.value:.6g} Pa")
    if not specs:
        raise ConfigError(
            f"{case.path}: none of the requested uq inputs ({', '.join(cfg.inputs)}) varies for this case"
        )
    return tuple(specs), fixed, notes


def joint(specs: Sequence[InputSpec]) -> chaospy.Distribution:
    """Independent joint distribution of the inputs (chaospy.J)."""
    return chaospy.J(*(s.distribution() for s in specs))


def input_distributions(
    case: Case, cfg: UQConfig = UQConfig(), n_outlets: int | None = None
) -> tuple[tuple[str, ...], chaospy.Distribution, list[str]]:
    """(names, chaospy joint distribution, notes) of the case's uncertain inputs."""
    specs, _, notes = uncertain_inputs(case, cfg, n_outlets)
    return tuple(s.name for s in specs), joint(specs), notes


# ---------------------------------------------------------------------------------------------------------------
# Designs


@dataclass(frozen=True, eq=False)
class Design:
    """A design: the inputs, one row per run (SI), and everything needed to analyse the runs later."""

    method: str
    n: int
    seed: int
    inputs: tuple[InputSpec, ...]
    samples: np.ndarray  # (n_runs, d), SI
    options: dict[str, Any] = field(default_factory=dict)  # calc_second_order, morris_levels, pce_rule, analysis
    fixed: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    case_id: str | None = None
    weights: np.ndarray | None = None  # quadrature weights of a Gaussian PCE design

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.inputs)

    @property
    def n_runs(self) -> int:
        return len(self.samples)

    @property
    def dist(self) -> chaospy.Distribution:
        return joint(self.inputs)

    @property
    def sample_ids(self) -> tuple[str, ...]:
        return sample_ids(self.n_runs)

    def problem(self) -> dict[str, Any]:
        """SALib problem: the unit hypercube; rows are its points mapped through the marginals' inverse CDFs."""
        return {"num_vars": len(self.inputs), "names": list(self.names), "bounds": [[0.0, 1.0]] * len(self.inputs)}

    def rows(self) -> list[tuple[str, dict[str, float]]]:
        """(sample_id, {input name: SI value}) per run, in design order."""
        return [
            (sid, dict(zip(self.names, map(float, row), strict=True)))
            for sid, row in zip(self.sample_ids, self.samples, strict=True)
        ]

    def unit_samples(self) -> np.ndarray:
        """The rows mapped back to the unit hypercube (the marginal CDFs)."""
        return np.asarray(self.dist.fwd(self.samples.T), dtype=float).reshape(len(self.inputs), -1).T


def sample_ids(n_runs: int) -> tuple[str, ...]:
    width = max(4, len(str(n_runs - 1)))
    return tuple(f"s{i:0{width}d}" for i in range(n_runs))


def _to_marginals(specs: Sequence[InputSpec], u: np.ndarray) -> np.ndarray:
    """Unit-hypercube points (n, d) → SI rows through each marginal's inverse CDF (the joint is independent)."""
    # An endpoint would map to ±inf for unbounded marginals; scrambled Sobol points never hit it, but be safe.
    u = np.clip(np.asarray(u, dtype=float), 1e-12, 1 - 1e-12)
    x = joint(specs).inv(u.T)
    return np.asarray(x, dtype=float).reshape(len(specs), -1).T


def n_pce_terms(order: int, d: int) -> int:
    """Number of terms of a total-order-``order`` expansion in ``d`` inputs, C(d+order, order)."""
    return math.comb(d + order, order)


def design_from_inputs(
    specs: Sequence[InputSpec],
    method: str,
    n: int,
    seed: int = 0,
    cfg: UQConfig = UQConfig(),
    *,
    fixed: Mapping[str, float] | None = None,
    notes: Sequence[str] = (),
    case_id: str | None = None,
) -> Design:
    """A design of any set of inputs (the case-free core of :func:`make_design`; used by the verifications)."""
    specs = tuple(specs)
    d = len(specs)
    if d == 0:
        raise ConfigError("a design needs at least one uncertain input")
    if len({s.name for s in specs}) != d:
        raise ConfigError(f"input names must be unique, got {[s.name for s in specs]}")
    if method not in METHODS:
        raise ConfigError(f"unknown uq method {method!r} (allowed: {', '.join(METHODS)})")
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ConfigError(f"design size n must be a positive integer, got {n}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed}")
    n, seed = int(n), int(seed)
    options: dict[str, Any] = {"analysis": cfg.analysis_settings()}
    weights = None
    problem = {"num_vars": d, "names": [s.name for s in specs], "bounds": [[0.0, 1.0]] * d}
    if method == "sobol":
        from SALib.sample import sobol as sobol_sample

        if n & (n - 1):
            lo = 1 << (n.bit_length() - 1)
            raise ConfigError(f"sobol designs need n a power of 2 (got {n}; try {lo} or {2 * lo})")
        u = sobol_sample.sample(problem, n, calc_second_order=cfg.calc_second_order, scramble=True, seed=seed)
        x = _to_marginals(specs, u)
        options["calc_second_order"] = cfg.calc_second_order
    elif method == "morris":
        from SALib.sample import morris as morris_sample

        if n < 2:
            raise ConfigError(f"morris designs need n >= 2 trajectories, got {n}")
        p = cfg.morris_levels
        levels = morris_sample.sample(problem, n, num_levels=p, seed=seed)
        # Levels 0 and 1 are the hypercube's faces (±inf for a normal input): use the centres of p equal-probability
        # cells, (i + ½)/p; the one-at-a-time structure and step directions are unchanged.
        x = _to_marginals(specs, (levels * (p - 1) + 0.5) / p)
        options["morris_levels"] = p
    elif method == "spread":
        # Sobol' points skip the origin (which maps to the marginals' medians only by accident of the CDF)
        x = np.asarray(joint(specs).sample(n, rule="sobol"), dtype=float).reshape(d, -1).T
    else:
        options["pce_rule"] = cfg.pce_rule
        dist = joint(specs)
        if cfg.pce_rule == "gaussian":
            nodes, w = chaospy.generate_quadrature(n, dist, rule="gaussian")
            x, weights = np.asarray(nodes, dtype=float).reshape(d, -1).T, np.asarray(w, dtype=float)
        else:
            # chaospy's quasi-random sequences are deterministic (the seed is recorded but not needed).
            x = np.asarray(dist.sample(n, rule=cfg.pce_rule), dtype=float).reshape(d, -1).T
        terms = n_pce_terms(cfg.pce_order, d)
        if len(x) < terms:
            raise ConfigError(
                f"a PCE of order {cfg.pce_order} in {d} inputs has {terms} terms; {len(x)} runs cannot fit it "
                f"(use n >= {2 * terms} for a stable regression)"
            )
    return Design(method, n, seed, specs, x, options, dict(fixed or {}), tuple(notes), case_id, weights)


def make_design(
    case: Case, method: str, n: int, seed: int = 0, cfg: UQConfig = UQConfig(), n_outlets: int | None = None
) -> Design:
    """The design of a case: see the module table for what ``n`` means per method."""
    specs, fixed, notes = uncertain_inputs(case, cfg, n_outlets)
    return design_from_inputs(specs, method, n, seed, cfg, fixed=fixed, notes=notes, case_id=case.id)


def _library_versions() -> dict[str, str]:
    return {"cfdgen": __version__, **{k: _dist_version(k) for k in ("SALib", "chaospy", "numpy", "scipy")}}


def _column(name: str, unit: str) -> str:
    return f"{name} [{unit}]"


def design_csv_text(design: Design) -> str:
    """CSV text of the rows; floats as their shortest round-trip repr so the text is exact and deterministic."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["sample_id", *(_column(s.name, s.unit) for s in design.inputs)])
    for sid, row in zip(design.sample_ids, design.samples, strict=True):
        writer.writerow([sid, *(repr(float(v)) for v in row)])
    return buf.getvalue()


def design_record(design: Design) -> dict[str, Any]:
    return {
        "format_version": DESIGN_FORMAT_VERSION,
        "case_id": design.case_id,
        "method": design.method,
        "n": design.n,
        "seed": design.seed,
        "n_runs": design.n_runs,
        "names": list(design.names),
        "inputs": [s.to_dict() for s in design.inputs],
        "fixed": {k: {"value": v, "unit": UNITS.get(k, "")} for k, v in design.fixed.items()},
        "options": design.options,
        "problem": design.problem(),
        "mapping": "design points on the unit hypercube mapped through each marginal's inverse CDF (independent)",
        "weights": None if design.weights is None else design.weights.tolist(),
        "rows": DESIGN_CSV,
        "run_folders": f"{RUNS}/<sample_id>/",
        "versions": _library_versions(),
        "notes": list(design.notes),
    }


def write_design(design: Design, out_dir: str | Path) -> tuple[Path, Path]:
    """``design.csv`` and ``design.json`` in ``out_dir`` (each atomically); returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / DESIGN_CSV, design_csv_text(design))
    write_json(out / DESIGN_JSON, design_record(design))
    return out / DESIGN_CSV, out / DESIGN_JSON


def read_design(design_dir: str | Path) -> Design:
    """The design written by :func:`write_design`; the rows come from the CSV, checked against design.json."""
    d = Path(design_dir)
    for name in (DESIGN_JSON, DESIGN_CSV):
        if not (d / name).is_file():
            raise UQError(f"{d}: no {name} (write a design first: iahemo uq design)")
    try:
        rec = json.loads((d / DESIGN_JSON).read_text())
    except json.JSONDecodeError as exc:
        raise UQError(f"{d / DESIGN_JSON}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if rec.get("format_version") != DESIGN_FORMAT_VERSION:
        raise UQError(
            f"{d / DESIGN_JSON}: design format version {rec.get('format_version')!r}, this code reads "
            f"{DESIGN_FORMAT_VERSION!r}"
        )
    specs = tuple(InputSpec.from_dict(s) for s in rec["inputs"])
    with (d / DESIGN_CSV).open(newline="") as fh:
        table = list(csv.reader(fh))
    expected = ["sample_id", *(_column(s.name, s.unit) for s in specs)]
    if not table or table[0] != expected:
        raise UQError(f"{d / DESIGN_CSV}: header {table[0] if table else []} does not match design.json {expected}")
    body = table[1:]
    ids = tuple(r[0] for r in body)
    if len(body) != rec["n_runs"] or ids != sample_ids(len(body)):
        raise UQError(f"{d / DESIGN_CSV}: expected {rec['n_runs']} rows s0000.. in order, got {len(body)}")
    try:
        x = np.array([[float(v) for v in r[1:]] for r in body], dtype=float).reshape(len(body), len(specs))
    except ValueError as exc:
        raise UQError(f"{d / DESIGN_CSV}: not a numeric table ({exc})") from None
    weights = None if rec.get("weights") is None else np.asarray(rec["weights"], dtype=float)
    fixed = {k: float(v["value"]) for k, v in (rec.get("fixed") or {}).items()}
    return Design(
        rec["method"], int(rec["n"]), int(rec["seed"]), specs, x, dict(rec.get("options") or {}), fixed,
        tuple(rec.get("notes") or ()), rec.get("case_id"), weights,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Boundary conditions of one design row


def design_boundary_conditions(
    base: BoundaryConditions,
    row: Mapping[str, float],
    outlet_diameters_m,
    inlet_area_m2: float | None = None,
) -> BoundaryConditions:
    """The run's boundary conditions: ``base`` (the case's nominal BCs) with the row's inputs substituted.

    The harmonic scale multiplies every harmonic of ``base``'s waveform (mean and phases unchanged); the split
    exponent recomputes the outlet fractions from the outlet diameters; a mean velocity needs the inlet area.
    """
    unknown = sorted(set(row) - set(INPUTS))
    if unknown:
        raise ConfigError(f"design row has unknown inputs {unknown} (allowed: {', '.join(INPUTS)})")
    w = base.waveform
    mean_flow, period = w.mean_flow, w.period
    if "mean_velocity" in row and "mean_flow" in row:
        raise ConfigError("a design row gives both mean_velocity and mean_flow; the inflow needs exactly one")
    if "mean_velocity" in row:
        if inlet_area_m2 is None or not (math.isfinite(inlet_area_m2) and inlet_area_m2 > 0):
            raise ConfigError(f"a mean_velocity row needs the inlet area (positive m²), got {inlet_area_m2}")
        mean_flow = float(row["mean_velocity"]) * float(inlet_area_m2)
    elif "mean_flow" in row:
        mean_flow = float(row["mean_flow"])
    if "period" in row:
        period = float(row["period"])
    waveform = Waveform(mean_flow, period, w.a, w.b)
    if "harmonic_scale" in row:
        waveform = waveform.perturbed([float(row["harmonic_scale"]) - 1.0] * waveform.n_harmonics)
    changes: dict[str, Any] = {"waveform": waveform}
    if "viscosity" in row:
        changes["viscosity"] = float(row["viscosity"])
    if "split_exponent" in row:
        changes["split_exponent"] = float(row["split_exponent"])
        changes["outlet_fractions"] = tuple(flow_split(outlet_diameters_m, changes["split_exponent"]))
    if "mean_pressure" in row:
        changes["mean_pressure"] = float(row["mean_pressure"])
    note = "uq design row: " + ", ".join(f"{k}={float(v):.6g} {UNITS[k]}" for k, v in row.items())
    return replace(base, **changes, notes=(*base.notes, note))


# ---------------------------------------------------------------------------------------------------------------
# Pure analysis maths


@dataclass(frozen=True)
class Qoi:
    """A sac-level quantity of interest and where it sits in post/summary.json."""

    key: str
    label: str
    path: tuple[str, ...]


QOIS = (
    Qoi("sac_tawss_mean", f"sac mean {registry.FIELDS['tawss'].label}", ("sac", "tawss_mean")),
    Qoi("sac_ntawss_mean", f"sac mean {registry.FIELDS['ntawss'].label}", ("sac", "ntawss_mean")),
    Qoi("sac_osi_max", f"sac max {registry.FIELDS['osi'].label}", ("sac", "osi_max")),
    Qoi("sac_lsa", "LSA", ("sac", "lsa")),
    Qoi("pressure_drop_outlet_0", f"Δp {registry.INLET}→{registry.outlet(0)}", ("pressure_drop", registry.outlet(0))),
)


def sobol_indices(design: Design, y: np.ndarray, cfg: UQConfig = UQConfig()) -> dict[str, Any]:
    """Sobol S1/ST (and S2 when designed) with confidence half-widths, SALib's Saltelli/Jansen estimators."""
    from SALib.analyze import sobol as sobol_analyze

    y = np.asarray(y, dtype=float).reshape(-1)
    if design.method != "sobol" or len(y) != design.n_runs:
        raise UQError(f"Sobol indices need every run of a sobol design ({design.n_runs}), got {len(y)} values")
    second = bool(design.options.get("calc_second_order", False))
    si = sobol_analyze.analyze(
        design.problem(), y, calc_second_order=second, num_resamples=cfg.n_bootstrap,
        conf_level=cfg.conf_level, seed=design.seed,
    )  # fmt: skip
    out: dict[str, Any] = {}
    for key in ("S1", "ST"):
        out[key] = {
            name: {"value": _num(si[key][i]), "conf": _num(si[f"{key}_conf"][i])} for i, name in enumerate(design.names)
        }
    if second:
        out["S2"] = {
            f"{a}:{b}": {"value": _num(si["S2"][i, j]), "conf": _num(si["S2_conf"][i, j])}
            for i, a in enumerate(design.names)
            for j, b in enumerate(design.names)
            if j > i
        }
    return out


def morris_indices(design: Design, y: np.ndarray, cfg: UQConfig = UQConfig()) -> dict[str, Any]:
    """Morris μ, μ*, σ and μ* confidence per input (elementary effects per unit of the normalised input)."""
    from SALib.analyze import morris as morris_analyze

    y = np.asarray(y, dtype=float).reshape(-1)
    if design.method != "morris" or len(y) != design.n_runs:
        raise UQError(f"Morris indices need every run of a morris design ({design.n_runs}), got {len(y)} values")
    # Only the direction of each step is read from X; the unit coordinates are monotone in the SI rows.
    p = int(design.options.get("morris_levels", cfg.morris_levels))
    si = morris_analyze.analyze(
        design.problem(), design.unit_samples(), y, num_resamples=cfg.n_bootstrap, conf_level=cfg.conf_level,
        num_levels=p, seed=design.seed,
    )  # fmt: skip
    # SALib divides by its level-space step p/(2(p−1)); on the cell-centre quantiles a step is ½, so rescale to
    # effects per unit of the normalised input (a linear y = c·u gives μ* = c).
    scale = p / (p - 1)
    return {
        name: {k: _num(si[k][i] * scale) for k in ("mu", "mu_star", "sigma", "mu_star_conf")}
        for i, name in enumerate(design.names)
    }


@dataclass(frozen=True, eq=False)
class PCEFit:
    """Least-squares PCE of one or more outputs in an orthonormal basis of the joint input distribution."""

    expansion: Any  # numpoly array of n_terms orthonormal polynomials (first is the constant 1)
    coefficients: np.ndarray  # (n_terms, n_outputs)
    dist: chaospy.Distribution
    order: int
    loo_error: np.ndarray  # (n_outputs,) leave-one-out mean squared error / output variance (NaN if undefined)

    @property
    def mean(self) -> np.ndarray:
        return self.coefficients[0]

    @property
    def std(self) -> np.ndarray:
        # orthonormal basis: the variance is the sum of the squared non-constant coefficients
        return np.sqrt(np.sum(self.coefficients[1:] ** 2, axis=0))

    def polynomial(self):
        return chaospy.sum(self.expansion[:, None] * self.coefficients, axis=0)

    def quantiles(self, qs: Sequence[float], n_samples: int, seed: int, chunk: int = 2000) -> np.ndarray:
        """(len(qs), n_outputs) quantiles of the surrogate from ``n_samples`` draws of the inputs."""
        d = len(self.dist)
        u = np.random.default_rng(seed).random((d, n_samples))
        phi = np.asarray(self.expansion(*np.asarray(self.dist.inv(u)).reshape(d, -1)), dtype=float)  # (T, S)
        out = np.empty((len(qs), self.coefficients.shape[1]))
        for i in range(0, self.coefficients.shape[1], chunk):  # bounded memory for 10⁴–10⁵ wall points
            vals = self.coefficients[:, i : i + chunk].T @ phi
            out[:, i : i + chunk] = np.quantile(vals, qs, axis=1)
        return out


def fit_pce(dist: chaospy.Distribution, x: np.ndarray, y: np.ndarray, order: int) -> PCEFit:
    """chaospy.fit_regression of ``y`` (n_runs, n_outputs) on rows ``x`` (n_runs, d) with a total-order basis."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    y2 = y.reshape(len(y), -1)
    expansion = chaospy.generate_expansion(order, dist, normed=True)
    terms = len(expansion)
    if len(x) < terms:
        raise UQError(f"a PCE of order {order} in {x.shape[1]} inputs needs >= {terms} runs, got {len(x)}")
    _, coef = chaospy.fit_regression(expansion, x.T, y2, retall=1)
    coef = np.asarray(coef, dtype=float).reshape(terms, -1)
    # Leave-one-out residuals in closed form, r_i / (1 − h_ii), from the regression's hat matrix.
    a = np.asarray(expansion(*x.T), dtype=float).T
    h = np.einsum("ij,ji->i", a, np.linalg.pinv(a))
    resid = y2 - a @ coef
    var = y2.var(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = np.mean((resid / (1.0 - h)[:, None]) ** 2, axis=0) / var
    loo = np.where(np.isfinite(loo) & (np.max(h) < 1 - 1e-8), loo, np.nan)
    return PCEFit(expansion, coef, dist, order, loo)


def pce_sobol(fit: PCEFit, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """First-order and total Sobol indices of each output from the expansion (chaospy.Sens_m / Sens_t)."""
    poly = fit.polynomial()
    s1 = np.asarray(chaospy.Sens_m(poly, fit.dist), dtype=float).reshape(len(names), -1)
    st = np.asarray(chaospy.Sens_t(poly, fit.dist), dtype=float).reshape(len(names), -1)
    return {"S1": s1, "ST": st}


def empirical_bands(y: np.ndarray, qs: Sequence[float]) -> dict[str, np.ndarray]:
    """Mean, sd and quantiles over the runs (axis 0): for designs whose rows are draws of the joint (Saltelli)."""
    y = np.asarray(y, dtype=float)
    out = {"mean": y.mean(axis=0), "std": y.std(axis=0, ddof=1)}
    for q, v in zip(qs, np.quantile(y, qs, axis=0), strict=True):
        out[quantile_suffix(q)] = v
    return out


def quantile_suffix(q: float) -> str:
    return f"p{round(q * 100):02d}"


def wall_array_name(field_key: str, stat: str) -> str:
    """Name of a per-point UQ array on uq_wall.vtp, e.g. ``tawss_std``: the registry key plus the statistic."""
    return f"{registry.field(field_key).key}_{stat}"


def _num(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


# ---------------------------------------------------------------------------------------------------------------
# Collecting runs (side effects: reading run folders)


@dataclass(frozen=True, eq=False)
class RunSet:
    used: tuple[str, ...]  # sample ids, design order
    excluded: tuple[tuple[str, str], ...]  # (sample id, reason)
    summaries: dict[str, dict]
    run_dirs: dict[str, Path]


def default_run_dirs(design_dir: str | Path, design: Design) -> dict[str, Path]:
    """The convention: DIR/runs/<sample_id>/."""
    return {sid: Path(design_dir) / RUNS / sid for sid in design.sample_ids}


def collect_runs(design: Design, run_dirs: Mapping[str, str | Path]) -> RunSet:
    """Sort the runs into converged and post-processed (used) and the rest (excluded, with the reason)."""
    unknown = sorted(set(run_dirs) - set(design.sample_ids))
    if unknown:
        raise UQError(f"run folders for sample ids not in the design: {', '.join(unknown[:5])}")
    used, excluded, summaries, dirs = [], [], {}, {}
    for sid in design.sample_ids:
        rd = run_dirs.get(sid)
        reason = None
        if rd is None or not Path(rd).is_dir():
            reason = "no run folder"
        else:
            rd = Path(rd)
            try:
                qc = json.loads((rd / "qc.json").read_text())
                status = qc.get("status")
                if status != "converged":
                    why = " ".join(str(qc.get("reason") or "no reason recorded").split())  # keep messages one line
                    reason = f"status {status!r} ({why})"
            except FileNotFoundError:
                reason = "no qc.json (run not finished)"
            except json.JSONDecodeError:
                reason = "qc.json is not valid JSON"
            if reason is None:
                try:
                    summaries[sid] = json.loads((rd / "post" / "summary.json").read_text())
                except (FileNotFoundError, json.JSONDecodeError):
                    reason = "no readable post/summary.json (not post-processed)"
        if reason is None:
            used.append(sid)
            dirs[sid] = rd
        else:
            excluded.append((sid, reason))
    return RunSet(tuple(used), tuple(excluded), summaries, dirs)


def _lookup(summary: dict, path: tuple[str, ...]) -> tuple[float | None, str | None]:
    node: Any = summary
    for p in path:
        if not isinstance(node, dict) or node.get(p) is None:
            return None, None
        node = node[p]
    if isinstance(node, dict):
        value, unit = node.get("value"), node.get("unit")
    else:
        value, unit = node, None
    if value is None or not math.isfinite(float(value)):
        return None, unit
    return float(value), unit


def qoi_table(runs: RunSet) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """Values per QoI over the used runs, their units, and the QoIs skipped (→ why)."""
    values, units, skipped = {}, {}, {}
    for q in QOIS:
        vals, unit, missing = [], None, []
        for sid in runs.used:
            v, u = _lookup(runs.summaries[sid], q.path)
            unit = unit or u
            if v is None:
                missing.append(sid)
            vals.append(np.nan if v is None else v)
        if missing:
            skipped[q.key] = f"missing or not finite in {len(missing)} run(s): {', '.join(missing[:5])}"
        else:
            values[q.key], units[q.key] = np.asarray(vals), unit or ""
    return values, units, skipped


def read_walls(runs: RunSet, keys: Sequence[str] = WALL_FIELDS):
    """(first wall mesh, {key: (n_used, n_points) array}) from each used run's post/wall.vtp; one mesh required."""
    import pyvista as pv

    ref, ref_id, data = None, None, {k: [] for k in keys}
    for sid in runs.used:
        path = runs.run_dirs[sid] / "post" / "wall.vtp"
        if not path.is_file():
            raise UQError(f"{path}: missing; per-point UQ needs the wall of every used run")
        wall = pv.read(path)
        if ref is None:
            ref, ref_id = wall, sid
        elif wall.n_points != ref.n_points or not np.allclose(wall.points, ref.points, rtol=0, atol=1e-6):
            raise UQError(
                f"runs {ref_id} ({ref.n_points} wall points) and {sid} ({wall.n_points}) do not share one wall "
                "mesh; per-point UQ needs every run on the same mesh"
            )
        for k in keys:
            name = registry.field(k).key
            if name not in wall.point_data:
                raise UQError(f"{path}: no point array {name!r}")
            data[k].append(np.asarray(wall.point_data[name], dtype=float))
    return ref, {k: np.vstack(v) for k, v in data.items()}


# ---------------------------------------------------------------------------------------------------------------
# The analysis


def _refuse_missing(design: Design, runs: RunSet) -> None:
    if runs.excluded:
        listed = "; ".join(f"{sid}: {why}" for sid, why in runs.excluded[:10])
        more = f" (+{len(runs.excluded) - 10} more)" if len(runs.excluded) > 10 else ""
        raise UQError(
            f"a {design.method} design needs every run, {len(runs.excluded)} of {design.n_runs} missing or failed "
            f"— {listed}{more}; rerun them (the estimator cannot skip runs)"
        )


def analyse(
    design_dir: str | Path,
    run_dirs: Mapping[str, str | Path] | None = None,
    cfg: UQConfig | None = None,
    *,
    plots: bool = True,
) -> dict[str, Any]:
    """Analyse a design's runs → ``DIR/uq.json``, ``DIR/uq_wall.vtp`` and plots; returns the uq.json content.

    ``run_dirs`` maps sample id → run folder (default ``DIR/runs/<sample_id>/``). ``cfg`` None uses the analysis
    settings recorded in design.json. Sobol and Morris designs refuse a run set with missing or failed runs;
    PCE designs exclude them (listed) and fit on the rest.
    """
    from cfdgen.surface import write_atomic

    out = Path(design_dir)
    design = read_design(out)
    if design.method == "spread":
        raise UQError(f"{out}: a 'spread' design only spreads the inputs for a dataset; it has no analysis")
    if cfg is None:
        cfg = UQConfig().with_analysis(design.options.get("analysis", {}))
    runs = collect_runs(design, run_dirs if run_dirs is not None else default_run_dirs(out, design))
    if not runs.used:
        raise UQError(f"{out}: no usable runs ({len(runs.excluded)} excluded, first: {runs.excluded[0][1]})")
    if design.method in ("sobol", "morris"):
        _refuse_missing(design, runs)
    values, units, skipped = qoi_table(runs)
    idx = [design.sample_ids.index(s) for s in runs.used]
    x = design.samples[idx]
    notes = list(design.notes)
    result: dict[str, Any] = {
        "format_version": UQ_FORMAT_VERSION,
        "design": {k: v for k, v in design_record(design).items() if k not in ("weights", "notes")},
        "runs": {
            "n_design": design.n_runs,
            "used": list(runs.used),
            "excluded": [{"sample_id": s, "reason": r} for s, r in runs.excluded],
        },
        "settings": cfg.analysis_settings(),
        "qois": {
            q.key: {"label": q.label, "unit": units[q.key], "summary_path": "/".join(q.path)}
            for q in QOIS
            if q.key in values
        },
        "skipped_qois": skipped,
        "versions": _library_versions(),
    }
    if runs.excluded:
        notes.append(f"{len(runs.excluded)} run(s) excluded (not converged or not post-processed); see runs.excluded")
    for k, v in values.items():
        qs = np.quantile(v, cfg.quantiles)
        result["qois"][k]["runs"] = {"mean": _num(v.mean()), "std": _num(v.std(ddof=1)) if len(v) > 1 else None}
        result["qois"][k]["runs"] |= {quantile_suffix(q): _num(p) for q, p in zip(cfg.quantiles, qs, strict=True)}

    if design.method == "sobol":
        result["sobol"] = {k: sobol_indices(design, v, cfg) for k, v in values.items()}
        result["sobol_conf_level"] = cfg.conf_level
    elif design.method == "morris":
        result["morris"] = {k: morris_indices(design, v, cfg) for k, v in values.items()}
        result["morris_units"] = "elementary effects in QoI units per unit of the normalised input (its CDF, 0..1)"
    else:
        result["pce"] = _pce_qois(design, x, values, units, cfg)

    # Per-point bands: a PCE for pce designs; for sobol designs the rows are draws of the joint, so the plain
    # statistics over the runs; Morris trajectories are not draws of the joint and give no bands.
    wall = None
    if design.method in ("pce", "sobol"):
        try:
            ref, fields = read_walls(runs)
        except UQError as exc:
            if design.method == "pce" or "share one wall mesh" in str(exc):
                raise
            result["wall"] = None
            notes.append(f"no per-point bands: {exc}")
        else:
            wall, result["wall"] = _wall_bands(design, x, ref, fields, cfg)
            write_atomic(wall, out / UQ_WALL)
    result["notes"] = notes
    if plots:
        result["plots"] = _plots(out, result, wall)
    write_json(out / UQ_JSON, result)
    return result


def _pce_qois(design, x, values, units, cfg) -> dict[str, Any]:
    out: dict[str, Any] = {"order": cfg.pce_order, "n_terms": n_pce_terms(cfg.pce_order, len(design.inputs))}
    if not values:
        return out
    keys = list(values)
    fit = fit_pce(design.dist, x, np.column_stack([values[k] for k in keys]), cfg.pce_order)
    qs = fit.quantiles(cfg.quantiles, cfg.n_pce_samples, design.seed)
    sens = pce_sobol(fit, design.names)
    out["regression"] = "chaospy.fit_regression, orthonormal total-order basis"
    out["qois"] = {}
    for j, k in enumerate(keys):
        rec = {"unit": units[k], "mean": _num(fit.mean[j]), "std": _num(fit.std[j])}
        rec |= {quantile_suffix(q): _num(qs[i, j]) for i, q in enumerate(cfg.quantiles)}
        rec["loo_relative_error"] = _num(fit.loo_error[j])
        for s in ("S1", "ST"):
            rec[s] = {n: _num(sens[s][i, j]) for i, n in enumerate(design.names)}
        out["qois"][k] = rec
    return out


def _wall_bands(design, x, ref, fields, cfg):
    import pyvista as pv

    wall = pv.PolyData(np.asarray(ref.points), np.asarray(ref.faces))
    sac = registry.FIELDS["sac"].key
    if sac in ref.point_data:
        wall.point_data[sac] = np.asarray(ref.point_data[sac])
    info: dict[str, Any] = {"file": UQ_WALL, "n_points": int(wall.n_points), "arrays": {}}
    for key, y in fields.items():
        if not np.all(np.isfinite(y)):
            raise UQError(f"per-point {key} has non-finite values in some runs; cannot fit bands")
        if design.method == "pce":
            fit = fit_pce(design.dist, x, y, cfg.pce_order)
            stats = {"mean": fit.mean, "std": fit.std}
            qv = fit.quantiles(cfg.quantiles, cfg.n_pce_samples, design.seed)
            stats |= {quantile_suffix(q): qv[i] for i, q in enumerate(cfg.quantiles)}
            info["method"] = f"PCE of order {cfg.pce_order} per point (mean, sd closed form; quantiles sampled)"
            info.setdefault("loo_relative_error_median", {})[key] = _num(np.nanmedian(fit.loo_error))
        else:
            stats = empirical_bands(y, cfg.quantiles)
            info["method"] = "statistics over the design rows (Saltelli rows are draws of the joint)"
        unit = registry.field(key).unit
        for stat, v in stats.items():
            name = wall_array_name(key, stat)
            wall.point_data[name] = np.asarray(v, dtype=float)
            info["arrays"][name] = unit
        info.setdefault("max_std", {})[key] = {"value": _num(np.max(stats["std"])), "unit": unit}
    return wall, info


def _plots(out: Path, result: dict, wall) -> dict[str, Any]:
    from cfdgen import uq_plots

    made: dict[str, Any] = {}
    names = result["design"]["names"]
    jobs = []
    if "sobol" in result:
        jobs.append(("sobol", "uq_sobol.png", lambda p: uq_plots.sobol_bars(result["sobol"], names, p)))
    if "morris" in result:
        jobs.append(("morris", "uq_morris.png", lambda p: uq_plots.morris_scatter(result["morris"], names, p)))
    if result.get("pce", {}).get("qois"):
        jobs.append(("pce_sobol", "uq_pce_sobol.png", lambda p: uq_plots.sobol_bars(result["pce"]["qois"], names, p)))
    if wall is not None:
        name, f = wall_array_name("tawss", "std"), registry.field("tawss")
        title = f"sd of {f.label} [{f.unit}]"
        jobs.append(("tawss_std", "uq_tawss_std.png", lambda p: uq_plots.wall_map(wall, name, p, title)))
    for key, fname, job in jobs:
        try:
            job(out / fname)
            made[key] = fname
        except Exception as exc:  # a missing OpenGL context must not lose the numbers
            made[key] = None
            made[f"{key}_error"] = f"{type(exc).__name__}: {exc}"
    return made


# ---------------------------------------------------------------------------------------------------------------
# Verification: Ishigami function


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> tuple[list[float], list[float]]:
    """Analytic S1 and ST of y = sin x1 + a sin² x2 + b x3⁴ sin x1, inputs uniform on [−π, π].

    V1 = ½(1 + bπ⁴/5)², V2 = a²/8, V13 = b²π⁸(1/18 − 1/50), V3 = 0, V = V1 + V2 + V13.
    """
    v1 = 0.5 * (1 + b * math.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * math.pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return [v1 / v, v2 / v, 0.0], [(v1 + v13) / v, v2 / v, v13 / v]


def ishigami_check(work_dir: str | Path, n: int = 4096, seed: int = 3, a: float = 7.0, b: float = 0.1) -> dict:
    """Sobol indices of the Ishigami function through the design file path (write → read → evaluate → analyse);
    returns the indices and ``ishigami_max_abs_error`` against :func:`ishigami_indices` (for benchmarks)."""
    specs = [InputSpec(f"x{i}", "1", "uniform", (-math.pi, math.pi)) for i in (1, 2, 3)]
    write_design(design_from_inputs(specs, "sobol", n, seed), work_dir)
    design = read_design(work_dir)  # the analysis reads the rows back from design.csv
    x = design.samples
    y = np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])
    got = sobol_indices(design, y)
    s1, st = ishigami_indices(a, b)
    err = [abs(got["S1"][nm]["value"] - v) for nm, v in zip(design.names, s1, strict=True)]
    err += [abs(got["ST"][nm]["value"] - v) for nm, v in zip(design.names, st, strict=True)]
    return {
        "ishigami_max_abs_error": max(err),
        "n": n,
        "n_runs": design.n_runs,
        "seed": seed,
        "analytic": {"S1": s1, "ST": st},
        "indices": got,
    }


# ---------------------------------------------------------------------------------------------------------------
# Thin entry points for the CLI


def design_command(
    case_path: str | Path,
    method: str,
    n: int,
    out_dir: str | Path,
    seed: int = 0,
    *,
    mesh_dir: str | Path | None = None,
    cfg: UQConfig = UQConfig(),
) -> Design:
    """``iahemo uq design``: load the case, build the design, write DIR/design.csv and DIR/design.json.

    ``mesh_dir`` (a prepared geometry) gives the outlet count, so a single-outlet case drops the split exponent.
    """
    from cfdgen.case import load_case

    case = load_case(case_path)
    n_outlets = None
    if mesh_dir is not None:
        from cfdgen.simulate import outlet_diameters

        n_outlets = len(outlet_diameters(mesh_dir))
    design = make_design(case, method, n, seed, cfg, n_outlets)
    write_design(design, out_dir)
    return design


def analyse_command(design_dir: str | Path, run_dirs: Mapping[str, str | Path] | None = None) -> dict[str, Any]:
    """``iahemo uq analyse DIR``: runs from DIR/runs/<sample_id>/ unless given; writes uq.json, uq_wall.vtp, plots."""
    return analyse(design_dir, run_dirs)


__all__ = [
    "Design",
    "InputSpec",
    "PCEFit",
    "QOIS",
    "UQConfig",
    "UQError",
    "analyse",
    "analyse_command",
    "design_boundary_conditions",
    "design_command",
    "design_from_inputs",
    "empirical_bands",
    "fit_pce",
    "input_distributions",
    "ishigami_check",
    "ishigami_indices",
    "make_design",
    "morris_indices",
    "pce_sobol",
    "read_design",
    "sobol_indices",
    "uncertain_inputs",
    "wall_array_name",
    "write_design",
]


def run_boundary_conditions_for(design_dir: str | Path, sample_id: str, mesh_dir: str | Path, case=None):
    """The boundary conditions of one design row on a meshed geometry (the case's nominal BCs with the row's
    inputs substituted), plus the row itself for the run record."""
    from cfdgen.simulate import inlet_area, outlet_diameters, run_boundary_conditions

    design = read_design(design_dir)
    rows = dict(design.rows())
    if sample_id not in rows:
        raise UQError(
            f"{design_dir}: no design row {sample_id!r} (rows {design.sample_ids[0]}..{design.sample_ids[-1]})"
        )
    base = run_boundary_conditions(mesh_dir, case)
    row = {**design.fixed, **rows[sample_id]}
    row = {k: v for k, v in row.items() if k in INPUTS}
    bc = design_boundary_conditions(base, row, outlet_diameters(mesh_dir), inlet_area(mesh_dir))
    return bc, {"bc_sample": sample_id, "design": str(design_dir), "design_row": rows[sample_id]}
