"""Synthetic cohort: clean open surfaces, aligned images and labels, exact truth, determinism, atomic writes."""

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import pyvista as pv
from scipy.ndimage import binary_erosion

from cfdgen import registry
from cfdgen.case import load_case
from cfdgen.centerline import BRANCH_ARRAY, RADIUS_ARRAY
from cfdgen.surface import boundary_loops, topology, triangles, voxelize
from cfdgen.synth import cohort as cohort_mod
from cfdgen.synth.build import Opening, beyond_openings
from cfdgen.synth.config import SynthConfig
from tests.conftest import COHORT_N, COHORT_SEED

EXPECTED_OPENINGS = {"sidewall": 2, "bifurcation": 3}


def load(folder: Path):
    truth = json.loads((folder / "morphology_truth.json").read_text())
    return pv.read(folder / "surface.vtp"), truth


def test_every_case_is_complete_and_valid(cohort):
    out, rows = cohort
    assert len(rows) == COHORT_N
    assert {(r["kind"], r["shape"]) for r in rows} == {
        (k, s) for k in ("sidewall", "bifurcation") for s in ("sphere", "ellipsoid", "lobulated")
    }
    for r in rows:
        folder = out / r["id"]
        for name in ("case.yaml", "surface.vtp", "image.nii.gz", "labels.nii.gz", "morphology_truth.json"):
            assert (folder / name).is_file(), name
        case = load_case(folder)
        assert case.synthetic and case.id == r["id"] and case.surface.is_file() and case.image.is_file()
        for key, param in registry.MORPHOLOGY.items():
            assert np.isfinite(r[key]), key
            assert r["units"][key] == param.unit
    lines = (out / "cohort.csv").read_text().splitlines()
    assert lines[0].split(",") == list(cohort_mod.TABLE_COLUMNS) and len(lines) == COHORT_N + 1


def test_truth_in_the_requested_ranges(cohort):
    out, rows = cohort
    for r in rows:
        assert 1.5 <= r["neck_diameter"] <= 7.5
        assert r["height"] >= 1.0 and r["size"] <= 17.0
        assert 0 <= r["inflow_angle"] <= 180 and 0 <= r["outflow_angle"] <= 180
        assert r["ui"] >= -1e-6 and r["nsi"] > -0.01
        if r["kind"] == "sidewall":
            assert 60 <= r["inflow_angle"] <= 120  # dome placed perpendicular-ish to the parent
        cl = pv.read(out / r["id"] / "centerlines.vtp")
        parent = cl.point_data[RADIUS_ARRAY][cl.point_data[BRANCH_ARRAY] == 0]
        assert 1.2 * 0.88 - 1e-9 <= parent.min() and parent.max() <= 2.5 + 1e-9


def test_surfaces_are_manifold_tubes_with_planar_labelled_openings(cohort):
    out, rows = cohort
    for r in rows:
        surface, truth = load(out / r["id"])
        topo = topology(surface)
        n_open = EXPECTED_OPENINGS[r["kind"]]
        assert topo.manifold and topo.n_components == 1 and topo.genus == 0, topo
        assert topo.n_loops == n_open == len(truth["openings"])
        p = np.asarray(surface.points)
        ids = np.asarray(surface.point_data[registry.OPENING_ID])
        assert sorted(set(ids) - {-1}) == list(range(n_open))
        assert list(surface.field_data[registry.OPENING_PATCH]) == [o["patch"] for o in truth["openings"]]
        assert truth["openings"][0]["patch"] == registry.INLET
        for loop in boundary_loops(triangles(surface)):
            op = truth["openings"][ids[loop[0]]]
            off_plane = (p[loop] - op["center"]) @ np.asarray(op["normal"])
            assert np.abs(off_plane).max() < 1e-4  # cut exactly on the end plane
            radius = np.linalg.norm(p[loop] - p[loop].mean(0), axis=1).mean()
            assert radius == pytest.approx(op["radius"], rel=0.03)


