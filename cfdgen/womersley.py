"""Fully developed pulsatile flow in a rigid straight pipe (Womersley 1955), in closed form, SI units.

The flow rate is periodic, Q(t) = Q̄·(a0 + Σ_k a_k cos(kωt) + b_k sin(kωt)), ω = 2π/T. Each harmonic has the
complex amplitude Q̂_k = Q̄·(a_k − i·b_k), so that a_k cos + b_k sin = Re(Q̂_k/Q̄ · e^{ikωt}). With
Λ_k = i^{3/2}·α_k and α_k = R·sqrt(kω/ν), the harmonic's axial velocity and wall shear stress are

    û_k(r) = Q̂_k/(πR²) · [1 − J0(Λ_k r/R)/J0(Λ_k)] / [1 − 2 J1(Λ_k)/(Λ_k J0(Λ_k))]
    τ̂_k    = 4μQ̂_k/(πR³) · (−Λ_k J1(Λ_k)/J0(Λ_k)) / (4 [1 − 2 J1(Λ_k)/(Λ_k J0(Λ_k))])

written here as a Poiseuille value times a complex factor that tends to 1 (WSS) and 2(1 − s²) (velocity) as
α → 0. The mean term is exact Poiseuille. Sign convention: τ = μ·(−∂u/∂r) at r = R, positive along the flow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import jv

from cfdgen.errors import ConfigError

# Below this Womersley number the Bessel form loses digits to cancellation in 1 − 2J1/(ΛJ0) (≈ −Λ²/8); the
# leading-order (quasi-steady) factors are then exact to O(α⁴) relative, far below anything measurable.
_ALPHA_QUASI_STEADY = 1e-3

_I32 = np.exp(0.75j * np.pi)  # i^{3/2}


def womersley_number(radius: float, period: float, nu: float) -> float:
    """α = R·sqrt(ω/ν) of the fundamental, ω = 2π/T (radius m, period s, kinematic viscosity m²/s)."""
    _check_positive(radius=radius, period=period, nu=nu)
    return radius * math.sqrt(2.0 * math.pi / (period * nu))


def poiseuille_wss(flow, radius: float, mu: float):
    """Steady Poiseuille wall shear stress 4μQ/(πR³) in Pa (vectorised over the flow in m³/s)."""
    _check_positive(radius=radius, mu=mu)
    return 4.0 * mu * np.asarray(flow, dtype=float) / (math.pi * radius**3)


def _check_positive(**values: float) -> None:
    for name, v in values.items():
        if not (np.isfinite(v) and v > 0):
            raise ConfigError(f"{name} must be a positive finite number, got {v}")


def _denominator(lam: np.ndarray) -> np.ndarray:
    return 1.0 - 2.0 * jv(1, lam) / (lam * jv(0, lam))


def velocity_factor(s, alpha):
    """Complex profile of one harmonic per unit mean velocity: û(s)/(Q̂/(πR²)), s = r/R in [0, 1].

    Broadcasts s against alpha; equals the Poiseuille shape 2(1 − s²) as α → 0 and integrates to 1 over the disc.
    """
    s = np.asarray(s, dtype=float)
    alpha = np.asarray(alpha, dtype=float)
    s, alpha = np.broadcast_arrays(s, alpha)
    out = np.empty(s.shape, dtype=complex)
    small = alpha < _ALPHA_QUASI_STEADY
    out[small] = 2.0 * (1.0 - s[small] ** 2)
    if np.any(~small):
        lam = _I32 * alpha[~small]
        out[~small] = (1.0 - jv(0, lam * s[~small]) / jv(0, lam)) / _denominator(lam)
    return out


def wss_factor(alpha):
    """Complex WSS of one harmonic relative to quasi-steady Poiseuille, τ̂/(4μQ̂/(πR³)); → 1 as α → 0."""
    alpha = np.asarray(alpha, dtype=float)
    out = np.ones(alpha.shape, dtype=complex)
    big = alpha >= _ALPHA_QUASI_STEADY
    if np.any(big):
        lam = _I32 * alpha[big]
        out[big] = -lam * jv(1, lam) / (4.0 * jv(0, lam) * _denominator(lam))
    return out


@dataclass(frozen=True)
class PipeFlow:
    """Pulsatile flow in a rigid pipe: geometry, waveform (Fourier coefficients relative to the mean), fluid."""

    radius: float  # m
    period: float  # s
    mean_flow: float  # m³/s, Q̄ (the cycle mean is Q̄·a0)
    a: tuple[float, ...]  # a0, a1, ..., an
    b: tuple[float, ...]  # b0 (ignored), b1, ..., bn
    mu: float  # Pa·s
    rho: float  # kg/m³

    def __post_init__(self):
        _check_positive(radius=self.radius, period=self.period, mu=self.mu, rho=self.rho)
        if not np.isfinite(self.mean_flow):
            raise ConfigError(f"mean_flow must be finite, got {self.mean_flow}")
        if len(self.a) != len(self.b) or len(self.a) == 0:
            raise ConfigError(
                f"Fourier coefficients a and b need the same non-zero length, got {len(self.a)}, {len(self.b)}"
            )

    @property
    def nu(self) -> float:
        return self.mu / self.rho

    @property
    def omega(self) -> float:
        return 2.0 * math.pi / self.period

    @property
    def alpha(self) -> float:
        """Womersley number of the fundamental."""
        return womersley_number(self.radius, self.period, self.nu)

    def _harmonics(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Harmonic numbers k ≥ 1, their Womersley numbers and complex flow amplitudes Q̂_k."""
        k = np.arange(1, len(self.a))
        q_hat = self.mean_flow * (np.asarray(self.a[1:], float) - 1j * np.asarray(self.b[1:], float))
        return k, self.alpha * np.sqrt(k), q_hat

    def _series(self, t, steady: float, terms: np.ndarray):
        """steady + Σ_k Re(terms_k(...) e^{ikωt}) with t broadcast in front of the trailing axes of terms."""
        t = np.asarray(t, dtype=float)
        k = np.arange(1, len(self.a))
        phase = np.exp(1j * self.omega * np.multiply.outer(t, k))  # t.shape + (K,)
        return steady + np.real(np.tensordot(phase, terms, axes=([-1], [0])))

    def flow(self, t):
        """Q(t) in m³/s (vectorised over t)."""
        _, _, q_hat = self._harmonics()
        return self._series(t, self.mean_flow * self.a[0], q_hat)

    def axial_velocity(self, r, t):
        """u(r, t) in m/s; result shape t.shape + r.shape, r in [0, R] (clipped: 0 at and beyond the wall)."""
        s = np.clip(np.asarray(r, dtype=float) / self.radius, 0.0, 1.0)
        area = math.pi * self.radius**2
        _, alpha_k, q_hat = self._harmonics()
        shapes = velocity_factor(s[None, ...], alpha_k.reshape((-1,) + (1,) * s.ndim))  # (K,) + r.shape
        terms = q_hat.reshape((-1,) + (1,) * s.ndim) / area * shapes
        steady = self.mean_flow * self.a[0] / area * 2.0 * (1.0 - s**2)
        return self._series(t, steady, terms)

    def wall_shear_stress(self, t):
        """τ(t) = μ·(−∂u/∂r)|_R in Pa, positive along the mean flow (vectorised over t)."""
        scale = 4.0 * self.mu / (math.pi * self.radius**3)
        _, alpha_k, q_hat = self._harmonics()
        return self._series(t, scale * self.mean_flow * self.a[0], scale * q_hat * wss_factor(alpha_k))

    def quasi_steady_wss(self, t):
        """Poiseuille WSS of the instantaneous flow, 4μQ(t)/(πR³): the low-fidelity estimate."""
        return poiseuille_wss(self.flow(t), self.radius, self.mu)


def axial_velocity(r, t, pipe: PipeFlow):
    """Womersley axial velocity u(r, t) (m/s), shape t.shape + r.shape; see :meth:`PipeFlow.axial_velocity`."""
    return pipe.axial_velocity(r, t)


def wall_shear_stress(t, pipe: PipeFlow):
    """Womersley wall shear stress τ(t) (Pa), signed along the flow; see :meth:`PipeFlow.wall_shear_stress`."""
    return pipe.wall_shear_stress(t)
