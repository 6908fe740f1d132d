"""Clinical aneurysm scores from the published point tables (HEMODYNAMICS.md §6). Pure functions.

- PHASES (Greving et al., Lancet Neurol 2014): 5-year rupture risk.
- ELAPSS (Backes et al., Neurology 2017): growth score, without the "earlier SAH" item (see :func:`elapss`).

A missing clinical field is never guessed: the score is then ``None``, :attr:`ScoreResult.missing` names the
field(s) and :attr:`ScoreResult.reason` says why in one line.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from cfdgen.case import Patient

Site = Literal["ICA", "MCA", "ACA", "AComm", "PComm", "posterior"]
Population = Literal["japanese", "finnish", "other"]

# PHASES 5-year rupture risk by total score (fractions); ≤2 and ≥12 are the open ends of the published table.
PHASES_RISK: dict[int, float] = {
    2: 0.004,
    3: 0.007,
    4: 0.009,
    5: 0.013,
    6: 0.017,
    7: 0.024,
    8: 0.032,
    9: 0.043,
    10: 0.053,
    11: 0.072,
    12: 0.178,
}
PHASES_POPULATION = {"japanese": 3, "finnish": 5, "other": 0}
# PHASES pools the anterior communicating artery with the ACA.
PHASES_SITE = {"ICA": 0, "MCA": 2, "ACA": 4, "AComm": 4, "PComm": 4, "posterior": 4}
ELAPSS_POPULATION = {"japanese": 1, "finnish": 7, "other": 0}
ELAPSS_SITE = {"ICA": 0, "ACA": 0, "AComm": 0, "MCA": 3, "PComm": 5, "posterior": 5}

# Site spellings, compared after lower-casing and dropping spaces, '-', '_' and '.'.
_SITE_ALIASES: dict[str, Site] = {
    **dict.fromkeys(["ica", "internalcarotid", "internalcarotidartery", "carotid", "ophthalmic", "oph"], "ICA"),
    **dict.fromkeys(["mca", "middlecerebral", "middlecerebralartery"], "MCA"),
    **dict.fromkeys(["aca", "anteriorcerebral", "anteriorcerebralartery", "pericallosal"], "ACA"),
    **dict.fromkeys(["acomm", "acom", "acoa", "anteriorcommunicating", "anteriorcommunicatingartery"], "AComm"),
    **dict.fromkeys(["pcomm", "pcom", "pcoa", "posteriorcommunicating", "posteriorcommunicatingartery"], "PComm"),
    **dict.fromkeys(
        [
            "posterior",
            "posteriorcirculation",
            "basilar",
            "basilarartery",
            "basilartip",
            "ba",
            "vertebral",
            "vertebralartery",
            "va",
            "vertebrobasilar",
            "pca",
            "posteriorcerebral",
            "posteriorcerebralartery",
            "sca",
            "superiorcerebellar",
            "pica",
            "posteriorinferiorcerebellar",
            "aica",
            "anteriorinferiorcerebellar",
        ],
        "posterior",
    ),
}
_SITE_HELP = "ICA, MCA, ACA, AComm, PComm or posterior (basilar, vertebral, PCA, SCA, PICA, AICA)"


@dataclass(frozen=True)
class ScoreResult:
    """One clinical score. ``points`` holds every item that could be evaluated, even when the total could not;
    ``missing`` lists the fields that were absent or unusable; ``five_year_risk`` is a fraction (PHASES only)."""

    name: str
    score: int | None
    points: dict[str, int]
    five_year_risk: float | None
    missing: tuple[str, ...]
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["missing"] = list(self.missing)
        return d


def normalise_site(site: str) -> Site | None:
    """Canonical site name for a free-text site, or None when it is not recognised."""
    return _SITE_ALIASES.get(re.sub(r"[\s\-_.]+", "", site.lower()))


def normalise_population(population: str) -> Population:
    """japanese/japan, finnish/finland (any case); everything else is the scores' reference group "other"."""
    p = population.strip().lower()
    if p in ("japanese", "japan"):
        return "japanese"
    if p in ("finnish", "finland"):
        return "finnish"
    return "other"


def phases_size_points(size_mm: float) -> int:
    """PHASES size bins: <7 mm 0, 7–9.9 3, 10–19.9 6, ≥20 10 (lower bounds inclusive)."""
    if size_mm < 7.0:
        return 0
    if size_mm < 10.0:
        return 3
    if size_mm < 20.0:
        return 6
    return 10


def elapss_size_points(size_mm: float) -> int:
    """ELAPSS size bins: 1–2.9 mm 0, 3–4.9 4, 5–6.9 10, 7–9.9 13, ≥10 22. The table starts at 1 mm (about the
    detection limit); anything smaller lands in the lowest bin rather than being refused."""
    if size_mm < 3.0:
        return 0
    if size_mm < 5.0:
        return 4
    if size_mm < 7.0:
        return 10
    if size_mm < 10.0:
        return 13
    return 22


