"""Boundary conditions from measurements: inflow waveform, inlet profile, outlet split/Windkessel, OpenFOAM data.

Everything is SI (m, s, m³/s, Pa). The maths is pure numpy; the only writer is
:func:`write_inlet_boundary_data`, which produces the per-face inflow that OpenFOAM's
``timeVaryingMappedFixedValue`` reads (Debian's v1912 cannot compile coded boundary conditions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cfdgen import reference
from cfdgen.atomic import atomic_dir
from cfdgen.case import Case
from cfdgen.errors import CaseError, ConfigError, GeometryError
from cfdgen.womersley import velocity_factor, womersley_number

Profile = Literal["womersley", "parabolic", "plug"]
OutletMode = Literal["pressure", "split", "windkessel"]
PROFILES: tuple[str, ...] = ("womersley", "parabolic", "plug")
OUTLET_MODES: tuple[str, ...] = ("pressure", "split", "windkessel")

# Harmonics carried in the surrogate's BC vector: the reference waveform's count, so the vector length is fixed.
N_HARMONICS = len(reference.ICA_FOURIER_A) - 1

# Windkessel defaults (documented choices, not measured values; both are parameters everywhere):
# a proximal resistance of 10 % of the total is the usual RCR split that keeps the outlet from reflecting the
# pulse, and the distal RC time constant sets how much the compliance smooths the pressure (unverified).
WK_RP_FRACTION = 0.1
WK_TIME_CONSTANT = 1.5  # s (unverified: order of the arterial diastolic decay time)


def _finite_positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive finite number, got {value}")
    return value


# ---------------------------------------------------------------------------------------------------------------
# Waveform


@dataclass(frozen=True)
class Waveform:
    """Periodic inflow Q(t) = mean_flow·(a0 + Σ_k a_k cos(2πkt/T) + b_k sin(2πkt/T)).

    The coefficients are divided by a0 on construction (a0 of a fit differs from 1 by the fit residual), so
    ``mean_flow`` is exactly the cycle mean: a measured mean flow must come out as the mean of the waveform.
    """

    mean_flow: float  # m³/s, cycle mean
    period: float  # s
    a: tuple[float, ...] = reference.ICA_FOURIER_A
    b: tuple[float, ...] = reference.ICA_FOURIER_B

    def __post_init__(self):
        mean = float(self.mean_flow)
        if not (math.isfinite(mean) and mean > 0):
            raise ConfigError(f"mean inflow must be a positive flow rate in m³/s, got {self.mean_flow}")
        _finite_positive("heart period (s)", self.period)
        a = tuple(float(x) for x in self.a)
        b = tuple(float(x) for x in self.b)
        if len(a) == 0 or len(a) != len(b):
            raise ConfigError(f"waveform coefficients a and b need the same non-zero length, got {len(a)} and {len(b)}")
        if not all(math.isfinite(x) for x in a + b):
            raise ConfigError("waveform coefficients must be finite numbers")
        if a[0] <= 0:
            raise ConfigError(f"waveform coefficient a0 (the mean) must be positive, got {a[0]}")
        object.__setattr__(self, "mean_flow", mean)
        object.__setattr__(self, "period", float(self.period))
        object.__setattr__(self, "a", tuple(x / a[0] for x in a))
        object.__setattr__(self, "b", (0.0,) + tuple(x / a[0] for x in b[1:]))

    @property
    def n_harmonics(self) -> int:
        return len(self.a) - 1

    @property
    def omega(self) -> float:
        return 2.0 * math.pi / self.period

    def complex_amplitudes(self) -> np.ndarray:
        """Q̂_k (m³/s) for k = 1..n with a_k cos + b_k sin = Re(Q̂_k/Q̄ · e^{ikωt})."""
        return self.mean_flow * (np.asarray(self.a[1:]) - 1j * np.asarray(self.b[1:]))

    def held_constant(self) -> Waveform:
        """The same mean flow without its harmonics: steady inflow."""
        return replace(self, a=(1.0,), b=(0.0,))

    def flow(self, t) -> np.ndarray:
        """Q(t) in m³/s, vectorised over t."""
        t = np.asarray(t, dtype=float)
        kwt = self.omega * np.multiply.outer(t, np.arange(1, len(self.a)))
        shape = np.cos(kwt) @ np.asarray(self.a[1:]) + np.sin(kwt) @ np.asarray(self.b[1:])
        return self.mean_flow * (1.0 + shape)

    def _extremes(self) -> tuple[float, float, float, float]:
        # Dense sampling then a parabolic refinement: the 10-harmonic signal is smooth on this grid.
        n = 4096
        t = np.arange(n) * self.period / n
        q = self.flow(t)
        out = []
        for i in (int(np.argmax(q)), int(np.argmin(q))):
            y0, y1, y2 = q[i - 1], q[i], q[(i + 1) % n]
            curv = y0 - 2 * y1 + y2
            d = 0.5 * (y0 - y2) / curv if curv != 0 else 0.0
            ti = (t[i] + d * self.period / n) % self.period
            out += [ti, float(self.flow(ti))]
        return out[0], out[1], out[2], out[3]

    @property
    def peak(self) -> float:
        """Maximum flow over the cycle (m³/s)."""
        return self._extremes()[1]

    @property
    def peak_time(self) -> float:
        """Time of the maximum flow within [0, T) (s)."""
        return self._extremes()[0]

    @property
    def minimum(self) -> float:
        """Minimum flow over the cycle (m³/s); negative means reverse flow at the inlet."""
        return self._extremes()[3]

    @property
    def pulsatility_index(self) -> float:
        """(Q_max − Q_min)/Q̄."""
        _, qmax, _, qmin = self._extremes()
        return (qmax - qmin) / self.mean_flow

    def perturbed(self, eps: Sequence[float]) -> Waveform:
        """Copy with harmonic k (a_k and b_k) scaled by (1 + eps[k−1]); the mean and the phases stay."""
        eps = np.asarray(eps, dtype=float)
        if eps.shape != (self.n_harmonics,):
            raise ConfigError(f"need one perturbation per harmonic ({self.n_harmonics}), got {eps.size}")
        if not np.all(np.isfinite(eps)) or np.any(eps <= -1):
            raise ConfigError("harmonic perturbations must be finite and > -1 (a scale of 1 + ε must stay positive)")
        scale = np.concatenate([[1.0], 1.0 + eps])
        return replace(self, a=tuple(np.asarray(self.a) * scale), b=tuple(np.asarray(self.b) * scale))

    def harmonic_scales(self, n: int = N_HARMONICS) -> np.ndarray:
        """Amplitude of each harmonic relative to the reference ICA waveform (1 + ε_k for a perturbed reference).

        Harmonics beyond this waveform's count are 0; the reference's own amplitudes are never zero.
        """
        ref = Waveform(1.0, 1.0)
        amp = np.abs(self.complex_amplitudes() / self.mean_flow)
        out = np.zeros(n)
        m = min(n, self.n_harmonics)
        out[:m] = amp[:m] / np.abs(ref.complex_amplitudes()[:m])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"mean_flow": self.mean_flow, "period": self.period, "a": list(self.a), "b": list(self.b)}


def inlet_waveform(
    case: Case,
    inlet_area_m2: float,
    a: Sequence[float] = reference.ICA_FOURIER_A,
    b: Sequence[float] = reference.ICA_FOURIER_B,
) -> tuple[Waveform, list[str]]:
    """The case's inflow waveform and plain-language notes naming each population default that went into it.

    Mean flow: the measured mean flow if given, else mean velocity × inlet area; period from the heart rate.
    """
    area = float(inlet_area_m2)
    if not (math.isfinite(area) and area > 0):
        raise GeometryError(f"inlet area must be positive, got {inlet_area_m2} m²")
    m = case.measurements
    notes = []
    if m.mean_flow is not None:
        mean_flow, where = m.mean_flow.value, "measurements.doppler.mean_flow"
    elif m.mean_velocity is not None:
        mean_flow, where = m.mean_velocity.value * area, "measurements.doppler.mean_velocity"
        if "doppler.mean_velocity" in case.defaults_used:
            notes.append(
                f"mean inflow: population default {m.mean_velocity.value:g} m/s × inlet area "
                f"{area * 1e6:.3g} mm² = {mean_flow * 6e7:.3g} ml/min (no Doppler velocity or flow measured)"
            )
    else:
        raise CaseError([f"{case.path}: measurements.doppler: needs a mean velocity or a mean flow"])
    if not (math.isfinite(mean_flow) and mean_flow > 0):
        raise CaseError([f"{case.path}: {where}: mean inflow must be positive, got {mean_flow:g} m³/s"])
    period = m.heart_period.value
    if not (math.isfinite(period) and period > 0):
        raise CaseError([f"{case.path}: measurements.doppler.heart_rate: heart period must be positive, got {period}"])
    if "doppler.heart_rate" in case.defaults_used:
        notes.append(f"heart period: population default {period:g} s (no heart rate measured)")
    if tuple(a) == reference.ICA_FOURIER_A and tuple(b) == reference.ICA_FOURIER_B:
        notes.append("waveform shape: population ICA waveform of older adults (Hoi 2010), scaled to the mean inflow")
    return Waveform(mean_flow, period, tuple(a), tuple(b)), notes


# ---------------------------------------------------------------------------------------------------------------
# Inlet profile


def equivalent_radius(area_m2: float) -> float:
    """Radius of the circle with the given area, sqrt(A/π): the profile radius of a non-circular opening."""
    return math.sqrt(_finite_positive("inlet area (m²)", area_m2) / math.pi)


def _shapes(s: np.ndarray, profile: str, alpha: float, n_harmonics: int) -> np.ndarray:
    """Profile shape per unit mean velocity: row 0 the mean, row k harmonic k (complex); shape (K+1, n_points)."""
    k = np.arange(1, n_harmonics + 1)
    if profile == "womersley":
        harm = velocity_factor(s[None, :], alpha * np.sqrt(k)[:, None])
        return np.vstack([2.0 * (1.0 - s**2)[None, :], harm])
    base = 2.0 * (1.0 - s**2) if profile == "parabolic" else np.ones_like(s)
    return np.repeat(base[None, :].astype(complex), n_harmonics + 1, axis=0)


def inlet_velocity(
    points_m,
    center_m,
    normal_out,
    radius_m: float | None,
    waveform: Waveform,
    times,
    nu: float,
    profile: str = "womersley",
    areas_m2=None,
) -> np.ndarray:
    """Inflow velocity vectors (n_times, n_points, 3) at the inlet face centres, pointing into the domain.

    r is the distance from ``center_m`` within the inlet plane; s = r/R is clipped to [0, 1] (0 velocity at and
    beyond the wall). ``radius_m`` None means the equivalent radius sqrt(ΣA/π) of ``areas_m2``. With per-face
    ``areas_m2`` the discrete flux Σ u·A equals Q(t) exactly at every time.
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown inlet profile {profile!r} (allowed: {', '.join(PROFILES)})")
    pts = np.asarray(points_m, dtype=float).reshape(-1, 3)
    c = np.asarray(center_m, dtype=float).reshape(3)
    n = np.asarray(normal_out, dtype=float).reshape(3)
    norm = np.linalg.norm(n)
    if not norm > 0:
        raise GeometryError("inlet normal must be a non-zero vector")
    n = n / norm
    nu = _finite_positive("kinematic viscosity (m²/s)", nu)
    areas = None
    if areas_m2 is not None:
        areas = np.asarray(areas_m2, dtype=float).reshape(-1)
        if areas.shape != (len(pts),) or np.any(areas < 0) or not areas.sum() > 0:
            raise GeometryError(f"need one non-negative area per inlet point ({len(pts)}), positive in total")
    if radius_m is None:
        if areas is None:
            raise ConfigError("inlet_velocity needs radius_m or per-point areas_m2")
        radius_m = equivalent_radius(areas.sum())
    R = _finite_positive("inlet radius (m)", radius_m)
    t = np.asarray(times, dtype=float).reshape(-1)

    d = pts - c
    d -= np.outer(d @ n, n)
    s = np.clip(np.linalg.norm(d, axis=1) / R, 0.0, 1.0)

    alpha = womersley_number(R, waveform.period, nu)
    shapes = _shapes(s, profile, alpha, waveform.n_harmonics)
    amps = np.concatenate([[waveform.mean_flow], waveform.complex_amplitudes()])
    if areas is None:
        # Continuous normalisation: every shape integrates to 1 over the disc of radius R.
        norm_k = np.full(len(amps), math.pi * R**2, dtype=complex)
    else:
        # A discrete profile on a coarse inlet integrates to a few per cent off Q(t) (face centres miss the
        # near-wall layer; a non-circular opening is not the disc), which would bias the flow, and WSS ∝ flow.
        # Normalising each harmonic's shape by its own discrete flux makes Σ u·A = Q(t) exactly at every time;
        # this is the same as rescaling each instant to Q(t) but never divides by a near-zero Q(t) in diastole.
        norm_k = shapes @ areas
        if np.any(np.abs(norm_k) < 1e-12 * areas.sum()):
            raise GeometryError("inlet points carry no flux for the chosen profile (all points on the wall?)")
    coef = amps / norm_k  # (K+1,)
    phase = np.exp(1j * waveform.omega * np.outer(t, np.arange(len(amps))))  # (T, K+1); k = 0 gives 1
    speed = np.real((phase * coef) @ shapes)  # (T, N)
    return speed[:, :, None] * (-n)