def test_voxelised_surface_matches_label_map(cohort):
    out, rows = cohort
    for r in rows:
        folder = out / r["id"]
        surface, truth = load(folder)
        lab = nib.load(folder / "labels.nii.gz")
        labels, affine = np.asarray(lab.dataobj), lab.affine
        spacing = np.diag(affine)[:3]
        assert np.all((spacing >= 0.3 - 1e-9) & (spacing <= 0.6 + 1e-9))
        occ = voxelize(surface.fill_holes(1e3), affine[:3, 3], spacing, labels.shape)
        ijk = np.stack(np.meshgrid(*[np.arange(n) for n in labels.shape], indexing="ij"), -1).reshape(-1, 3)
        ops = [
            Opening(o["patch"], np.array(o["center"]), np.array(o["normal"]), o["radius"]) for o in truth["openings"]
        ]
        inside_cut = ~beyond_openings(ijk * spacing + affine[:3, 3], ops, SynthConfig().extension)
        a, b = occ & inside_cut.reshape(labels.shape), (labels > 0) & inside_cut.reshape(labels.shape)
        dice = 2 * (a & b).sum() / (a.sum() + b.sum())
        assert dice > 0.95, (r["id"], dice)
        assert (labels == 2).sum() > 0 and (labels == 1).sum() > 0


def test_image_intensities_look_like_cta(cohort):
    out, rows = cohort
    for r in rows:
        folder = out / r["id"]
        img = np.asarray(nib.load(folder / "image.nii.gz").dataobj).astype(float)
        labels = np.asarray(nib.load(folder / "labels.nii.gz").dataobj)
        core = binary_erosion(labels > 0, iterations=1)
        assert 220 <= np.median(img[core]) <= 520
        assert -10 <= np.median(img[labels == 0]) <= 80  # brain-like background
        assert img.max() > 600  # bone-like structures present


def test_sac_mask_on_the_surface_agrees_with_truth(cohort):
    out, rows = cohort
    for r in rows:
        surface, truth = load(out / r["id"])
        t = triangles(surface)
        p = np.asarray(surface.points)
        sac = np.asarray(surface.point_data[registry.FIELDS["sac"].key])
        on_sac = sac[t].min(axis=1) == 1
        area = 0.5 * np.linalg.norm(np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]]), axis=1)
        assert area[on_sac].sum() == pytest.approx(truth["sac_area"], rel=0.08)
        dome = np.asarray(truth["dome_point"])
        assert sac[np.argmin(np.linalg.norm(p - dome, axis=1))] == 1


def test_generation_is_deterministic(cohort, tmp_path):
    out, rows = cohort
    cfg = SynthConfig()
    again = cohort_mod.build_case(COHORT_SEED, 1, cfg)
    surface, truth = load(out / rows[1]["id"])
    np.testing.assert_array_equal(np.asarray(again.surface.points), np.asarray(surface.points))
    for key in registry.MORPHOLOGY:
        assert again.truth[key] == truth[key]
    folder = cohort_mod.write_case(again, tmp_path, cfg)
    for name in ("image.nii.gz", "labels.nii.gz"):
        a = np.asarray(nib.load(folder / name).dataobj)
        b = np.asarray(nib.load(out / rows[1]["id"] / name).dataobj)
        np.testing.assert_array_equal(a, b)
    assert (folder / "case.yaml").read_text() == (out / rows[1]["id"] / "case.yaml").read_text()
    other = cohort_mod.build_case(COHORT_SEED + 1, 1, cfg)
    assert other.surface.n_points != surface.n_points or other.truth["size"] != truth["size"]


def test_rerun_skips_current_cases(cohort):
    out, rows = cohort
    folder = out / rows[0]["id"]
    before = os.stat(folder / "surface.vtp").st_mtime_ns
    again = cohort_mod.generate_cohort(1, COHORT_SEED, out, progress=False)
    assert again[0] == rows[0]
    assert os.stat(folder / "surface.vtp").st_mtime_ns == before
    assert not cohort_mod.is_current(folder, SynthConfig(surface_spacing=0.3))


def test_failed_write_leaves_nothing_behind(cohort, tmp_path, monkeypatch):
    out, rows = cohort
    case = cohort_mod.build_case(COHORT_SEED, 0, SynthConfig())

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cohort_mod.nib, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        cohort_mod.write_case(case, tmp_path, SynthConfig())
    assert list(tmp_path.iterdir()) == []
