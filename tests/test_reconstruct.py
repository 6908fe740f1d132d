"""Lumen reconstruction from label maps: analytic tube + sphere, a synthetic case against its exact surface."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from cfdgen import registry
from cfdgen.imaging import Image, ImageError, read_image, write_nifti
from cfdgen.reconstruct import reconstruct, reconstruct_command, surface_distance

H = 0.4  # voxel (mm)
R = 2.0  # tube radius
SAC_C, SAC_R = np.array([0.0, 4.0, 0.0]), 3.0  # sphere centre and radius (overlaps the tube: a sidewall sac)


def _tube_with_sac(sac: bool = True) -> Image:
    n = (60, 40, 24)
    lo = np.array([-12.0, -6.0, -4.6])
    ax = [lo[d] + H * np.arange(n[d]) for d in range(3)]
    x, y, z = np.meshgrid(*ax, indexing="ij")
    lab = np.zeros(n, np.uint8)
    lab[np.hypot(y, z) < R] = 1
    if sac:
        in_sac = np.sqrt((x - SAC_C[0]) ** 2 + (y - SAC_C[1]) ** 2 + (z - SAC_C[2]) ** 2) < SAC_R
        lab[in_sac & (lab == 0)] = 2
    affine = np.diag([H, H, H, 1.0])
    affine[:3, 3] = lo
    return Image(lab, affine, "analytic")


def test_tube_and_sphere_are_reconstructed_within_half_a_voxel():
    rec = reconstruct(_tube_with_sac())
    p = np.asarray(rec.surface.points)
    assert [o.patch for o in rec.openings] == [registry.INLET, registry.outlet(0)]
    for o in rec.openings:  # the ends are the image faces x = -12 and x = 11.6, perpendicular to the tube
        assert o.radius == pytest.approx(R, rel=0.06)
        assert abs(abs(o.normal[0]) - 1) < 0.01
    radial = np.hypot(p[:, 1], p[:, 2])
    to_sphere = np.linalg.norm(p - SAC_C, axis=1)
    tube_part = to_sphere > SAC_R + 1.0
    sac_part = radial > R + 1.0
    # distance to the analytic surface: tube away from the sac, sphere away from the tube
    assert np.mean(np.abs(radial[tube_part] - R)) < H / 2
    assert np.mean(np.abs(to_sphere[sac_part] - SAC_R)) < H / 2
    sac = rec.surface.point_data[registry.FIELDS["sac"].key].astype(bool)
    assert sac[sac_part].mean() > 0.95
    assert sac[tube_part].mean() < 0.02
    ids = rec.surface.point_data[registry.OPENING_ID]
    assert sorted(set(ids.tolist())) == [-1, 0, 1]


def test_synthetic_case_surface_matches_its_exact_surface(cohort, tmp_path):
    out, rows = cohort
    case = out / rows[0]["id"]
    summary = reconstruct_command(case / "labels.nii.gz", tmp_path)
    rec = pv.read(tmp_path / "surface.vtp")
    truth = pv.read(case / "surface.vtp")
    spacing = read_image(case / "labels.nii.gz").spacing
    d = surface_distance(rec, truth)
    assert d["mean_mm"] < 0.5 * spacing.mean(), d  # the goal: within half a voxel
    assert d["compared_fraction"] > 0.8
    n_truth = len(truth.field_data[registry.OPENING_PATCH])
    assert len(summary["openings"]) == n_truth
    assert summary["sac_points"] > 0


def test_empty_label_map_is_refused(tmp_path):
    write_nifti(np.zeros((8, 8, 8), np.uint8), np.eye(4), tmp_path / "labels.nii.gz")
    with pytest.raises(ImageError, match="empty label map"):
        reconstruct_command(tmp_path / "labels.nii.gz", tmp_path / "out")
    assert not (tmp_path / "out" / "surface.vtp").exists()
