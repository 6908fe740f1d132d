"""Model variants for the surrogate benchmarks: trained once with ``iahemo train``, reused while their folder
holds a model."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# What a variant is compared on: the evaluation headline's TAWSS (whole wall, off and on the sac, sac mean), OSI,
# TAP and mean WSS errors.
SCORES = (
    "tawss_rel_l2",
    "tawss_rel_l2_off_sac",
    "tawss_rel_l2_sac",
    "sac_tawss_rel_error",
    "osi_mae",
    "tap_rel_l2",
    "wss_mean_rel_l2",
)


def shipped_one_member() -> dict:
    """The shipped model's training options (config/train_shipped.yaml) as one member, seed 0, on one thread."""
    import yaml

    return {**yaml.safe_load((REPO / "config" / "train_shipped.yaml").read_text()), "threads": 1, "ensemble": 1,
            "seed": 0}  # fmt: skip


def trained_model(folder: Path, manifest: str, options: dict) -> Path:
    """``folder/hemodynamics.pt`` trained with the TrainConfig ``options`` (no ablation) unless it exists."""
    import yaml

    model = folder / "hemodynamics.pt"
    if not model.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yaml").write_text(yaml.safe_dump(options))
        subprocess.run(
            [sys.executable, "-m", "iahemo", "train", "--manifest", manifest, "--config", str(folder / "config.yaml"),
             "--no-ablation", "-q", "-o", str(folder)],
            check=True,
        )  # fmt: skip
    return model


def trained_side_by_side(manifest: str | dict[str, str], options: dict[str, dict], out: Path) -> dict[str, Path]:
    """Every variant's model (``out/<name>``), the missing ones trained at the same time, one process each, on
    ``manifest`` (or each on its own: variant -> manifest)."""
    from concurrent.futures import ThreadPoolExecutor

    manifests = manifest if isinstance(manifest, dict) else dict.fromkeys(options, manifest)
    with ThreadPoolExecutor(len(options)) as pool:
        jobs = {v: pool.submit(trained_model, Path(out) / v, manifests[v], o) for v, o in options.items()}
        return {v: job.result() for v, job in jobs.items()}


def scored(model_path: Path, clouds, splits=("val", "test"), mirror_views: bool | None = None) -> dict:
    """A one-member variant's training summary and, per split, the evaluation's headline and run count
    (``mirror_views`` given: answering with or without the mirror image, whatever the model's own setting)."""
    from dataclasses import replace

    from surrogate.artifact import load_model
    from surrogate.evaluate import evaluate, headline
    from surrogate.pointnet import n_parameters

    model = load_model(model_path)
    if mirror_views is not None:
        model = replace(model, mirror_views=mirror_views)

    member = model.training["members"][0]
    row = {"best_epoch": member["best_epoch"], "best_val_loss": member["best_val"],
           "parameters": n_parameters(model.members[0]),
           "train_minutes": round(model.training["train_seconds"] / 60, 1)}  # fmt: skip
    for split in splits:
        result = evaluate(model, clouds, split=split, turned=False)
        row[split] = headline(result)
        row[f"{split}_runs"] = result["n_samples"]
    return row


def variants_benchmark(
    name: str, base: dict, variants: dict[str, dict], scores: tuple[str, ...], models_dir: str
) -> None:
    """The command line of a one-member-per-variant benchmark: ``--manifest``, ``--out`` (the variants' model
    folders, default ``work/<models_dir>``) and ``--variants``; every variant is ``base`` plus its own options,
    trained side by side unless present, scored on val and test (``scores`` of the headline; a mirror-trained one
    also without its mirror views, ``one_view``) into ``benchmarks/results/<name>.json``."""
    import argparse

    from machine import machine

    from cfdgen.atomic import write_json
    from surrogate.data import load_clouds

    repo = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", default=str(repo / "data" / "dataset_draft" / "manifest.json"))
    ap.add_argument("--out", default=str(repo / "work" / models_dir))
    ap.add_argument("--variants", nargs="+", default=list(variants), choices=list(variants))
    args = ap.parse_args()

    options = {v: {**base, **variants[v]} for v in args.variants}
    models = trained_side_by_side(args.manifest, options, args.out)
    clouds = load_clouds(args.manifest)
    rows = {}
    for v, path in models.items():
        mirrored = bool(options[v].get("augment_mirror"))  # such a model answers with its mirror image too
        r = scored(path, clouds, mirror_views=mirrored)
        row = {"options": options[v], "best_epoch": r["best_epoch"], "best_val_loss": r["best_val_loss"],
               "parameters": r["parameters"], "train_minutes": r["train_minutes"]}  # fmt: skip
        for split in ("val", "test"):
            row[split] = {k: r[split].get(k) for k in scores}
            row[f"{split}_runs"] = r[f"{split}_runs"]
        if mirrored:  # what the mirror views add
            one = scored(path, clouds, mirror_views=False)
            row["one_view"] = {s: {k: one[s][k] for k in ("tawss_rel_l2", "osi_mae")} for s in ("val", "test")}
        rows[v] = row
        print(f"{v}: val {row['val']}, test {row['test']}", flush=True)
    out = repo / "benchmarks" / "results" / f"{name}.json"
    write_json(out, {"benchmark": name, "manifest": args.manifest, "variants": rows, "machine": machine()})
    print(out)
