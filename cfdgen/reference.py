"""Published default values (shared/reference/HEMODYNAMICS.md), in SI units, with their sources.

These are defaults to expose in configuration, not truths: every use site lets config or case.yaml override
them. Items the reference marks as unverified keep that mark here.
"""

from __future__ import annotations

import math

# §1 Blood and cycle (VaMPy defaults; Hoi et al. 2010).
BLOOD_DENSITY = 1060.0  # kg/m³
BLOOD_VISCOSITY = 0.0035  # Pa·s
CARDIAC_PERIOD = 0.951  # s, older-adult ICA waveform

# §3 Population defaults when a measurement is missing.
MEAN_VELOCITY = 0.27  # m/s, square law Q = 0.27 m/s × A_inlet (VaMPy default)
MEAN_VELOCITY_LOG_SD = 0.25  # σ of the log-normal used for uncertainty sampling
PERIOD_RANGE = (0.75, 1.1)  # s
VISCOSITY_RANGE = (0.0030, 0.0045)  # Pa·s
HARMONIC_PERTURBATION = 0.20  # ± fraction of each waveform harmonic
OUTLET_SPLIT_EXPONENT_RANGE = (2.0, 3.0)  # square law .. Murray cube law
# No population value for the absolute pressure is given: rigid-wall incompressible CFD does not depend on it,
# so pressure fields are reported relative to a 0 Pa (gauge) reference when no pressure wire value exists.
MEAN_PRESSURE_GAUGE = 0.0  # Pa

# §2 ICA waveform, Q(t)/Q̄ = a0 + Σ a_k cos(2πkt/T) + b_k sin(2πkt/T) (fit to Hoi 2010, 10 harmonics).
ICA_FOURIER_A = (0.9994, 0.0485, -0.1852, -0.1974, -0.0474, -0.1472, -0.0659, -0.0039, 0.0025, 0.0279, 0.0112)
ICA_FOURIER_B = (0.0, 0.5755, 0.2508, 0.0435, 0.0349, 0.0270, -0.0797, -0.0403, -0.0333, -0.0125, 0.0144)

# §4 Low shear area threshold: fraction of the parent-artery mean TAWSS (Xiang 2011, unverified threshold).
LSA_FRACTION = 0.10


def uniform_sd(lo: float, hi: float) -> float:
    """Standard deviation of a uniform distribution on [lo, hi]."""
    return (hi - lo) / math.sqrt(12.0)
