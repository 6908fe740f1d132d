"""Segmentation data: intensity transform, working-grid resampling, training pairs and their augmentation.

The network always sees the same thing whatever the scanner: intensities mapped to [0, 1] (a fixed HU window
for CT, robust percentiles for MR, where units are arbitrary) on an isotropic working grid. Resampling keeps the
image's own voxel axes (only the spacing changes), so inference never has to reorient, and rotations/flips in
training cover the axis orders scanners use.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from cfdgen.errors import ConfigError, IahemoError
from cfdgen.imaging import Image, read_image

LABEL_NAMES = ("background", "vessel", "aneurysm")
MODALITIES = ("auto", "ct", "mr")


@dataclass(frozen=True)
class Preprocess:
    working_spacing: float = 0.4  # mm, isotropic; the synthetic cohort spans 0.3-0.6 mm
    ct_window: tuple[float, float] = (-100.0, 900.0)  # HU: brain and vessel apart, bone saturating
    mr_percentiles: tuple[float, float] = (1.0, 99.9)
    modality: str = "auto"

    def __post_init__(self):
        if not 0.05 <= self.working_spacing <= 5.0:
            raise ConfigError(f"working spacing must be in [0.05, 5] mm (got {self.working_spacing})")
        if self.modality not in MODALITIES:
            raise ConfigError(f"modality must be one of {', '.join(MODALITIES)} (got {self.modality!r})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        d = dict(d)
        for k in ("ct_window", "mr_percentiles"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


def modality_of(array: np.ndarray) -> str:
    """'ct' when the intensities look like Hounsfield units (air near -1000, or soft tissue near 0-100 with a
    contrast lumen above it), else 'mr'."""
    lo, med, hi = np.percentile(array[:: max(1, array.size // 2_000_000)], [0.1, 50, 99.9])
    if lo <= -500:
        return "ct"
    return "ct" if -200 <= med <= 150 and 150 <= hi <= 4000 else "mr"


def normalise(array: np.ndarray, cfg: Preprocess) -> tuple[np.ndarray, str]:
    modality = modality_of(array) if cfg.modality == "auto" else cfg.modality
    if modality == "ct":
        lo, hi = cfg.ct_window
    else:
        lo, hi = np.percentile(array, cfg.mr_percentiles)
    if hi - lo < 1e-6:
        raise IahemoError("the image has (almost) one intensity: nothing to segment")
    return np.clip((array - lo) / (hi - lo), 0.0, 1.0).astype(np.float32), modality


def working_shape(shape, spacing, working: float) -> tuple[int, ...]:
    return tuple(int(np.floor((n - 1) * s / working + 1e-6)) + 1 for n, s in zip(shape, spacing))


def _linear_axis(a: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``a`` along ``axis`` at fractional indices ``coords`` (clamped to the ends)."""
    n = a.shape[axis]
    c = np.clip(coords, 0, n - 1)
    i0 = np.minimum(np.floor(c).astype(np.int64), n - 2) if n > 1 else np.zeros(len(c), np.int64)
    w = (c - i0).astype(np.float32) if n > 1 else np.zeros(len(c), np.float32)
    shape = [1] * a.ndim
    shape[axis] = len(c)
    w = w.reshape(shape)
    lo = np.take(a, i0, axis=axis)
    hi = np.take(a, np.minimum(i0 + 1, n - 1), axis=axis)
    return lo * (1 - w) + hi * w


def resample_linear(a: np.ndarray, shape: tuple[int, ...], scale: np.ndarray, first_axis: int = 0) -> np.ndarray:
    """Trilinear resampling of the last three axes of ``a`` onto ``shape``: output index j samples input index
    j * scale (voxel centres of both grids start at the same point). Separable, so three cheap 1D passes."""
    out = a
    for d in range(3):
        out = _linear_axis(out, np.arange(shape[d]) * scale[d], first_axis + d)
    return out.astype(np.float32, copy=False)


def resample_nearest(a: np.ndarray, shape: tuple[int, ...], scale: np.ndarray) -> np.ndarray:
    idx = [np.clip(np.rint(np.arange(shape[d]) * scale[d]).astype(np.int64), 0, a.shape[d] - 1) for d in range(3)]
    return a[np.ix_(*idx)]


@dataclass(frozen=True, eq=False)
class Prepared:
    """An image on the working grid, with what is needed to map predictions back to its own grid."""

    array: np.ndarray  # (X, Y, Z) float32 in [0, 1]
    native_shape: tuple[int, int, int]
    scale: np.ndarray  # working index -> native index factor per axis
    modality: str
    crop: tuple[slice, slice, slice]  # the native sub-volume the working grid covers


