"""Segmentation: preprocessing and metrics against exact answers, a real (tiny) training run through its gate,
and the shipped model on synthetic cases it never saw."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cfdgen.errors import IahemoError
from cfdgen.imaging import Image, read_image, write_nifti
from surrogate.seg_data import Preprocess, modality_of, prepare, resample_linear, to_native
from surrogate.seg_metrics import dice, hd95, label_metrics
from surrogate.seg_net import (
    DEFAULT_SEG_MODEL,
    NoVesselError,
    SegNetConfig,
    load_seg_model,
    postprocess,
    segment_array,
    window_probabilities,
)
from surrogate.seg_train import MODEL_FILE, SegGateFailed, TrainSegConfig, train_segmentation


def test_linear_resampling_is_exact_on_a_linear_ramp():
    i, j, k = np.meshgrid(np.arange(20), np.arange(15), np.arange(9), indexing="ij")
    a = (2.0 * i - 3.0 * j + 0.5 * k).astype(np.float32)
    scale = np.array([0.7, 1.3, 0.45])
    shape = tuple(int((n - 1) / s) + 1 for n, s in zip(a.shape, scale))
    out = resample_linear(a, shape, scale)
    ii, jj, kk = np.meshgrid(*(np.arange(n) * s for n, s in zip(shape, scale)), indexing="ij")
    np.testing.assert_allclose(out, 2.0 * ii - 3.0 * jj + 0.5 * kk, atol=1e-4)


def test_working_grid_round_trip_and_ct_window():
    rng = np.random.default_rng(1)
    a = rng.uniform(-50, 600, size=(30, 24, 12)).astype(np.float32)
    affine = np.diag([0.3, 0.3, 0.6, 1.0])
    prep = prepare(Image(a, affine, "x"), Preprocess(working_spacing=0.45, modality="ct"))
    assert prep.array.shape == (20, 16, 15)  # floor((n - 1) * s / 0.45) + 1
    assert prep.array.min() >= 0 and prep.array.max() <= 1
    back = to_native(np.stack([prep.array]), prep)[0]
    assert back.shape == a.shape
    # the HU window maps 400 HU to 0.5
    flat = Image(np.full((8, 8, 8), 400.0, np.float32), np.eye(4), "x")
    flat = prepare(flat, Preprocess(working_spacing=1, modality="ct"))
    assert float(flat.array.mean()) == pytest.approx(0.5)


def test_air_around_a_ct_is_cropped_and_background_outside():
    a = np.full((40, 30, 20), -1000.0, np.float32)
    a[10:25, 5:20, 4:16] = 40.0  # tissue in air
    prep = prepare(Image(a, np.eye(4), "x"), Preprocess(working_spacing=1.0))
    assert prep.modality == "ct"
    assert [(c.start, c.stop) for c in prep.crop] == [(6, 29), (1, 24), (0, 20)]
    prob = np.zeros((3, *prep.array.shape), np.float32)
    prob[1] = 1.0
    native = to_native(prob, prep)
    assert native.shape == (3, 40, 30, 20)
    assert native[0, 0, 0, 0] == 1.0 and native[1, 15, 10, 10] == 1.0


def test_challenge_layout_pairs(tmp_path):
    from surrogate.seg_data import find_pairs

    for d in ("imagesTr", "labelsTr"):
        (tmp_path / d).mkdir()
    for name in ("case_a", "case_b"):
        write_nifti(np.zeros((4, 4, 4), np.int16), np.eye(4), tmp_path / "imagesTr" / f"{name}_0000.nii.gz")
        write_nifti(np.zeros((4, 4, 4), np.uint8), np.eye(4), tmp_path / "labelsTr" / f"{name}.nii.gz")
    assert [p.name for p in find_pairs(tmp_path)] == ["case_a", "case_b"]
    (tmp_path / "labelsTr" / "case_b.nii.gz").unlink()
    with pytest.raises(IahemoError, match="no label map"):
        find_pairs(tmp_path)


def test_modality_detection():
    rng = np.random.default_rng(2)
    ct_air = np.concatenate([np.full(1000, -1000.0), rng.uniform(0, 500, 9000)])
    ct_brain = rng.normal(35, 10, 10000)
    ct_brain[:200] = 400
    mr = rng.uniform(0, 2500, 10000)
    assert [modality_of(x) for x in (ct_air, ct_brain, mr)] == ["ct", "ct", "mr"]


def test_dice_and_hd95_of_concentric_spheres():
    h = 0.5
    g = (np.arange(60) - 30) * h
    x, y, z = np.meshgrid(g, g, g, indexing="ij")
    r = np.sqrt(x**2 + y**2 + z**2)
    a, b = r < 8.0, r < 10.0
    # volumes 8^3 vs 10^3: Dice = 2·512 / (512 + 1000)
    assert dice(a, b) == pytest.approx(2 * 512 / 1512, abs=0.02)
    assert hd95(a, b, (h, h, h)) == pytest.approx(2.0, abs=h)
    assert dice(a, a) == 1.0 and hd95(a, a, (h, h, h)) == 0.0
    assert hd95(a, np.zeros_like(a), (h, h, h)) == float("inf")
    m = label_metrics(a.astype(np.uint8), b.astype(np.uint8), (h, h, h))
    assert m["aneurysm"]["dice"] == 1.0 and m["vessel"]["dice"] == pytest.approx(dice(a, b))


def test_postprocess_drops_speckle_keeps_large_pieces_and_fills_holes():
    lab = np.zeros((40, 40, 40), np.uint8)
    lab[5:25, 5:25, 5:25] = 1  # 7,875 voxels once the hole is cut
    lab[10:15, 10:15, 10:15] = 0  # an enclosed hole
    lab[20:24, 20:24, 20:24] = 2  # aneurysm label inside the vessel
    lab[27:29, 27:29, 27:29] = 1  # speckle: 8 voxels
    lab[30:40, 0:20, 0:10] = 1  # a second piece of the vessel: 2,000 voxels (> 10 % of the largest)
    out = postprocess(lab, voxel_mm3=0.4**3)
    assert out[12, 12, 12] == 1
    assert out[28, 28, 28] == 0
    assert out[35, 10, 5] == 1
    assert (out == 2).sum() == 64
    # an image of speckle only: every piece under 5 mm³ (20 voxels of 0.25 mm³) -> nothing
    specks = np.zeros((30, 30, 30), np.uint8)
    specks[::6, ::6, ::6] = 1
    specks[3:5, 3:5, 3:5] = 1
    assert not postprocess(specks, voxel_mm3=0.25).any()


def test_a_vessel_piece_inside_the_sac_becomes_sac_a_daughter_vessel_does_not():
    from surrogate.seg_net import enclosed_vessel_pieces_to_sac

    lab = np.zeros((40, 40, 40), np.uint8)
    lab[:, 18:22, 18:22] = 1  # parent vessel across the image
    lab[14:30, 22:36, 14:28] = 2  # the sac on its side
    lab[20:24, 28:34, 18:22] = 1  # a lobe the network called vessel, inside the sac
    lab[29:40, 30:34, 18:22] = 1  # a daughter vessel leaving the sac and the image
    out = enclosed_vessel_pieces_to_sac(lab)
    assert np.all(out[20:24, 28:34, 18:22] == 2)
    assert np.all(out[30:40, 30:34, 18:22] == 1) and np.all(out[:, 18:22, 18:22] == 1)
    assert (out != lab).sum() == 4 * 6 * 4
    # a piece inside the image that does not touch the sac (a vessel broken at a faint point) stays vessel
    lab2 = lab.copy()
    lab2[20:24, 28:34, 18:22] = 2
    lab2[5:12, 30:34, 5:9] = 1
    assert np.array_equal(enclosed_vessel_pieces_to_sac(lab2), lab2)


TINY_NET = {"channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 0}


def _tiny(**kw) -> TrainSegConfig:
    return TrainSegConfig(steps=4, patch=32, val_every=2, roi=48, net=TINY_NET, **kw)


def test_training_writes_a_self_describing_model_that_reloads(cohort, tmp_path):
    out, _ = cohort
    r = train_segmentation([out], tmp_path, _tiny(min_dice=0.0, select_class="vessel"), progress=False)
    # strict JSON: a class missed in a test case (HD95 undefined) must not write Infinity or NaN
    ev = json.loads((tmp_path / "evaluation.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert set(ev["split"]) == {"train", "val", "test"}
    assert all(isinstance(v["missed"], int) for v in ev["test"]["mean"].values())
    assert not set(ev["split"]["test"]) & set(ev["split"]["train"])  # split by case
    card = (tmp_path / "card.md").read_text()
    assert (tmp_path / "curves.png").stat().st_size > 5000 and "synthetic" in card
    # The kept weights are those of the best validation vessel Dice, and the card says which step that was.
    best = max(row["val_dice_vessel"] for row in ev["history"])
    step = next(row["step"] for row in ev["history"] if row["val_dice_vessel"] == best)
    assert f"best validation Dice (vessel), step {step:,}" in card
    model = load_seg_model(tmp_path / MODEL_FILE)
    assert model.config == SegNetConfig.from_dict(TINY_NET) and model.roi == 48
    assert model.metrics["gate"]["passed"] and 0 <= model.metrics["test"]["lumen"]["dice"] <= 1
    a = np.random.default_rng(0).random((40, 40, 40)).astype(np.float32)
    p = window_probabilities(model.net, a, model.roi)
    np.testing.assert_allclose(p.sum(axis=0), 1.0, atol=1e-5)
    assert r["test"]["mean"]["lumen"]["dice"] == ev["test"]["mean"]["lumen"]["dice"]


def test_a_model_below_the_gate_is_not_where_inference_looks(cohort, tmp_path):
    out, _ = cohort
    with pytest.raises(SegGateFailed, match="below the gate 0.999"):
        # (crops centred on each label in turn and bone plates: the other augmentation paths)
        cfg = _tiny(min_dice=0.999, crop_ratios=(1.0, 1.0, 1.0), bone_prob=0.5)
        train_segmentation([out], tmp_path, cfg, progress=False)
    assert not (tmp_path / MODEL_FILE).exists()
    assert (tmp_path / "rejected" / MODEL_FILE).is_file()
    assert json.loads((tmp_path / "evaluation.json").read_text())["gate"]["passed"] is False


def test_a_corrupt_model_file_is_one_clear_error(tmp_path):
    (tmp_path / "m.pt").write_bytes(DEFAULT_SEG_MODEL.read_bytes()[:1000])
    with pytest.raises(IahemoError, match="not a readable iahemo segmentation model"):
        load_seg_model(tmp_path / "m.pt")


# ---------------------------------------------------------------- the shipped model


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    """Two synthetic cases of a seed the shipped model was not trained on (it saw seed 11)."""
    from cfdgen.synth.cohort import generate_cohort

    out = tmp_path_factory.mktemp("unseen")
    rows = generate_cohort(2, 12, out, progress=False)
    return [out / r["id"] for r in rows]


def test_shipped_model_segments_unseen_synthetic_cases(unseen):
    model = load_seg_model()
    assert model.metrics["gate"]["passed"]
    for case in unseen:
        image = read_image(case / "image.nii.gz")
        truth = read_image(case / "labels.nii.gz").array.astype(np.uint8)
        seg = segment_array(model, image)
        assert seg.labels.shape == truth.shape
        m = label_metrics(seg.labels, truth, image.spacing)
        assert m["lumen"]["dice"] > 0.9, m
        assert m["vessel"]["dice"] > 0.8, m


def test_an_image_without_bright_vessels_is_refused():
    rng = np.random.default_rng(3)
    brain = (35 + rng.normal(0, 10, size=(60, 60, 40))).astype(np.float32)  # CT of brain tissue, no contrast lumen
    with pytest.raises(NoVesselError, match="no vessel found"):
        segment_array(load_seg_model(), Image(brain, np.diag([0.4, 0.4, 0.4, 1]), "brain.nii.gz"))


def test_cli_segment_then_reconstruct(unseen, tmp_path):
    import pyvista as pv

    from cfdgen import registry
    from iahemo.cli import main

    case = unseen[0]
    # the same scan as MHA (ITK's LPS on disk): labels must come back on the NIfTI's grid and affine
    import SimpleITK as sitk

    sitk.WriteImage(sitk.ReadImage(str(case / "image.nii.gz")), str(tmp_path / "scan.mha"))
    assert main(["segment", str(tmp_path / "scan.mha"), "-o", str(tmp_path / "seg"), "-q"]) == 0
    labels = read_image(tmp_path / "seg" / "labels.nii.gz")
    original = read_image(case / "image.nii.gz")
    assert labels.shape == original.shape
    np.testing.assert_allclose(labels.affine, original.affine, atol=1e-4)
    probs = np.asarray(__import__("nibabel").load(tmp_path / "seg" / "probabilities.nii.gz").get_fdata())
    assert probs.shape == (*original.shape, 3) and np.allclose(probs.sum(-1), 1, atol=0.02)
    assert main(["reconstruct", str(tmp_path / "seg" / "labels.nii.gz"), "-o", str(tmp_path / "rec")]) == 0
    surface = pv.read(tmp_path / "rec" / "surface.vtp")
    assert registry.OPENING_ID in surface.point_data and surface.point_data[registry.FIELDS["sac"].key].any()


def test_cli_reports_bad_images(tmp_path, capsys):
    from iahemo.cli import main

    write_nifti(np.zeros((30, 30), np.int16), np.eye(4), tmp_path / "flat.nii.gz")
    assert main(["segment", str(tmp_path / "flat.nii.gz"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "not a 3D volume" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "labels.nii.gz").exists()
    assert main(["segment", "x.nii.gz", "--method", "threshold", "--seed", "a,b,c", "-o", str(tmp_path / "o")]) == 2
    assert "--seed takes x,y,z" in capsys.readouterr().err
    assert main(["train-seg", str(tmp_path), "--config", str(tmp_path / "none.yaml"), "-o", str(tmp_path / "m")]) == 2
    assert "cannot read the options file" in capsys.readouterr().err


def test_workflow_segments_an_image_only_case(unseen, tmp_path):
    """An image-only case goes through the `segment` rule (segment + reconstruct) to the surface `mesh` reads."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    snakemake = Path(sys.executable).with_name("snakemake")
    if not snakemake.exists():
        pytest.skip("snakemake not installed (extra 'workflow')")
    repo = Path(__file__).resolve().parents[1]
    case = tmp_path / "cases" / "img1"
    case.mkdir(parents=True)
    shutil.copy(unseen[0] / "image.nii.gz", case / "image.nii.gz")
    doc = yaml.safe_load((unseen[0] / "case.yaml").read_text())
    doc.update(id="img1", input={"image": "image.nii.gz", "units": "mm"})
    (case / "case.yaml").write_text(yaml.safe_dump(doc))
    results = tmp_path / "results"
    target = results / "img1" / "segmentation" / "surface.vtp"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run(
        [
            str(snakemake),
            "-j",
            "2",
            "--configfile",
            "config/test.yaml",
            "--config",
            f"cases_dir={tmp_path / 'cases'}",
            f"results_dir={results}",
            "--",
            str(target),
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert target.is_file() and (results / "img1" / "segmentation" / "labels.nii.gz").is_file()
    assert json.loads((results / "img1" / "segmentation" / "reconstruct.json").read_text())["openings"]


def test_assess_an_image_end_to_end(unseen, tmp_path):
    """image -> segment -> reconstruct -> morphology -> surrogate -> grade -> report, from the CLI."""
    from iahemo.cli import main

    case = unseen[0]
    out = tmp_path / "assess"
    rc = main(
        ["assess", str(case / "image.nii.gz"), "--case", str(case / "case.yaml"), "--bc-samples", "2", "-o", str(out)]
    )
    assert rc == 0
    a = json.loads((out / "assessment.json").read_text())
    assert a["inputs"]["kind"] == "image" and a["segmentation"]["segment"]["voxels"]["vessel"] > 0
    assert a["morphology"] is not None and a["morphology"]["values"]["size"] > 1.0
    assert (out / "segmentation" / "labels.nii.gz").is_file() and (out / "segmentation.png").is_file()
    assert "Segmentation of the image" in (out / "report.html").read_text()


def test_bone_plates_brighten_background_never_the_lumen_or_the_labels():
    from surrogate.seg_data import augmentation, bone_plates

    ix = np.indices((48, 48, 48)).astype(np.float32)
    tube = ((ix[0] - 24) ** 2 + (ix[1] - 24) ** 2 < 36).astype(np.uint8)  # a lumen along z, radius 6 voxels
    image = np.where(tube > 0, 0.5, 0.1).astype(np.float32)
    out = bone_plates(image, tube, np.random.default_rng(3), 8)
    assert np.array_equal(out[tube > 0], image[tube > 0])  # the lumen is untouched
    bright = out[out - image > 0.05]
    assert len(bright) > 500  # several pieces, each hundreds of voxels
    # trabecular bone in the lumen's own range and saturating cortices: intensity alone cannot tell them apart
    assert ((bright > 0.35) & (bright < 0.95)).mean() > 0.2 and (bright > 0.95).mean() > 0.05
    assert (out < 0.02).sum() > 100  # air cells
    assert out.max() <= 1.0 + 1e-6 and out.min() >= -1e-6
    # in the augmentation chain the labels come out as the (transformed) labels: bone is background
    aug = augmentation(32, 0, None, bone_prob=1.0)
    s = aug({"image": image[None], "label": tube[None]})[0]
    lab, img = np.asarray(s["label"])[0], np.asarray(s["image"])[0]
    assert set(np.unique(lab)) <= {0, 1} and (img[lab == 0] > 0.35).any()
    with pytest.raises(IahemoError, match="bone_prob must be in"):
        TrainSegConfig(bone_prob=1.5)


def test_fixed_test_cases_stay_out_of_training():
    from surrogate.seg_train import split_cases

    names = [f"c{i:02d}" for i in range(20)]
    s = split_cases(names, TrainSegConfig(test_cases=["c03", "c17"]))
    assert s["test"] == ["c03", "c17"] and not {"c03", "c17"} & set(s["train"] + s["val"])
    assert len(s["val"]) == 2 and len(s["train"]) == 16
    with pytest.raises(IahemoError, match="c99"):
        split_cases(names, TrainSegConfig(test_cases=["c99"]))
    with pytest.raises(IahemoError, match="select_class must be one of"):
        TrainSegConfig(select_class="sac")
    with pytest.raises(IahemoError, match="crop_ratios must be one non-negative number per label"):
        TrainSegConfig(crop_ratios=(1.0, 1.0))
