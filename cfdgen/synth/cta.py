"""Synthetic CT angiography of an anatomy: contrast lumen, brain-like background, bone, blur and noise.

World coordinates are the surface's millimetres; the NIfTI affine maps voxel indices (i, j, k) to them
(nibabel/RAS convention, axis-aligned), so image, labels and surface overlay without any transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from cfdgen.synth.sac import Ellipsoid, frame

LABEL_BACKGROUND, LABEL_VESSEL, LABEL_ANEURYSM = 0, 1, 2


@dataclass(frozen=True, eq=False)
class Volume:
    image: np.ndarray  # int16 HU, (nx, ny, nz)
    labels: np.ndarray  # uint8
    affine: np.ndarray  # 4x4, voxel index -> world mm
    params: dict


def voxel_centers(origin: np.ndarray, spacing: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    axes = [origin[d] + spacing[d] * np.arange(shape[d]) for d in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def _bones(rng, anat, lumen, n: int, lo: np.ndarray, hi: np.ndarray) -> list[Ellipsoid]:
    """Bright bone-like ellipsoids near (never touching) the vessel, like the skull base around the siphon."""
    out = []
    cl = anat.parent
    for _ in range(200):
        if len(out) == n:
            break
        i = rng.integers(len(cl.points))
        d = rng.normal(size=3)
        d -= (d @ cl.tangent[i]) * cl.tangent[i]
        d /= np.linalg.norm(d)
        semi = np.array([rng.uniform(1.0, 3.0), rng.uniform(2.0, 7.0), rng.uniform(1.0, 2.5)])
        rot = frame(rng.normal(size=3), rng.uniform(0, 2 * np.pi))
        center = cl.points[i] + d * (cl.radius[i] + rng.uniform(1.5, 4.0) + semi.max())
        if np.any(center < lo) or np.any(center > hi):
            continue  # keep it in the field of view
        bone = Ellipsoid(center, semi, rot)
        probe = bone.mesh(2).points
        if np.min(lumen(np.asarray(probe))) > 1.0:
            out.append(bone)
    return out


def synthetic_cta(
    rng: np.random.Generator, anat, lumen, lo: np.ndarray, hi: np.ndarray, spacing_range: tuple[float, float]
) -> Volume:
    """Image and labels on an axis-aligned grid covering [lo, hi] (mm)."""
    inplane = rng.uniform(*spacing_range)
    spacing = np.array([inplane, inplane, rng.uniform(max(inplane, spacing_range[0]), spacing_range[1])])
    shape = tuple(int(np.ceil((hi[d] - lo[d]) / spacing[d])) + 1 for d in range(3))
    p = voxel_centers(lo, spacing, shape)

    f_vessel = lumen.vessel(p, far=5.0)
    f_sac = np.minimum(anat.sac.sdf(p), 5.0)
    f = np.minimum(f_vessel, f_sac)
    labels = np.zeros(len(p), np.uint8)
    labels[f < 0] = LABEL_VESSEL
    labels[(f_sac < 0) & (f_vessel >= 0)] = LABEL_ANEURYSM

    h = float(spacing.mean())
    occupancy = np.clip(0.5 - f / h, 0.0, 1.0)  # linear partial-volume ramp across one voxel
    lumen_hu = rng.uniform(250, 500)
    brain_hu = rng.uniform(25, 45)
    texture = gaussian_filter(rng.normal(size=shape), sigma=6.0)
    texture *= rng.uniform(4, 10) / max(float(texture.std()), 1e-9)
    img = brain_hu + texture.ravel() + (lumen_hu - brain_hu) * occupancy

    bones = _bones(rng, anat, lumen, int(rng.integers(1, 4)), lo, hi)
    bone_hu = rng.uniform(700, 1400)
    for b in bones:
        occ_b = np.clip(0.5 - b.sdf(p) / h, 0.0, 1.0)
        img = img + (bone_hu - img) * occ_b

    img = gaussian_filter(img.reshape(shape), sigma=0.35 / spacing)  # scanner point-spread, ~0.35 mm
    noise = rng.uniform(8, 20)
    img = img + rng.normal(scale=noise, size=shape)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = lo
    params = {
        "spacing_mm": spacing.tolist(),
        "lumen_hu": lumen_hu,
        "brain_hu": brain_hu,
        "bone_hu": bone_hu,
        "n_bones": len(bones),
        "noise_hu": noise,
        "psf_sigma_mm": 0.35,
    }
    return Volume(np.clip(np.rint(img), -1024, 3071).astype(np.int16), labels.reshape(shape), affine, params)
