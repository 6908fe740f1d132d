"""Image intake: NIfTI, MHA/MHD/NRRD and DICOM series folders as one ``Image`` in world millimetres.

The world frame is the one surfaces use: RAS millimetres, as nibabel's affine gives them (the synthetic cohort
writes its surfaces and images in it). ITK formats and DICOM store LPS, so their x and y are negated on the way
in; a surface made from any of them overlays the image in ParaView or 3D Slicer without a transform. Every
refusal is an ``ImageError`` whose single line names the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cfdgen.atomic import atomic_path
from cfdgen.errors import IahemoError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
ITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")
IMAGE_SUFFIXES = NIFTI_SUFFIXES + ITK_SUFFIXES + (".dcm",)
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Smaller than this along any axis is not a 3D volume a vessel can be segmented in.
MIN_SLICES = 4


class ImageError(IahemoError):
    """An image that cannot be read or is not a usable 3D volume."""


@dataclass(frozen=True, eq=False)
class Image:
    array: np.ndarray  # (nx, ny, nz), index order i, j, k
    affine: np.ndarray  # 4x4: voxel index (i, j, k, 1) -> world RAS mm
    source: str

    @property
    def spacing(self) -> np.ndarray:
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)

    def world(self, ijk: np.ndarray) -> np.ndarray:
        """World coordinates (mm) of (n, 3) voxel indices (fractional indices allowed)."""
        return np.asarray(ijk, dtype=np.float64) @ self.affine[:3, :3].T + self.affine[:3, 3]

    def index(self, xyz: np.ndarray) -> np.ndarray:
        """Fractional voxel indices of (n, 3) world points."""
        inv = np.linalg.inv(self.affine)
        return np.asarray(xyz, dtype=np.float64) @ inv[:3, :3].T + inv[:3, 3]


def suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def read_image(path: str | Path) -> Image:
    """A 3D image from a file or a DICOM series folder; intensities as float32 in the file's own units."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file or folder")
    if path.is_dir():
        image = _read_dicom_series(path)
    elif suffix(path) in NIFTI_SUFFIXES:
        image = _read_nifti(path)
    elif suffix(path) in ITK_SUFFIXES or suffix(path) == ".dcm":
        image = _read_itk(path)
    else:
        raise ImageError(
            f"{path}: unknown image format '{suffix(path)}' (expected {', '.join(IMAGE_SUFFIXES)} or a DICOM folder)"
        )
    return _checked(image)


def _checked(image: Image) -> Image:
    a = image.array
    if a.ndim == 4 and a.shape[3] == 1:
        a = a[..., 0]
    if a.ndim != 3 or min(a.shape) < MIN_SLICES:
        raise ImageError(
            f"{image.source}: not a 3D volume (shape {tuple(image.array.shape)}; segmentation needs at least "
            f"{MIN_SLICES} voxels along each axis)"
        )
    if not np.all(np.isfinite(image.affine)) or abs(np.linalg.det(image.affine[:3, :3])) < 1e-12:
        raise ImageError(f"{image.source}: the voxel-to-world transform is degenerate (zero or missing spacing)")
    a = np.asarray(a, dtype=np.float32)
    if not np.all(np.isfinite(a)):
        raise ImageError(f"{image.source}: the image holds NaN or infinite values")
    return Image(a, image.affine, image.source)


def _read_nifti(path: Path) -> Image:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # truncated gzip, bad header: nibabel raises many types
        raise ImageError(f"{path}: not a readable NIfTI image ({_reason(exc)})") from None
    return Image(data, np.asarray(img.affine, dtype=np.float64), str(path))


def _itk_affine(img) -> np.ndarray:
    """RAS affine of a SimpleITK image (its origin, spacing and direction are LPS)."""
    d = np.asarray(img.GetDirection(), dtype=np.float64).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = d @ np.diag(img.GetSpacing())
    lps[:3, 3] = img.GetOrigin()
    return _LPS_TO_RAS @ lps


def _from_itk(img, source: str) -> Image:
    import SimpleITK as sitk

    if img.GetDimension() != 3:
        raise ImageError(f"{source}: not a 3D volume ({img.GetDimension()}D image of size {img.GetSize()})")
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise ImageError(f"{source}: {img.GetNumberOfComponentsPerPixel()} components per voxel (expected one)")
    return Image(sitk.GetArrayFromImage(img).transpose(2, 1, 0), _itk_affine(img), source)


def _read_itk(path: Path) -> Image:
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ImageError(f"{path}: not a readable image ({_reason(exc)})") from None
    return _from_itk(img, str(path))


def _read_dicom_series(folder: Path) -> Image:
    import SimpleITK as sitk

    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)) or ()
    if not series:
        raise ImageError(f"{folder}: no DICOM series in this folder")
    if len(series) > 1:
        raise ImageError(
            f"{folder}: {len(series)} DICOM series mixed in one folder (put each series in a folder of its own)"
        )
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0])
    if len(files) < MIN_SLICES:
        raise ImageError(f"{folder}: a DICOM series of {len(files)} slice(s) is not a 3D volume")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise ImageError(f"{folder}: the DICOM series cannot be read ({_reason(exc)})") from None
    return _from_itk(img, str(folder))


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    for marker in ("ERROR:", "Description:"):
        if marker in text:
            text = text.split(marker)[-1].strip()
    return (text[:160] or type(exc).__name__).rstrip(".")


def write_nifti(array: np.ndarray, affine: np.ndarray, path: str | Path, scale: float | None = None) -> Path:
    """NIfTI (qform = sform = affine, units mm), written atomically; ``scale``: stored values × scale are the
    real ones (the header's scl_slope)."""
    import nibabel as nib

    img = nib.Nifti1Image(array, affine)
    if scale is not None:
        img.header.set_data_dtype(array.dtype)
        img.header.set_slope_inter(scale, 0.0)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # the temporary name keeps ".nii.gz", which nibabel compresses by
        nib.save(img, str(tmp))
    return path
