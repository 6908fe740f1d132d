"""``iahemo train``: train the surrogate ensemble (and the channel-3 ablation), evaluate both on the held-out
geometries, and write a self-describing model folder:

    OUT/hemodynamics.pt      the artifact (weights, config, normalisation, OOD reference, metrics, card)
    OUT/model_card.md        what it was trained on, how well it does, what it must not be used for
    OUT/training_curves.png  train/validation loss per member
    OUT/evaluation.json      per-field and sac-level errors vs baselines and ablation, per held-out sample
    OUT/maps/*.png           CFD | surrogate | error wall maps of held-out geometries
"""

from __future__ import annotations

import json
import platform
from dataclasses import replace
from pathlib import Path

from cfdgen import __version__
from cfdgen.atomic import write_json, write_text
from surrogate.artifact import SurrogateModel, save_model
from surrogate.data import load_clouds, load_manifest
from surrogate.evaluate import calibrate_spread, evaluate, headline
from surrogate.train import TrainConfig, plot_curves, train_model

MODEL_FILE = "hemodynamics.pt"


# Evaluation methods in the card's table, in order, with their column titles (absent methods are left out).
CARD_COLUMNS = (
    ("surrogate", "surrogate"),
    ("network", "network alone"),
    ("network_sac_level", "network everywhere + sac-level model"),
    ("mean_field", "mean-field baseline"),
    ("nearest_neighbour", "nearest-neighbour baseline"),
    ("lofi", "channel 3 alone (no learning)"),
    ("no_lofi", "no channel 3"),
    ("no_sac_level", "no sac-level model"),
    ("turned", "vessel turned to another pose"),
)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def channel3_words(channel3: dict) -> str:
    """What channel 3 is, for the card."""
    from cfdgen import steady

    if channel3.get("model") == steady.LOFI_MODEL:
        return (
            f"WSS vector of a steady CFD solve (simpleFoam at the mean inflow, {channel3.get('level')} mesh, "
            f"{channel3.get('interpolation')} interpolation), which prediction runs too (~30 s of one core)"
        )
    return "Poiseuille-Dean WSS vector (from centerlines, local radius and the measured flow)"


