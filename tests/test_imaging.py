"""Image intake: every format lands in the same RAS millimetre frame, and bad input gets one clear message."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import SimpleITK as sitk

from cfdgen.imaging import ImageError, read_image, write_nifti

SPACING = (0.4, 0.5, 0.7)
ORIGIN_LPS = (10.0, -20.0, 30.0)


def _volume() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(-200, 800, size=(12, 10, 8)).astype(np.int16)  # (i, j, k)


def _itk(a: np.ndarray, direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)) -> sitk.Image:
    img = sitk.GetImageFromArray(a.transpose(2, 1, 0))  # ITK arrays are (k, j, i)
    img.SetSpacing(SPACING)
    img.SetOrigin(ORIGIN_LPS)
    img.SetDirection(direction)
    return img


def test_itk_formats_are_converted_from_lps_to_ras(tmp_path):
    a = _volume()
    # a rotated direction: 90° about z, so i runs along LPS y
    direction = (0, -1, 0, 1, 0, 0, 0, 0, 1)
    for name in ("v.mha", "v.nrrd"):
        sitk.WriteImage(_itk(a, direction), str(tmp_path / name))
        im = read_image(tmp_path / name)
        assert im.shape == a.shape
        np.testing.assert_array_equal(im.array, a.astype(np.float32))
        np.testing.assert_allclose(im.spacing, SPACING, rtol=1e-6)
        # voxel (2, 3, 4) in LPS by ITK itself, then x and y negated
        lps = np.array(_itk(a, direction).TransformIndexToPhysicalPoint((2, 3, 4)))
        np.testing.assert_allclose(im.world(np.array([[2, 3, 4]]))[0], lps * [-1, -1, 1], atol=1e-9)
        np.testing.assert_allclose(im.index(im.world(np.array([[2.5, 1, 7]]))), [[2.5, 1, 7]], atol=1e-9)


def test_nifti_round_trip_keeps_grid_and_affine(tmp_path):
    a = _volume()
    affine = np.array([[0.4, 0, 0, -5.0], [0, 0.5, 0, 3.0], [0, 0, 0.7, 1.0], [0, 0, 0, 1]])
    write_nifti(a, affine, tmp_path / "v.nii.gz")
    im = read_image(tmp_path / "v.nii.gz")
    np.testing.assert_array_equal(im.array, a)
    np.testing.assert_allclose(im.affine, affine)
    assert not list(tmp_path.glob(".v.nii.gz*")), "temporary file left behind"


def test_nifti_and_mha_of_the_same_scan_agree(tmp_path):
    """The same ITK image saved as NIfTI (ITK converts LPS->RAS itself) and as MHA reads to one affine."""
    img = _itk(_volume())
    sitk.WriteImage(img, str(tmp_path / "a.nii.gz"))
    sitk.WriteImage(img, str(tmp_path / "a.mha"))
    np.testing.assert_allclose(read_image(tmp_path / "a.nii.gz").affine, read_image(tmp_path / "a.mha").affine,
                               atol=1e-5)


def _write_dicom_series(folder, a: np.ndarray, series_uid: str, z0: float = 0.0):
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(a.shape[2]):
        s = sitk.GetImageFromArray(a[:, :, k].T.copy()[None])  # one slice as a 3D image of depth 1
        s.SetSpacing(SPACING)
        s.SetOrigin((ORIGIN_LPS[0], ORIGIN_LPS[1], z0 + k * SPACING[2]))
        for tag, value in (
            ("0020|000e", series_uid),
            ("0020|000d", "1.2.826.0.1.3680043.2.1125.1"),
            ("0008|0060", "CT"),
            ("0020|0032", f"{ORIGIN_LPS[0]}\\{ORIGIN_LPS[1]}\\{z0 + k * SPACING[2]}"),
            ("0020|0037", "1\\0\\0\\0\\1\\0"),
            ("0020|0013", str(k + 1)),
            ("0028|0030", f"{SPACING[1]}\\{SPACING[0]}"),
        ):
            s.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{series_uid[-3:]}_{k:03d}.dcm"))
        writer.Execute(s)


def test_dicom_series_folder(tmp_path):
    a = _volume()
    _write_dicom_series(tmp_path / "dcm", a, "1.2.826.0.1.3680043.2.1125.101")
    im = read_image(tmp_path / "dcm")
    assert im.shape == a.shape
    np.testing.assert_array_equal(im.array, a.astype(np.float32))
    np.testing.assert_allclose(im.spacing, SPACING, rtol=1e-4)
    np.testing.assert_allclose(im.world(np.zeros((1, 3)))[0], [-ORIGIN_LPS[0], -ORIGIN_LPS[1], 0.0], atol=1e-4)


def test_mixed_dicom_series_are_refused(tmp_path):
    a = _volume()
    _write_dicom_series(tmp_path / "dcm", a, "1.2.826.0.1.3680043.2.1125.101")
    _write_dicom_series(tmp_path / "dcm", a, "1.2.826.0.1.3680043.2.1125.202", z0=100.0)
    with pytest.raises(ImageError, match="2 DICOM series mixed"):
        read_image(tmp_path / "dcm")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: sitk.WriteImage(sitk.Image(20, 20, sitk.sitkInt16), str(p / "x.mha")), "not a 3D volume"),
        (lambda p: sitk.WriteImage(sitk.Image(20, 20, 2, sitk.sitkInt16), str(p / "x.mha")), "not a 3D volume"),
        (lambda p: (p / "x.nii.gz").write_bytes(gzip.compress(b"\0" * 300)[:40]), "not a readable NIfTI"),
        (lambda p: (p / "x.mha").write_text("ObjectType = Image\nNDims = 3\n"), "not a readable image"),
        (lambda p: (p / "x.png").write_bytes(b"\x89PNG"), "unknown image format"),
        (lambda p: (p / "x").mkdir(), "no DICOM series"),
    ],
)
def test_bad_images_get_one_clear_message(tmp_path, make, message):
    make(tmp_path)
    target = next(tmp_path.iterdir())
    with pytest.raises(ImageError, match=message) as info:
        read_image(target)
    assert str(target) in str(info.value) and "\n" not in str(info.value)