# ---------------------------------------------------------------------------------------------------------------
# OpenFOAM timeVaryingMappedFixedValue data


def time_name(t: float) -> str:
    """Time directory name that OpenFOAM reads back as exactly ``t``: shortest round-trip decimal, no exponent."""
    return np.format_float_positional(float(t), unique=True, trim="-")


def _format_list(values: np.ndarray, fmt: str) -> str:
    """OpenFOAM ASCII list ``N\\n(\\n(x y z)\\n...\\n)\\n`` built by one %-format over the whole array."""
    values = np.asarray(values, dtype=float) + 0.0  # turns -0.0 into 0 so files carry no "-0" noise
    n = len(values)
    row = "(" + " ".join([fmt] * values.shape[1]) + ")\n" if values.ndim == 2 else fmt + "\n"
    return f"{n}\n(\n" + (row * n) % tuple(values.ravel().tolist()) + ")\n"


def write_inlet_boundary_data(case_dir, patch: str, points_m, velocities, times, field_name: str = "U") -> Path:
    """Write ``constant/boundaryData/<patch>/points`` and ``<time>/U`` for ``timeVaryingMappedFixedValue``.

    Files are plain lists ``N ( (x y z) ... )`` without a FoamFile header: v1912 reads them as bare lists and
    stops with "expected <int> or '(', found word 'FoamFile'" on a header (checked with Debian's pimpleFoam).
    The points are the patch face centres, so the BC should say ``mapMethod nearest;``, which then reproduces
    the values exactly; the default planarInterpolation triangulates the points and, on a regular grid of face
    centres (co-circular points), misplaced interior values by over half the centreline speed in that check.

    The patch folder is replaced as a whole (built beside it, then renamed), so an interrupted write leaves the
    previous data or none, never a partial set, and times of an earlier run never mix in. Mapped data does not
    wrap: pass every time of every simulated cycle. Returns the folder.
    """
    pts = np.asarray(points_m, dtype=float)
    vel = np.asarray(velocities, dtype=float)
    t = np.asarray(times, dtype=float).reshape(-1)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 3:
        raise GeometryError(f"boundary data points must be an (n ≥ 3, 3) array, got shape {pts.shape}")
    if vel.shape != (len(t), len(pts), 3):
        raise ConfigError(
            f"velocities must have shape (n_times, n_points, 3) = {(len(t), len(pts), 3)}, got {vel.shape}"
        )
    if not (np.all(np.isfinite(pts)) and np.all(np.isfinite(vel)) and np.all(np.isfinite(t))):
        raise ConfigError("boundary data must be finite numbers")
    if len(t) == 0 or np.any(np.diff(t) <= 0):
        raise ConfigError("boundary data times must be non-empty and strictly increasing")
    names = [time_name(x) for x in t]
    if len(set(names)) != len(names):  # cannot happen for distinct floats; guards the formatting
        raise ConfigError("boundary data times collide after formatting")

    target = Path(case_dir) / "constant" / "boundaryData" / patch
    with atomic_dir(target) as tmp:
        # 12 significant digits: the planar mapping triangulates the points, so keep them well below mesh tolerance.
        (tmp / "points").write_text(_format_list(pts, "%.12g"))
        for name, v in zip(names, vel, strict=True):
            (tmp / name).mkdir()
            (tmp / name / field_name).write_text(_format_list(v, "%.10g"))
    return target