def elapss_age_points(age: float) -> int:
    """+1 per *completed* 5 years over 60: floor((age − 60)/5) for age > 60, else 0 (65 → 1, 64.9 → 0)."""
    return math.floor((age - 60.0) / 5.0) if age > 60.0 else 0


def phases_risk(score: int) -> float:
    """5-year rupture risk (fraction) for a PHASES total."""
    return PHASES_RISK[min(max(score, 2), 12)]


def _usable_size(size_mm: float | None) -> tuple[float | None, str | None]:
    if size_mm is None or not math.isfinite(size_mm):
        return None, "aneurysm size not available (no sac measured)"
    if size_mm <= 0:
        return None, f"aneurysm size must be > 0 mm (got {size_mm:g})"
    return float(size_mm), None


def _result(name: str, points: dict[str, int], missing: list[str], problems: list[str], risk=None) -> ScoreResult:
    """Assemble a result: a total only when nothing is missing."""
    if missing:
        return ScoreResult(name, None, points, None, tuple(missing), "not computable: " + "; ".join(problems))
    total = sum(points.values())
    return ScoreResult(name, total, points, None if risk is None else risk(total), (), None)


def _site_item(site: str | None, table: dict[str, int], points, missing, absent, problems) -> None:
    if site is None:
        missing.append("site")
        absent.append("site")
        return
    canonical = normalise_site(site)
    if canonical is None:
        missing.append("site")
        problems.append(f"unknown site {site!r} (expected {_SITE_HELP})")
    else:
        points["site"] = table[canonical]


def phases(patient: Patient, size_mm: float | None) -> ScoreResult:
    """PHASES: population, hypertension, age ≥ 70, size, earlier SAH from another aneurysm, site."""
    points: dict[str, int] = {}
    missing: list[str] = []
    absent: list[str] = []  # missing from case.yaml (as opposed to unusable)
    problems: list[str] = []
    if patient.population is None:
        missing.append("population")
        absent.append("population")
    else:
        points["population"] = PHASES_POPULATION[normalise_population(patient.population)]
    if patient.hypertension is None:
        missing.append("hypertension")
        absent.append("hypertension")
    else:
        points["hypertension"] = int(bool(patient.hypertension))
    if patient.age is None:
        missing.append("age")
        absent.append("age")
    else:
        points["age"] = int(patient.age >= 70)
    size, size_problem = _usable_size(size_mm)
    if size is None:
        missing.append("size")
    else:
        points["size"] = phases_size_points(size)
    if patient.earlier_sah is None:
        missing.append("earlier_sah")
        absent.append("earlier_sah")
    else:
        points["earlier_sah"] = int(bool(patient.earlier_sah))
    _site_item(patient.site, PHASES_SITE, points, missing, absent, problems)
    problems = _problem_lines(absent, size_problem, problems)
    return _result("PHASES", points, missing, problems, risk=phases_risk)


def elapss(patient: Patient, size_mm: float | None) -> ScoreResult:
    """ELAPSS growth score: location, age, population, size, shape — *without* earlier SAH.

    The reference notes that sources disagree on the direction of the "earlier SAH" item and the original table
    was not at hand to check, so it is left out rather than guessed: the total is the published score minus that
    one item. There is no absolute-risk table here (``five_year_risk`` stays None).
    """
    points: dict[str, int] = {}
    missing: list[str] = []
    absent: list[str] = []
    problems: list[str] = []
    _site_item(patient.site, ELAPSS_SITE, points, missing, absent, problems)
    if patient.age is None:
        missing.append("age")
        absent.append("age")
    else:
        points["age"] = elapss_age_points(patient.age)
    if patient.population is None:
        missing.append("population")
        absent.append("population")
    else:
        points["population"] = ELAPSS_POPULATION[normalise_population(patient.population)]
    size, size_problem = _usable_size(size_mm)
    if size is None:
        missing.append("size")
    else:
        points["size"] = elapss_size_points(size)
    if patient.irregular_shape is None:
        missing.append("irregular_shape")
        absent.append("irregular_shape")
    else:
        points["irregular_shape"] = 4 * int(bool(patient.irregular_shape))
    problems = _problem_lines(absent, size_problem, problems)
    return _result("ELAPSS", points, missing, problems)


def _problem_lines(absent: list[str], size_problem: str | None, other: list[str]) -> list[str]:
    lines = [f"{', '.join(absent)} missing from case.yaml"] if absent else []
    return lines + ([size_problem] if size_problem else []) + other
