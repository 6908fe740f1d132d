"""The models shipped in surrogate/models: loadable, self-describing, and traceable to the committed dataset."""

import hashlib
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from surrogate.artifact import load_model  # noqa: E402
from surrogate.region_net import load_region_model  # noqa: E402
from surrogate.risk import RiskModel  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "surrogate" / "models"
DATASET = REPO / "data" / "dataset_draft" / "manifest.json"


def test_hemodynamics_model_is_traceable_to_the_committed_dataset():
    model = load_model(MODELS / "hemodynamics.pt")
    assert len(model.members) >= 3 and model.use_lofi
    assert model.training["manifest_sha256"] == hashlib.sha256(DATASET.read_bytes()).hexdigest()
    manifest = json.loads(DATASET.read_text())
    assert model.training["n_train_samples"] == manifest["splits"]["train"]["n_samples"]
    assert "synthetic" in model.card.lower() and "research use only" in model.card.lower()
    # the card beside the model is the model's own, and says how its network sees the coordinates
    assert (MODELS / "hemodynamics_card.md").read_text().startswith(model.card.rstrip("\n"))
    assert ("offsets within each neighbourhood" in model.card) == (not model.config.absolute_xyz)
    h = model.metrics["summary"]
    assert {"tawss_rel_l2", "osi_mae", "baseline_mean_field_tawss_rel_l2", "ablation_no_lofi_tawss_rel_l2"} <= set(h)
    assert {"inputs", "latent"} <= set(model.ood)
    assert (MODELS / "hemodynamics.pt").stat().st_size < 20 * 2**20


def test_region_and_risk_models_load():
    for name in ("regions.pt", "regions_steady.pt"):  # the second made on the steady-channel model's output
        rm = load_region_model(MODELS / name)
        assert rm.metrics["split"] == "test", name
        assert rm.offsets == tuple(rm.metrics["offsets"]) and rm.offsets[0] == 0.0, name  # fitted on the val runs
    risk = RiskModel.load(MODELS / "risk_model.json")
    assert risk.demonstration and "synthetic" in risk.label_source


def test_committed_dataset_carries_the_wall_context():
    """Every packed sample has the per-point wall context (surrogate.pack_context), finite, one row per point, and
    is compact (fields in half precision but those the registry keeps in full; geometry arrays once per vessel:
    the ~100 MB budget)."""
    import h5py
    import numpy as np

    from cfdgen import registry
    from cfdgen.pointcloud import SHARED_GEOMETRY, dataset_name

    manifest = json.loads(DATASET.read_text())
    spec = registry.FIELDS["wall_context"]
    shared = 0
    for s in manifest["samples"]:
        path = DATASET.parent / s["path"]
        with h5py.File(path, "r") as f:
            files = [path] + ([path.parent / f.attrs[SHARED_GEOMETRY]] if SHARED_GEOMETRY in f.attrs else [])
        shared += len(files) - 1
        datasets = {}
        for file in files:
            with h5py.File(file, "r") as f:
                datasets.update({n: f[n][()] for n in ("points",) if n in f})
                datasets.update({n: (d[()], d.attrs["key"]) for n, d in f["fields"].items()})
        k, _ = datasets[dataset_name(spec.key)]
        assert k.shape == (len(datasets["points"]), spec.ncomp), s["path"]
        assert np.isfinite(k).all(), s["path"]
        for name, (d, key) in ((n, v) for n, v in datasets.items() if n != "points"):
            # single precision only where the registry asks for it or half precision would overflow
            full = registry.FIELDS[key].full_precision or np.abs(d).max() >= np.finfo(np.float16).max
            assert d.dtype == (np.float32 if full else np.float16), f"{s['path']}: {name} stored as {d.dtype}"
    # the runs whose vessel was not sampled anew share: 192 of the 199-run copy (Dec 6), 219 of the 226-run copy
    assert shared >= 0.9 * len(manifest["samples"])


def test_hemodynamics_model_was_trained_with_the_committed_options():
    """config/train_shipped.yaml is how the shipped model was made (the README's command)."""
    from dataclasses import asdict

    import yaml

    from surrogate.train import TrainConfig

    model = load_model(MODELS / "hemodynamics.pt")
    options = yaml.safe_load((REPO / "config" / "train_shipped.yaml").read_text())
    # An option added to TrainConfig after the model was trained is missing from its record; new options default
    # to the behaviour before them, so the record is read with today's defaults beneath it (a recorded option that
    # no longer exists still differs).
    trained = {**asdict(TrainConfig()), **model.training["config"]}
    assert trained == asdict(TrainConfig.from_dict(options))