def read_boundary_list(path) -> np.ndarray:
    """Parse an OpenFOAM ASCII list file (as written above, header or ``//`` comments allowed) into an array."""
    text = Path(path).read_text()
    if "FoamFile" in text:
        text = text[text.index("}", text.index("FoamFile")) + 1 :]
    lines = [ln.split("//")[0] for ln in text.splitlines()]
    body = " ".join(lines).strip()
    head, _, rest = body.partition("(")
    n = int(head.split()[-1]) if head.split() else None
    rest = rest[: rest.rindex(")")]
    nums = np.array(rest.replace("(", " ").replace(")", " ").split(), dtype=float)
    if n is not None and n > 0 and nums.size % n:
        raise ConfigError(f"{path}: list of {n} entries holds {nums.size} numbers")
    return nums.reshape(n, -1) if n else nums.reshape(-1, 3)


# ---------------------------------------------------------------------------------------------------------------
# Outlets


def flow_split(diameters_m, exponent: float = 2.0) -> np.ndarray:
    """Outlet flow fractions ∝ D^exponent (2 = area/square law, 3 = Murray's cube law); they sum to 1."""
    d = np.asarray(diameters_m, dtype=float).reshape(-1)
    if d.size == 0 or not np.all(np.isfinite(d)) or np.any(d <= 0):
        raise GeometryError(f"outlet diameters must be positive, got {d.tolist()}")
    exponent = _finite_positive("outlet split exponent", exponent)
    w = (d / d.max()) ** exponent  # scaled so large exponents cannot overflow
    return w / w.sum()


