"""Do cheap steady-flow runs of new geometries lower the surrogate's error on pulsatile held-out geometries?

    .venv/bin/python benchmarks/steady_pretraining.py [--steady work/steady21/manifest.json]
        [--manifest data/dataset_draft/manifest.json] [--out work/steady_models] [--variants ...]

Why: the surrogate's error is limited by the number of training geometries (×0.85 per doubling,
benchmarks/surrogate_data_scaling.py), a pulsatile draft run costs ~2 min of one core, and a steady solve at the
mean inflow ~10 s on the same mesh (benchmarks/steady_dataset.py), with its wall shear within ~6–10 % of the
pulsatile TAWSS (benchmarks/steady_vs_pulsatile.py). Steady runs need no special treatment in training: they are
runs whose BC vector says pulsatility 0 and no harmonics, and whose true OSI is 0 — the network learns the
pulsatile dependence from the pulsatile runs. Variants, each the shipped options (config/train_shipped.yaml) as one
member on one thread:

- ``pulsatile_only`` — the committed dataset alone (the baseline; seed 0 is surrogate_reach.json's
  ``local_shape_only``, the same options, reused when its model is copied into OUT/pulsatile_only);
- ``with_steady`` — the committed dataset plus the steady samples as training runs, with epochs and patience
  scaled down so that the network takes as many steps as the baseline (more data, not more compute);
- ``*_seed1`` — the same with seed 1: how far two seeds of one variant differ.

Validation (where the choice is made) and test are the committed dataset's pulsatile runs only. Writes
benchmarks/results/steady_pretraining.json.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402
from variants import SCORES, scored, shipped_one_member, trained_side_by_side  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BASE = shipped_one_member()
VARIANTS = ("pulsatile_only", "with_steady", "with_steady_seed1", "pulsatile_only_seed1")


def merged_manifest(pulsatile: str, steady: str, out: Path) -> tuple[Path, int, int]:
    """The pulsatile manifest's runs (their own splits) and every steady run as training data, with absolute
    paths; the numbers of pulsatile and steady training runs."""
    from cfdgen.atomic import write_json
    from surrogate.data import load_manifest

    manifest, runs = load_manifest(pulsatile)
    steady_manifest, extra = load_manifest(steady)
    hashes = {r["geometry_hash"] for r in runs}
    shared = sorted({r["case_id"] for r in extra if r["geometry_hash"] in hashes})
    if shared:  # a steady run of a validation or test vessel would leak its answer into training
        raise SystemExit(f"{steady}: geometries also in {pulsatile}: {', '.join(shared[:5])}")
    merged = {**manifest, "paths_relative_to": "absolute", "samples": runs + [{**r, "split": "train"} for r in extra]}
    merged["n_samples"] = len(merged["samples"])
    merged["description"] = f"{manifest.get('description', '')} + {steady_manifest.get('description', '')}"
    path = out / "manifest_with_steady.json"
    write_json(path, merged)
    return path, sum(r["split"] == "train" for r in runs), len(extra)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", default=str(REPO / "data" / "dataset_draft" / "manifest.json"))
    ap.add_argument("--steady", default=str(REPO / "work" / "steady21" / "manifest.json"))
    ap.add_argument("--out", default=str(REPO / "work" / "steady_models"))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS[:3]), choices=VARIANTS)
    args = ap.parse_args()

    from cfdgen.atomic import write_json
    from cfdgen.errors import IahemoError
    from surrogate.data import load_clouds

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        merged, n_pulsatile, n_steady = merged_manifest(args.manifest, args.steady, out)
    except IahemoError as exc:
        raise SystemExit(str(exc)) from None
    scale = n_pulsatile / (n_pulsatile + n_steady)  # the same number of steps as the baseline
    same_steps = {"epochs": round(BASE["epochs"] * scale), "patience": round(BASE["patience"] * scale)}
    options, manifests = {}, {}
    for v in args.variants:
        seed = {"seed": 1} if v.endswith("_seed1") else {}
        steady = v.startswith("with_steady")
        options[v] = {**BASE, **(same_steps if steady else {}), **seed}
        manifests[v] = str(merged if steady else args.manifest)
    models = trained_side_by_side(manifests, options, out)
    clouds = load_clouds(args.manifest)
    rows = {}
    for v, path in models.items():
        r = scored(path, clouds)
        rows[v] = {"options": options[v], "manifest": manifests[v], **{k: r[k] for k in (
            "best_epoch", "best_val_loss", "train_minutes", "val_runs", "test_runs")}}  # fmt: skip
        for split in ("val", "test"):
            rows[v][split] = {k: r[split].get(k) for k in SCORES}
        print(f"{v}: val {rows[v]['val']}, test {rows[v]['test']}", flush=True)
    write_json(REPO / "benchmarks" / "results" / "steady_pretraining.json", {
        "benchmark": "steady_pretraining",
        "manifest": args.manifest,
        "steady_manifest": args.steady,
        "pulsatile_training_runs": n_pulsatile,
        "steady_training_runs": n_steady,
        "variants": rows,
        "machine": machine(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