def foreground_crop(norm: np.ndarray, margin: int = 4) -> tuple[slice, slice, slice]:
    """Bounding box (+ margin voxels) of the voxels above the bottom of the intensity window: a CT's air and
    table, an MR's empty corners carry no vessel and cost inference time."""
    inside = np.argwhere(norm > 0)
    if len(inside) == 0:
        return tuple(slice(0, n) for n in norm.shape)
    lo, hi = inside.min(0), inside.max(0)
    return tuple(slice(max(0, int(a) - margin), min(n, int(b) + margin + 1)) for a, b, n in zip(lo, hi, norm.shape))


def prepare(image: Image, cfg: Preprocess) -> Prepared:
    norm, modality = normalise(image.array, cfg)
    crop = foreground_crop(norm)
    norm = norm[crop]
    spacing = image.spacing
    shape = working_shape(norm.shape, spacing, cfg.working_spacing)
    scale = cfg.working_spacing / spacing
    return Prepared(resample_linear(norm, shape, scale), image.shape, scale, modality, crop)


def to_native(prob: np.ndarray, prep: Prepared) -> np.ndarray:
    """(C, X, Y, Z) working-grid probabilities -> (C, *native_shape): native index i samples working i / scale;
    outside the crop everything is background (class 0)."""
    shape = tuple(s.stop - s.start for s in prep.crop)
    inner = resample_linear(prob, shape, 1.0 / prep.scale, first_axis=1)
    if shape == tuple(prep.native_shape):
        return inner
    out = np.zeros((prob.shape[0], *prep.native_shape), np.float32)
    out[0] = 1.0
    out[(slice(None), *prep.crop)] = inner
    return out


# ---------------------------------------------------------------- training pairs


@dataclass(frozen=True)
class Pair:
    name: str
    image: Path
    labels: Path


def find_pairs(root: str | Path) -> list[Pair]:
    """Image/label pairs of a synthetic cohort (``<case>/image.nii.gz`` + ``labels.nii.gz``) or of the layout public
    challenges use (``imagesTr/<name>[_0000].nii.gz`` + ``labelsTr/<name>.nii.gz``), sorted by name."""
    root = Path(root)
    pairs = (
        [
            Pair(d.name, d / "image.nii.gz", d / "labels.nii.gz")
            for d in sorted(root.iterdir())
            if (d / "image.nii.gz").is_file() and (d / "labels.nii.gz").is_file()
        ]
        if root.is_dir()
        else []
    )
    images, labels = root / "imagesTr", root / "labelsTr"
    if images.is_dir() and labels.is_dir():
        for f in sorted(images.glob("*.nii*")):
            name = re.sub(r"(_0000)?\.nii(\.gz)?$", "", f.name)
            lab = next((p for p in (labels / f"{name}.nii.gz", labels / f"{name}.nii") if p.is_file()), None)
            if lab is None:
                raise IahemoError(f"{f}: no label map {labels / (name + '.nii.gz')}")
            pairs.append(Pair(name, f, lab))
    if not pairs:
        raise IahemoError(
            f"{root}: no training pairs (expected <case>/image.nii.gz + labels.nii.gz, or imagesTr/ + labelsTr/)"
        )
    return pairs


@dataclass(frozen=True, eq=False)
class Volume:
    """A training/test volume: working-grid image and labels, and the native labels for evaluation."""

    name: str
    image: np.ndarray  # (X, Y, Z) float32, working grid
    labels: np.ndarray  # (X, Y, Z) uint8, working grid
    native_labels: np.ndarray
    prepared: Prepared
    spacing: np.ndarray  # native spacing, mm


def load_volume(pair: Pair, cfg: Preprocess) -> Volume:
    image = read_image(pair.image)
    lab = read_image(pair.labels)
    if lab.shape != image.shape or not np.allclose(lab.affine, image.affine, atol=1e-3):
        raise IahemoError(f"{pair.labels}: not on the grid of {pair.image}")
    native = np.rint(lab.array).astype(np.int64)
    bad = set(np.unique(native).tolist()) - {0, 1, 2}
    if bad:
        raise IahemoError(f"{pair.labels}: label values {sorted(bad)} (expected 0 background, 1 vessel, 2 aneurysm)")
    if not native.any():
        raise IahemoError(f"{pair.labels}: an empty label map (no vessel voxel)")
    prep = prepare(image, cfg)
    labels = resample_nearest(native[prep.crop].astype(np.uint8), prep.array.shape, prep.scale)
    return Volume(pair.name, prep.array, labels, native.astype(np.uint8), prep, image.spacing)