@dataclass(frozen=True)
class Windkessel:
    """3-element Windkessel (RCR): p = p_c + Rp·Q, C·dp_c/dt = Q − (p_c − p_distal)/Rd. SI: Pa·s/m³, m³/Pa, Pa."""

    rp: float
    c: float
    rd: float
    p_distal: float = 0.0

    def __post_init__(self):
        if not (math.isfinite(self.rp) and self.rp >= 0):
            raise ConfigError(f"Windkessel proximal resistance must be >= 0, got {self.rp}")
        if not (math.isfinite(self.c) and self.c >= 0):
            raise ConfigError(f"Windkessel compliance must be >= 0, got {self.c}")
        _finite_positive("Windkessel distal resistance", self.rd)
        if not math.isfinite(self.p_distal):
            raise ConfigError(f"Windkessel distal pressure must be finite, got {self.p_distal}")

    def impedance(self, omega) -> np.ndarray:
        """Input impedance Z(ω) = Rp + Rd/(1 + iωRdC) (Pa·s/m³)."""
        omega = np.asarray(omega, dtype=float)
        return self.rp + self.rd / (1.0 + 1j * omega * self.rd * self.c)

    def pressure(self, flow_t, t) -> np.ndarray:
        """Periodic steady-state pressure for flow samples over exactly one period.

        ``t`` must be uniformly spaced with the period's end excluded (period = n·Δt). Solved per harmonic in
        Fourier space, which is exact for the sampled (band-limited) flow and periodic by construction, unlike a
        time integration that has to run cycles until the start-up transient decays.
        """
        q = np.asarray(flow_t, dtype=float).reshape(-1)
        t = np.asarray(t, dtype=float).reshape(-1)
        if q.shape != t.shape or len(t) < 2:
            raise ConfigError("Windkessel pressure needs matching flow and time samples (at least 2)")
        dt = np.diff(t)
        if np.any(dt <= 0) or np.ptp(dt) > 1e-9 * dt.mean():
            raise ConfigError("Windkessel pressure needs uniformly spaced, increasing times over one period")
        q_hat = np.fft.rfft(q)
        omega = 2.0 * math.pi * np.fft.rfftfreq(len(t), d=dt.mean())
        # rfft phases refer to t[0]; the impedance is time-invariant, so no shift is needed.
        return np.fft.irfft(self.impedance(omega) * q_hat, n=len(t)) + self.p_distal

    def pressure_waveform(self, waveform: Waveform, t, fraction: float = 1.0) -> np.ndarray:
        """Exact pressure for ``fraction`` of an analytic waveform at any times (Pa)."""
        t = np.asarray(t, dtype=float)
        k = np.arange(1, waveform.n_harmonics + 1)
        z = self.impedance(waveform.omega * k)
        phase = np.exp(1j * waveform.omega * np.multiply.outer(t, k))
        p = fraction * (
            waveform.mean_flow * self.impedance(0.0).real + np.real(phase @ (z * waveform.complex_amplitudes()))
        )
        return p + self.p_distal


