"""Random anatomies: a parent vessel (sidewall) or a bifurcation, and a sac placed on it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cfdgen.centerline import Centerline
from cfdgen.synth.config import SynthConfig
from cfdgen.synth.sac import Ellipsoid, SacShape, Stalk, frame, sphere
from cfdgen.synth.vessel import Branch, perpendicular, random_path, rotate, self_clearance, spline_centerline


@dataclass(frozen=True, eq=False)
class Anatomy:
    kind: str  # sidewall | bifurcation
    branches: tuple[Branch, ...]  # parent first, daughters after
    sac: SacShape
    neck_index: int  # parent centerline index the sac sits on (bifurcation: the last one)
    params: dict  # the sampled construction parameters (for the record)

    @property
    def parent(self) -> Centerline:
        return self.branches[0].centerline


def _loguniform(rng, lo, hi) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _smooth_enough(cl: Centerline) -> bool:
    # radius of curvature at least ~3 radii keeps the tube from folding and looks like a siphon, not a kink
    return bool(np.max(cl.curvature * cl.radius) < 0.33) and self_clearance(cl, gap=2.0)


def _parent(rng, cfg: SynthConfig, length: float, n_seg: int) -> Centerline:
    r0 = rng.uniform(*cfg.parent_radius)
    taper = rng.uniform(*cfg.taper)
    ctrl = random_path(rng, np.zeros(3), perpendicular(np.array([0, 0, 1.0]), rng), length, n_seg, cfg.turn_deg)
    return spline_centerline(ctrl, r0, r0 * (1 - taper), None, "parent")


def _sac(
    rng, cfg: SynthConfig, shape: str, base: np.ndarray, axis: np.ndarray, r_base: float, neck_max: float
) -> tuple[SacShape, dict]:
    """A sac whose section at the vessel wall (distance ``r_base`` from ``base`` along ``axis``) is ~ the neck."""
    neck = rng.uniform(cfg.neck[0], max(cfg.neck[0] * 1.01, min(cfg.neck[1], neck_max)))
    dome = _loguniform(rng, max(cfg.dome[0], 1.15 * neck), cfg.dome[1])
    r = dome / 2
    if shape == "ellipsoid":
        semi = np.array([r, r * rng.uniform(0.7, 1.0), r * rng.uniform(0.75, 1.5)])
    else:
        semi = np.full(3, r)
    rot = frame(axis, rng.uniform(0, 2 * np.pi))
    r_perp = float(np.sqrt(semi[0] * semi[1]))
    a = min(neck / 2, 0.92 * r_perp)
    z = semi[2] * np.sqrt(1 - (a / r_perp) ** 2)
    major = bool(rng.uniform() < 0.85 or semi[2] - z < 1.2)
    # The tube falls away from its tangent plane, so aim the section of radius a halfway down that sag.
    sag = 0.5 * (r_base - np.sqrt(max(r_base**2 - a**2, 0.0)))
    # A narrow neck under a wide dome gets a visible waist (the stalk between wall and dome), as real ones do.
    lift = rng.uniform(0.3, 1.0) if (major and a < 0.8 * r_perp) else 0.0
    center = base + axis * (r_base - sag + lift + (z if major else -z))
    parts = [Ellipsoid(center, semi, rot), Stalk(base, center, a)]
    params = {"shape": shape, "neck_target": 2 * a, "semi_axes": semi.tolist(), "major_cap": major, "waist": lift}
    if shape == "lobulated":
        rb = r * rng.uniform(0.3, 0.5)
        tilt = np.radians(rng.uniform(15, 55))
        direction = rotate(axis, perpendicular(axis, rng), tilt)
        parts.append(sphere(center + direction * (r + 0.25 * rb), rb))
        params["bleb_radius"] = rb
    return SacShape(shape, tuple(parts)), params


def sidewall(rng, cfg: SynthConfig, shape: str) -> Anatomy:
    cl = _parent(rng, cfg, rng.uniform(*cfg.parent_length), 4)
    i0 = cl.index_at(rng.uniform(0.42, 0.58) * cl.length)
    t = cl.tangent[i0]
    bend = np.gradient(cl.tangent, cl.abscissa, axis=0)[i0]
    outer = -bend / np.linalg.norm(bend) if np.linalg.norm(bend) > 1e-3 else perpendicular(t, rng)
    axis = rotate(outer, t, np.radians(rng.uniform(-70, 70)))
    sac, params = _sac(rng, cfg, shape, cl.points[i0], axis, float(cl.radius[i0]), 1.8 * float(cl.radius[i0]))
    branches = (Branch(cl, open_start=True, open_end=True),)
    return Anatomy("sidewall", branches, sac, i0, params)


def bifurcation(rng, cfg: SynthConfig, shape: str) -> Anatomy:
    parent = _parent(rng, cfg, rng.uniform(14.0, 20.0), 3)
    b, t, r_end = parent.points[-1], parent.tangent[-1], float(parent.radius[-1])
    q = rng.uniform(0.7, 1.0)  # daughter radius ratio; Murray: r1³ + r2³ = r_parent³
    r1 = r_end / (1 + q**3) ** (1 / 3)
    radii = (r1, q * r1)
    plane = perpendicular(t, rng)
    angles = (np.radians(rng.uniform(*cfg.bifurcation_angle_deg)), -np.radians(rng.uniform(*cfg.bifurcation_angle_deg)))
    branches = [Branch(parent, open_start=True, open_end=False)]
    for k, (rk, ang) in enumerate(zip(radii, angles)):
        d = rotate(t, plane, ang)
        ctrl = random_path(rng, b, d, rng.uniform(*cfg.daughter_length), 2, (5.0, 20.0))
        cl = spline_centerline(ctrl, rk, rk * (1 - rng.uniform(*cfg.taper) / 2), d, f"daughter_{k}")
        branches.append(Branch(cl, open_start=False, open_end=True))
    axis = rotate(t, perpendicular(t, rng), np.radians(rng.uniform(0, 20)))
    sac, params = _sac(rng, cfg, shape, b, axis, r_end, 1.8 * r_end)
    params.update({"daughter_radii": list(radii), "branch_angles_deg": np.degrees(angles).tolist()})
    return Anatomy("bifurcation", tuple(branches), sac, len(parent.points) - 1, params)


def plausible_vessels(anat: Anatomy) -> bool:
    """Reject folded or self-touching vessels and daughters that run into each other."""
    if not all(_smooth_enough(b.centerline) for b in anat.branches):
        return False
    if anat.kind == "bifurcation":
        d1, d2 = anat.branches[1].centerline, anat.branches[2].centerline
        far1, far2 = d1.abscissa > 4 * d1.radius[0], d2.abscissa > 4 * d2.radius[0]
        gap = np.linalg.norm(d1.points[far1][::20, None] - d2.points[far2][None, ::20], axis=2).min()
        if gap < d1.radius[0] + d2.radius[0] + 1.0:
            return False
        parent = anat.parent
        for d in (d1, d2):
            far = d.abscissa > 4 * d.radius[0]
            near_parent = np.linalg.norm(d.points[far][::20, None] - parent.points[None, ::20], axis=2).min()
            if near_parent < d.radius[0] + parent.radius.max() + 1.0:
                return False
    return True