def bone_plates(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """``image`` (working grid, intensities in [0, 1]) with ``n`` pieces of skull base added where ``labels`` is
    background, allowed to touch the lumen but never to cover it: thin plates of trabecular bone (normalised
    0.4-0.9, i.e. 300-800 HU in the CT window, the lumen's range) with a saturating cortical rim, or air cells (the
    window's floor) walled by such bone. The sphenoid sinus and the bone around the carotid siphon look like this
    in a real CTA; the cohort's bones are smooth, far from the vessel, brighter, and never next to air."""
    shape = np.array(image.shape)
    out = image.astype(np.float32, copy=True)
    grid = np.indices(image.shape, dtype=np.float32).reshape(3, -1).T
    background = labels == 0
    for _ in range(n):
        cell = rng.random() < 0.5
        centre = rng.uniform(0, shape)
        if cell:
            semi = rng.uniform(4.0, 14.0, size=3)  # voxels
        else:
            semi = np.array([rng.uniform(1.5, 4.0), rng.uniform(6.0, 20.0), rng.uniform(6.0, 20.0)])
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        r = np.sqrt(((((grid - centre) @ q) / semi) ** 2).sum(axis=1)).reshape(image.shape)
        if not (r < 1).any():
            continue
        depth = np.clip(1.0 - r, 0, None) * semi.min()  # ~ voxels inside the outer surface
        occupancy = np.clip((1.0 - r) * semi.min() + 0.5, 0.0, 1.0)  # a one-voxel partial-volume edge
        texture = ndimage.gaussian_filter(rng.normal(size=image.shape).astype(np.float32), 1.5)
        texture /= max(float(texture.std()), 1e-6)
        trabecular = rng.uniform(0.4, 0.9) + 0.08 * texture
        bone = np.where(depth < 1.2, 1.0, trabecular)  # the cortex: the outer voxel
        if cell:
            bone = np.where(depth < rng.uniform(1.5, 3.0), bone, 0.0)
        mix = np.where(background, occupancy, 0.0)
        out = out + (np.clip(bone, 0.0, 1.0) - out) * mix
    return out


class RandBonePlates:
    """MONAI-style dictionary transform: ``bone_plates`` on a training patch with probability ``prob`` (1-2
    pieces); the labels do not change — bone and air are background."""

    def __init__(self, prob: float, seed: int):
        self.prob = prob
        self.rng = np.random.default_rng(seed)

    def __call__(self, data: dict) -> dict:
        if self.prob <= 0 or self.rng.random() >= self.prob:
            return data
        d = dict(data)
        image = np.asarray(d["image"])
        d["image"] = bone_plates(image[0], np.asarray(d["label"])[0], self.rng, int(self.rng.integers(1, 3)))[None]
        return d


def augmentation(
    patch: int, seed: int, crop_ratios: tuple[float, float, float] | None = None, bone_prob: float = 0.0
):
    """MONAI dictionary transforms: random crops centred on lumen or background voxels (2:1), or on background,
    vessel and aneurysm voxels in ``crop_ratios``; skull base beside the lumen (``bone_prob``, ``bone_plates``); 90°
    and small free rotations, flips on every axis, intensity scale/shift and noise (scanner-to-scanner contrast)."""
    from monai import transforms as T

    keys = ("image", "label")
    size = (patch,) * 3
    if crop_ratios is None:
        crop = T.RandCropByPosNegLabeld(keys, "label", spatial_size=size, pos=2, neg=1, num_samples=1)
    else:  # a volume without an aneurysm simply gets no aneurysm-centred crops
        crop = T.RandCropByLabelClassesd(
            keys, "label", spatial_size=size, ratios=list(crop_ratios), num_classes=3, num_samples=1, warn=False
        )
    t = T.Compose(
        [
            T.SpatialPadd(keys, spatial_size=size),
            crop,
            RandBonePlates(bone_prob, seed),
            T.RandRotate90d(keys, prob=0.5, spatial_axes=(0, 1)),
            T.RandRotate90d(keys, prob=0.3, spatial_axes=(1, 2)),
            T.RandRotated(keys, range_x=0.3, range_y=0.3, range_z=0.3, prob=0.2, mode=("bilinear", "nearest")),
            T.RandFlipd(keys, prob=0.5, spatial_axis=0),
            T.RandFlipd(keys, prob=0.5, spatial_axis=1),
            T.RandFlipd(keys, prob=0.5, spatial_axis=2),
            T.RandScaleIntensityd("image", factors=0.2, prob=0.5),
            T.RandShiftIntensityd("image", offsets=0.08, prob=0.5),
            T.RandGaussianNoised("image", std=0.03, prob=0.3),
        ]
    )
    t.set_random_state(seed)
    return t