def windkessel_for_outlets(
    mean_pressure: float,
    mean_flow: float,
    fractions,
    rp_fraction: float = WK_RP_FRACTION,
    time_constant: float = WK_TIME_CONSTANT,
    p_distal: float = 0.0,
) -> list[Windkessel]:
    """One RCR per outlet so that the mean inlet pressure is reached at the mean flow.

    Outlet k carries f_k·Q̄, so its total resistance is (p̄ − p_distal)/(f_k·Q̄); ``rp_fraction`` of it is
    proximal, the rest distal; C_k = time_constant/Rd_k (the same RC decay everywhere, compliance ∝ flow).
    """
    fr = np.asarray(fractions, dtype=float).reshape(-1)
    if fr.size == 0 or np.any(fr <= 0) or abs(fr.sum() - 1) > 1e-6:
        raise ConfigError(f"outlet fractions must be positive and sum to 1, got {fr.tolist()}")
    _finite_positive("mean flow (m³/s)", mean_flow)
    drop = float(mean_pressure) - float(p_distal)
    if not (math.isfinite(drop) and drop > 0):
        raise ConfigError(
            f"Windkessel outlets need a mean pressure above the distal pressure, got {mean_pressure:g} Pa "
            f"vs {p_distal:g} Pa (measure it with a pressure wire or give it in case.yaml)"
        )
    if not 0 <= rp_fraction < 1:
        raise ConfigError(f"Windkessel proximal fraction must be in [0, 1), got {rp_fraction}")
    _finite_positive("Windkessel time constant (s)", time_constant)
    out = []
    for f in fr:
        r_total = drop / (f * mean_flow)
        rd = (1.0 - rp_fraction) * r_total
        out.append(Windkessel(rp=rp_fraction * r_total, c=time_constant / rd, rd=rd, p_distal=float(p_distal)))
    return out