STEADY_MODEL = MODELS / "hemodynamics_steady.pt"
STEADY_HELDOUT = DATASET.parent / "channel3_steady_heldout.h5"


def test_steady_channel_model_scores_on_the_committed_heldout_fields(tmp_path):
    """The steady-channel model (channel 3 = the run's steady simpleFoam wall shear, TAWSS learned as a correction
    of it), made with config/train_steady.yaml on the committed dataset's training runs, re-evaluated through the
    CLI on the committed test runs with their committed steady fields: its recorded test metrics (the fields are
    kept in half precision here, in single precision where it was trained) and issue 7's TAWSS target."""
    from dataclasses import asdict

    import yaml

    from cfdgen import steady
    from iahemo.cli import main
    from surrogate.train import TrainConfig

    model = load_model(STEADY_MODEL)
    assert model.channel3 == {"model": steady.LOFI_MODEL, "level": "draft", "interpolation": "linear"}
    assert len(model.members) >= 3 and STEADY_MODEL.stat().st_size < 20 * 2**20
    options = yaml.safe_load((REPO / "config" / "train_steady.yaml").read_text())
    assert {**asdict(TrainConfig()), **model.training["config"]} == asdict(TrainConfig.from_dict(options))
    manifest = json.loads(DATASET.read_text())
    assert model.training["n_train_samples"] == manifest["splits"]["train"]["n_samples"]
    assert "synthetic" in model.card.lower() and "steady" in model.card.lower()
    assert (MODELS / "hemodynamics_steady_card.md").read_text().startswith(model.card.rstrip("\n"))

    argv = ["evaluate", "--manifest", str(DATASET), "--channel3", str(STEADY_HELDOUT), "--model", str(STEADY_MODEL)]
    assert main([*argv, "-q", "-o", str(tmp_path)]) == 0
    h = json.loads((tmp_path / "evaluation.json").read_text())["headline"]
    recorded = model.metrics["summary"]
    for key in ("tawss_rel_l2", "tawss_rel_l2_sac", "wss_mean_rel_l2"):
        assert h[key] == pytest.approx(recorded[key], abs=0.003), key
    assert h["osi_mae"] == pytest.approx(recorded["osi_mae"], abs=0.0005)
    assert h["baseline_lofi_tawss_rel_l2"] == pytest.approx(0.103, abs=0.002)  # the steady field alone
    assert h["tawss_rel_l2"] <= 0.10


def test_steady_region_model_scores_on_the_committed_heldout_fields():
    """The region model shipped for the steady-channel pair, re-scored on the committed test runs (the steady model's
    fields from the committed steady channel 3; labels from the CFD fields): its recorded IoU, learned and rule, with
    the decision offsets it carries."""
    from surrogate.data import load_clouds, with_channel3
    from surrogate.region_net import score_region_model

    rm = load_region_model(MODELS / "regions_steady.pt")
    clouds = with_channel3([c for c in load_clouds(DATASET) if c.split == "test"], STEADY_HELDOUT)
    _, summary = score_region_model(rm, load_model(STEADY_MODEL), clouds)
    for key, value in rm.metrics["summary"].items():
        assert summary[key] == pytest.approx(value, abs=0.02), key  # fields in half precision here
    assert summary["learned_iou_impingement"] >= 0.7  # issue 8's goal (0.709 here; 0.190 for low WSS + high OSI)


def test_accurate_option_picks_the_shipped_steady_pair(tmp_path, capsys):
    """`--accurate` (predict, assess, assess-batch) means the steady-channel model and the region model made on its
    output — the pair whose IoU the test above asserts — and refuses a model named beside it."""
    from argparse import Namespace

    from cfdgen import steady
    from iahemo.cli import _models, main

    model, regions = _models(Namespace(accurate=True, model=None, region_model=None))
    assert load_model(model).channel3["model"] == steady.LOFI_MODEL
    assert load_region_model(regions).held_out_iou()["impingement"] >= 0.7
    assert _models(Namespace(accurate=False, model="m.pt", region_model=None)) == ("m.pt", None)
    case = REPO / "cases" / "syn1_000"
    argv = ["assess", str(case / "surface.vtp"), "--accurate", "--model", str(MODELS / "hemodynamics.pt")]
    assert main([*argv, "-o", str(tmp_path / "a")]) == 2
    assert "--accurate chooses the models itself" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