def model_card(model: SurrogateModel, manifest: dict, result: dict) -> str:
    t = model.training
    desc = manifest.get("description") or "synthetic aneurysm geometries (cfdgen.synth) with CFD by the workflow"
    lines = [
        "# iahemo hemodynamics surrogate — model card",
        "",
        "**Research use only. Trained on synthetic geometries; not validated on patients.**",
        "",
        "## What it predicts",
        f"Wall fields {', '.join(model.normalisation.targets)} on a wall point cloud (TAWSS in log space), from "
        "three input channels: coordinates + normals, the morphology + boundary-condition vector, and the "
        f"low-fidelity {channel3_words(model.channel3)}{' (ablated: zeroed)' if not model.use_lofi else ''}. "
        + (
            ""
            if model.config.absolute_xyz
            else "Coordinates enter only as offsets within each neighbourhood, never as features: the answer at a "
            "point depends on the shape around it, not on where it lies in the vessel. "
        )
        + (
            "Outside the aneurysm sac, TAWSS, the mean WSS vector and OSI are channel 3's own answer (OSI 0), which "
            "was closer to the CFD there than the network; the network's fields are used on the sac. "
            if model.lofi_outside_sac
            else ""
        )
        + (
            "The mean WSS vector points as channel 3 does, with the length the predicted TAWSS and OSI give "
            "(TAWSS × (1 − 2·OSI)). "
            if model.lofi_direction
            else ""
        )
        + (
            "Each wall point also receives its place in the vessel tree (wall context: distances along the "
            "centerline to junctions and branch ends, bend curvature and side, sac distance, taper). "
            if model.normalisation.uses_context
            else ""
        )
        + (
            "Each vessel is turned into its principal-axes frame before the network sees it, so its pose in the "
            "scanner does not change the answer. "
            if model.normalisation.frame == "pca"
            else ""
        )
        + (
            "Trained on each vessel and its mirror image (the flow in a mirrored vessel is the mirrored flow), it "
            "answers with both, the second mirrored back, averaged. "
            if model.mirror_views
            else ""
        )
        + (
            "The sac's mean TAWSS relative to the parent artery is set by a ridge regression on the morphology "
            "vector fitted on the training runs; the network gives the pattern within the sac. "
            if model.sac_level is not None
            else ""
        )
        + f"An ensemble of {len(model.members)} PointNet++-family networks; the spread between members is reported "
        "as `<field>_std`"
        + (
            " (scaled per field to a standard deviation of the error on the validation geometries: "
            + ", ".join(f"{k} ×{v:.2f}" for k, v in model.spread_scale.items())
            + ")"
            if model.spread_scale
            else ""
        )
        + ", and an out-of-distribution flag compares a new case's inputs and latent feature with the training data.",
        "",
        "## Training data",
        f"- {desc}",
        f"- {t['n_train_samples']} runs of {t['n_train_geometries']} geometries for training, "
        f"{t['n_val_samples']} runs of {t['n_val_geometries']} for validation; "
        f"test: {result['n_samples']} runs of {result['n_geometries']} held-out geometries "
        "(splits by geometry, never by BC sample)",
        f"- manifest sha256 `{t['manifest_sha256'][:16]}…`",
        "",
        "## Held-out test geometries (means over runs)",
    ]
    s = result["summary"]
    columns = [(m, title) for m, title in CARD_COLUMNS if m in s]
    lines += ["| quantity | " + " | ".join(t for _, t in columns) + " |", "|---|" + "---|" * len(columns)]
    for field, metric, fmt in (
        ("tawss", "rel_l2", _pct),
        ("osi", "mae", lambda v: f"{v:.4f}"),
        ("tap", "rel_l2", _pct),
        ("wss_mean", "rel_l2", _pct),
    ):
        name = field
        if field == "tap" and model.normalisation.relative_pressure:
            name = "tap − reference level"  # the level is an input; the wall's differences are what is learned
        cells = [fmt(s[m][field][metric]["mean"]) if field in s[m] else "–" for m, _ in columns]
        lines.append(f"| {name} {metric} | " + " | ".join(cells) + " |")
    where = result.get("where_summary", {})
    for part, title in (("off_sac", "TAWSS rel_l2 off the sac"), ("sac", "TAWSS rel_l2 on the sac")):
        key = f"rel_l2_{part}"
        cells = [
            _pct(where[m]["tawss"][key]["mean"]) if key in where.get(m, {}).get("tawss", {}) else "–"
            for m, _ in columns
        ]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    sac = result.get("sac_summary", {})
    cells = [_pct(sac[m]["sac_tawss_rel"]["mean"]) if "sac_tawss_rel" in sac.get(m, {}) else "–" for m, _ in columns]
    lines.append("| sac-averaged TAWSS rel. error | " + " | ".join(cells) + " |")
    spread = result.get("spread_summary", {})
    if spread:
        lines += [
            "",
            "Errors within one / two spreads (`<field>_std`; normal errors: 68 % / 95 %): "
            + ", ".join(
                f"{k} {v['within_1sd']['mean']:.0%} / {v['within_2sd']['mean']:.0%}"
                for k, v in spread.items()
                if "within_1sd" in v
            )
            + ".",
        ]
    cpu = platform.processor() or platform.machine()  # processor() is empty on most Linux systems
    lines += [
        "",
        f"Inference: {result['inference_s_median']:.3f} s median for {result['points_per_sample']} points "
        f"({len(model.members)} members, {t.get('threads', 2)} CPU threads, {cpu}).",
        "",
        "## Limits",
        "- Synthetic sidewall/bifurcation geometries at a coarse mesh level; real aneurysms differ (see the "
        "real-case check in the README). Check the out-of-distribution flag before trusting a prediction.",
        "- Newtonian, rigid walls, population waveform scaled to the measured flow — the CFD's own assumptions.",
        f"- iahemo {__version__}.",
    ]
    return "\n".join(lines) + "\n"


def distil(
    manifest: str | Path,
    out_dir: str | Path,
    cfg: TrainConfig | None = None,
    ablation: bool = True,
    progress: bool = True,
) -> tuple[SurrogateModel, dict]:
    cfg = cfg or TrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    man, _ = load_manifest(manifest)
    clouds = load_clouds(manifest, progress)
    model, _ = train_model(manifest, cfg, progress, clouds)
    model.training["data_description"] = man.get("description", "")
    # the members agree with each other more than with the CFD: their spread, scaled on the validation geometries
    model.spread_scale = calibrate_spread(model, clouds, "val")
    ablated = None
    if ablation:
        ablated, _ = train_model(
            manifest, replace(cfg, use_lofi=False, lofi_outside_sac=False, ensemble=1), progress, clouds
        )
    result = evaluate(model, clouds, ablated, "test", maps=out / "maps")
    model.metrics = {"split": "test", "summary": headline(result), "n_samples": result["n_samples"]}
    model.card = model_card(model, man, result)
    save_model(model, out / MODEL_FILE)
    plot_curves(model, out / "training_curves.png")
    write_text(out / "model_card.md", model.card)
    result["training"] = {k: v for k, v in model.training.items() if k != "members"}
    result["training"]["best_epochs"] = [m["best_epoch"] for m in model.training["members"]]
    result["headline"] = headline(result)
    write_json(out / "evaluation.json", json.loads(json.dumps(result, default=float)))
    return model, result