def windkessel_pressure_table(
    windkessel: Windkessel, waveform: Waveform, fraction: float, times
) -> tuple[np.ndarray, np.ndarray]:
    """(times, pressure in Pa) to impose as a time table at an outlet carrying ``fraction`` of the inflow.

    Open loop: the outlet flow is taken as the prescribed split of the inflow, so no compiled BC is needed.
    Incompressible OpenFOAM solvers want kinematic pressure: divide by the density before writing.
    """
    t = np.asarray(times, dtype=float).reshape(-1)
    return t, windkessel.pressure_waveform(waveform, t, fraction)


# ---------------------------------------------------------------------------------------------------------------
# Everything a run needs


@dataclass(frozen=True)
class BoundaryConditions:
    """Inflow, inlet profile, outlet treatment and fluid of one run; ``to_vector`` feeds the surrogate."""

    waveform: Waveform
    outlet_fractions: tuple[float, ...]  # per outlet k (registry.outlet(k)), sum 1
    profile: str = "womersley"
    outlet_mode: str = "split"  # "pressure": all outlets at the fixed mean pressure; "split"; "windkessel"
    split_exponent: float = 2.0  # the law the fractions came from (2 square, 3 Murray)
    density: float = reference.BLOOD_DENSITY  # kg/m³
    viscosity: float = reference.BLOOD_VISCOSITY  # Pa·s, dynamic
    mean_pressure: float = reference.MEAN_PRESSURE_GAUGE  # Pa, pressure-wire mean (reference level)
    wk_rp_fraction: float = WK_RP_FRACTION
    wk_time_constant: float = WK_TIME_CONSTANT  # s
    wk_p_distal: float = 0.0  # Pa
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ConfigError(f"unknown inlet profile {self.profile!r} (allowed: {', '.join(PROFILES)})")
        if self.outlet_mode not in OUTLET_MODES:
            raise ConfigError(f"unknown outlet mode {self.outlet_mode!r} (allowed: {', '.join(OUTLET_MODES)})")
        fr = tuple(float(f) for f in self.outlet_fractions)
        if not fr or any(not (f > 0) for f in fr) or abs(sum(fr) - 1) > 1e-6:
            raise ConfigError(f"outlet fractions must be positive and sum to 1, got {list(fr)}")
        object.__setattr__(self, "outlet_fractions", fr)
        object.__setattr__(self, "notes", tuple(self.notes))
        _finite_positive("split exponent", self.split_exponent)
        _finite_positive("density (kg/m³)", self.density)
        _finite_positive("viscosity (Pa·s)", self.viscosity)
        if not math.isfinite(self.mean_pressure):
            raise ConfigError(f"mean pressure must be finite, got {self.mean_pressure}")
        if self.outlet_mode == "windkessel":
            self.windkessels()  # fail at construction, not when the case is rendered

    @property
    def nu(self) -> float:
        """Kinematic viscosity (m²/s)."""
        return self.viscosity / self.density

    @property
    def pressure_outlet(self) -> int | None:
        """Outlet held at fixed pressure in "split" mode: the largest (its flow is whatever mass balance leaves)."""
        return int(np.argmax(self.outlet_fractions)) if self.outlet_mode == "split" else None

    def outlet_flow(self, k: int, t) -> np.ndarray:
        """Prescribed flow (m³/s) leaving outlet k at times t (split of the inflow)."""
        return self.outlet_fractions[k] * self.waveform.flow(t)

    def windkessels(self) -> list[Windkessel]:
        return windkessel_for_outlets(
            self.mean_pressure,
            self.waveform.mean_flow,
            self.outlet_fractions,
            self.wk_rp_fraction,
            self.wk_time_constant,
            self.wk_p_distal,
        )

    @staticmethod
    def names() -> tuple[str, ...]:
        """Names (with units) of :meth:`to_vector`'s entries; fixed length for every run."""
        return (
            "mean_flow_m3_s",
            "period_s",
            "viscosity_pa_s",
            "density_kg_m3",
            "mean_pressure_pa",
            "split_exponent",
            "pulsatility_index",
            "profile_index",
            "outlet_mode_index",
            *(f"harmonic_scale_{k}" for k in range(1, N_HARMONICS + 1)),
        )

    def to_vector(self) -> np.ndarray:
        """Flat numeric BC vector for the surrogate (see :meth:`names`); harmonic scales relative to the ICA
        reference, indices into PROFILES and OUTLET_MODES."""
        w = self.waveform
        head = [
            w.mean_flow,
            w.period,
            self.viscosity,
            self.density,
            self.mean_pressure,
            self.split_exponent,
            w.pulsatility_index,
            PROFILES.index(self.profile),
            OUTLET_MODES.index(self.outlet_mode),
        ]
        return np.concatenate([np.asarray(head, dtype=float), w.harmonic_scales(N_HARMONICS)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (SI units), readable back with :meth:`from_dict`."""
        return {
            "waveform": self.waveform.to_dict(),
            "outlet_fractions": list(self.outlet_fractions),
            "profile": self.profile,
            "outlet_mode": self.outlet_mode,
            "split_exponent": self.split_exponent,
            "density": self.density,
            "viscosity": self.viscosity,
            "mean_pressure": self.mean_pressure,
            "wk_rp_fraction": self.wk_rp_fraction,
            "wk_time_constant": self.wk_time_constant,
            "wk_p_distal": self.wk_p_distal,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoundaryConditions:
        d = dict(data)
        w = d.pop("waveform")
        return cls(
            waveform=Waveform(w["mean_flow"], w["period"], tuple(w["a"]), tuple(w["b"])),
            outlet_fractions=tuple(d.pop("outlet_fractions")),
            notes=tuple(d.pop("notes", ())),
            **d,
        )


def boundary_conditions(
    case: Case,
    inlet_area_m2: float,
    outlet_diameters_m,
    *,
    profile: str = "womersley",
    outlet_mode: str | None = None,
    split_exponent: float = 2.0,
    density: float = reference.BLOOD_DENSITY,
    viscosity: float = reference.BLOOD_VISCOSITY,
) -> BoundaryConditions:
    """Boundary conditions of a case: measured values where present, named population defaults otherwise.

    ``outlet_mode`` None picks "pressure" for one outlet and "split" for several.
    """
    waveform, notes = inlet_waveform(case, inlet_area_m2)
    diameters = np.asarray(outlet_diameters_m, dtype=float).reshape(-1)
    mode = outlet_mode or ("pressure" if diameters.size == 1 else "split")
    pressure = case.measurements.mean_pressure.value
    if "pressure_wire.mean" in case.defaults_used:
        notes.append(
            f"mean pressure: gauge {pressure:g} Pa (no pressure wire value; velocity and WSS do not depend on it)"
        )
    return BoundaryConditions(
        waveform=waveform,
        outlet_fractions=tuple(flow_split(diameters, split_exponent)),
        profile=profile,
        outlet_mode=mode,
        split_exponent=split_exponent,
        density=density,
        viscosity=viscosity,
        mean_pressure=pressure,
        notes=tuple(notes),
    )
