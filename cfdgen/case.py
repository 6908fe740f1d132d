"""Case format: load and validate ``cases/<id>/case.yaml`` into a typed :class:`Case`.

Every violation becomes one line ``<file>: <field path>: <what is wrong>``; all lines are raised together in
one :class:`~cfdgen.errors.CaseError`. Missing measurements fall back to the documented population defaults
of :mod:`cfdgen.reference`, and :attr:`Case.defaults_used` names each one that did.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml

from cfdgen import reference
from cfdgen.errors import CaseError
from cfdgen.units import to_si

Source = Literal["measured", "derived", "default"]


@dataclass(frozen=True)
class Measured:
    """A value with its standard deviation, in SI units, and where it came from."""

    value: float
    sd: float
    source: Source


@dataclass(frozen=True)
class Measurements:
    mean_velocity: Measured | None  # m/s, cycle-averaged, parent artery; None when only the flow is given
    heart_period: Measured  # s
    mean_pressure: Measured  # Pa (gauge 0 when no pressure wire value)
    mean_flow: Measured | None = None  # m³/s, when given directly (takes precedence over velocity × area)
    peak_velocity: Measured | None = None  # m/s
    systolic_pressure: Measured | None = None  # Pa
    diastolic_pressure: Measured | None = None  # Pa
    doppler_location: str | None = None


@dataclass(frozen=True)
class Patient:
    age: float | None = None
    sex: str | None = None
    population: str | None = None
    hypertension: bool | None = None
    earlier_sah: bool | None = None
    site: str | None = None
    irregular_shape: bool | None = None


@dataclass(frozen=True)
class Hints:
    inlet: tuple[float, float, float] | None = None
    dome_point: tuple[float, float, float] | None = None
    neck_point: tuple[float, float, float] | None = None
    kind: str | None = None


@dataclass(frozen=True)
class Case:
    id: str
    path: Path  # the case.yaml
    surface: Path | None
    image: Path | None
    labels: Path | None
    units: str  # "auto" or a length unit of the surface
    hints: Hints
    patient: Patient
    measurements: Measurements
    synthetic: bool = False
    defaults_used: tuple[str, ...] = field(default=())

    @property
    def folder(self) -> Path:
        return self.path.parent


@cache
def case_schema() -> dict[str, Any]:
    text = resources.files("cfdgen.schemas").joinpath("case.schema.json").read_text()
    return json.loads(text)


def _field_path(path) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in path]
    return ".".join(parts).replace(".[", "[") or "(top level)"


def _describe(err: jsonschema.ValidationError) -> str:
    """One readable clause for a schema violation (the field path is added by the caller)."""
    v, val, inst = err.validator, err.validator_value, err.instance
    if v == "required":
        missing = [k for k in val if isinstance(inst, dict) and k not in inst]
        return f"required field '{missing[0] if missing else val}' is missing"
    if v == "additionalProperties":
        extra = sorted(set(inst) - set(err.schema.get("properties", {})))
        return f"unknown field '{extra[0]}'" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
    if v == "enum":
        what = "unit" if err.absolute_path and err.absolute_path[-1] == "unit" else "value"
        return f"unknown {what} {inst!r} (allowed: {', '.join(map(str, val))})"
    if v == "exclusiveMinimum":
        return f"must be > {val} (got {inst})"
    if v == "minimum":
        return f"must be >= {val} (got {inst})"
    if v == "maximum":
        return f"must be <= {val} (got {inst})"
    if v == "type":
        return f"must be of type {val} (got {inst!r})"
    if v == "pattern":
        return f"{inst!r} is not a valid identifier (letters, digits, '_', '.', '-')"
    if v == "anyOf" and err.absolute_path and err.absolute_path[-1] == "input":
        return "needs a 'surface' or an 'image'"
    if v in ("minItems", "maxItems"):
        return f"must be a point [x, y, z] (got {inst!r})"
    return err.message


def validate_case_dict(data: Any, source: str) -> list[str]:
    """All schema violations of ``data`` as single-line messages prefixed with ``source``."""
    if not isinstance(data, dict):
        return [f"{source}: (top level): must be a mapping of fields, got {type(data).__name__}"]
    validator = jsonschema.Draft202012Validator(case_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    return [f"{source}: {_field_path(e.absolute_path)}: {_describe(e)}" for e in errors]


def _measured(entry: dict | None, quantity: str) -> Measured | None:
    if entry is None:
        return None
    value = to_si(float(entry["value"]), entry["unit"], quantity)
    sd = to_si(float(entry.get("sd", 0.0)), entry["unit"], quantity)
    return Measured(value, sd, "measured")


def _heart_period(hr: dict | None) -> Measured | None:
    if hr is None:
        return None
    f = to_si(float(hr["value"]), hr["unit"], "frequency")  # Hz
    sd_f = to_si(float(hr.get("sd", 0.0)), hr["unit"], "frequency")
    # first-order propagation of the rate's sd to the period T = 1/f
    return Measured(1.0 / f, sd_f / f**2, "derived")


def measurements_from_dict(m: dict) -> tuple[Measurements, tuple[str, ...]]:
    """Typed measurements in SI plus the names of the ones that fell back to population defaults."""
    doppler = m.get("doppler", {}) or {}
    wire = m.get("pressure_wire", {}) or {}
    defaults: list[str] = []

    velocity = _measured(doppler.get("mean_velocity"), "velocity")
    flow = _measured(doppler.get("mean_flow"), "flow")
    if velocity is None and flow is None:
        v = reference.MEAN_VELOCITY
        velocity = Measured(v, v * reference.MEAN_VELOCITY_LOG_SD, "default")
        defaults.append("doppler.mean_velocity")

    period = _heart_period(doppler.get("heart_rate"))
    if period is None:
        period = Measured(reference.CARDIAC_PERIOD, reference.uniform_sd(*reference.PERIOD_RANGE), "default")
        defaults.append("doppler.heart_rate")

    pressure = _measured(wire.get("mean"), "pressure")
    systolic = _measured(wire.get("systolic"), "pressure")
    diastolic = _measured(wire.get("diastolic"), "pressure")
    if pressure is None and systolic is not None and diastolic is not None:
        # clinical mean arterial pressure estimate, MAP ≈ DBP + (SBP − DBP)/3
        value = diastolic.value + (systolic.value - diastolic.value) / 3.0
        pressure = Measured(value, math.hypot(diastolic.sd * 2 / 3, systolic.sd / 3), "derived")
    if pressure is None:
        pressure = Measured(reference.MEAN_PRESSURE_GAUGE, 0.0, "default")
        defaults.append("pressure_wire.mean")

    meas = Measurements(
        mean_velocity=velocity,
        heart_period=period,
        mean_pressure=pressure,
        mean_flow=flow,
        peak_velocity=_measured(doppler.get("peak_velocity"), "velocity"),
        systolic_pressure=systolic,
        diastolic_pressure=diastolic,
        doppler_location=doppler.get("location"),
    )
    return meas, tuple(defaults)


def _cross_checks(data: dict, source: str, folder: Path) -> list[str]:
    """Violations a JSON schema cannot express: files that must exist, values that must agree."""
    problems = []
    for key in ("surface", "image", "labels"):
        rel = data["input"].get(key)
        if rel is not None and not (folder / rel).exists():
            problems.append(f"{source}: input.{key}: file not found: {folder / rel}")
    wire = (data.get("measurements") or {}).get("pressure_wire") or {}
    if "systolic" in wire and "diastolic" in wire:
        s = to_si(wire["systolic"]["value"], wire["systolic"]["unit"], "pressure")
        d = to_si(wire["diastolic"]["value"], wire["diastolic"]["unit"], "pressure")
        if s < d:
            problems.append(
                f"{source}: measurements.pressure_wire.systolic: must be >= diastolic ({s:.0f} Pa < {d:.0f} Pa)"
            )
    return problems


def case_from_dict(data: Any, path: Path) -> Case:
    """Validate an already-parsed case mapping; ``path`` is the case.yaml it belongs to (for messages and paths)."""
    source = str(path)
    problems = validate_case_dict(data, source)
    if not problems:
        problems = _cross_checks(data, source, path.parent)
    if problems:
        raise CaseError(problems)
    inp = data["input"]
    folder = path.parent
    meas, defaults = measurements_from_dict(data.get("measurements", {}) or {})
    hints = data.get("hints", {}) or {}
    return Case(
        id=data["id"],
        path=path,
        surface=folder / inp["surface"] if "surface" in inp else None,
        image=folder / inp["image"] if "image" in inp else None,
        labels=folder / inp["labels"] if "labels" in inp else None,
        units=inp.get("units", "auto"),
        hints=Hints(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in hints.items()}),
        patient=Patient(**(data.get("patient", {}) or {})),
        measurements=meas,
        synthetic=bool(data.get("synthetic", False)),
        defaults_used=defaults,
    )


def load_case(path: str | Path) -> Case:
    """Load ``case.yaml`` (or a case folder containing one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "case.yaml"
    if not path.is_file():
        raise CaseError([f"{path}: file not found"])
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CaseError([f"{path}: not valid YAML{where}: {problem}"]) from None
    except UnicodeDecodeError:
        raise CaseError([f"{path}: not a text file (cannot decode as UTF-8)"]) from None
    return case_from_dict(data, path)


def default_case(path: str | Path, case_id: str = "unnamed") -> Case:
    """A case without measurements (a bare surface or mesh): every value is a population default, and
    :attr:`Case.defaults_used` says so. ``path`` is where the case's information lives (for messages)."""
    meas, defaults = measurements_from_dict({})
    return Case(
        id=case_id,
        path=Path(path),
        surface=None,
        image=None,
        labels=None,
        units="auto",
        hints=Hints(),
        patient=Patient(),
        measurements=meas,
        defaults_used=defaults,
    )
