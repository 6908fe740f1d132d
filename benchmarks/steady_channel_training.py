"""The surrogate with a steady CFD solve as channel 3, against the same surrogate with the default channel 3, on the
same runs.

    .venv/bin/python benchmarks/steady_channel.py --datasets -o work/steadych   # the two manifests first
    .venv/bin/python benchmarks/steady_channel_training.py [--data work/steadych] [--variants ...]

One member of the shipped options each (benchmarks/variants.py), trained side by side on one thread each:
``default_channel`` (Poiseuille-Dean, as committed), ``steady_channel`` (the run's steady simpleFoam wall shear in
its place) and ``steady_residual`` (the same, TAWSS learned as log(TAWSS / |τ_steady|): the network corrects the
steady solution instead of rebuilding it). Scored on the runs of the validation and test geometries that have a
steady field; the evaluation's "channel 3 alone" baseline is then the steady solution's own error. Writes
benchmarks/results/steady_channel_training.json.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402
from variants import SCORES, scored, shipped_one_member, trained_side_by_side  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# channel 3 alone is the steady solution's own error for the steady variants
BASELINES = (
    "baseline_lofi_tawss_rel_l2",
    "baseline_nearest_neighbour_tawss_rel_l2",
    "baseline_mean_field_tawss_rel_l2",
)
VARIANTS = {
    "default_channel": ("baseline", {}),
    "steady_channel": ("dataset", {}),
    "steady_residual": ("dataset", {"lofi_residual": True}),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(REPO / "work" / "steadych"))
    ap.add_argument("--out", default=str(REPO / "work" / "steadych_models"))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = ap.parse_args()

    from cfdgen.atomic import write_json
    from surrogate.data import load_clouds, load_manifest

    data = Path(args.data)
    manifests = {v: str(data / VARIANTS[v][0] / "manifest.json") for v in args.variants}
    missing = sorted({m for m in manifests.values() if not Path(m).is_file()})
    if missing:
        ap.error(f"no manifest {missing[0]}: run benchmarks/steady_channel.py --datasets -o {data} first")
    options = {v: shipped_one_member() | VARIANTS[v][1] for v in args.variants}
    models = trained_side_by_side(manifests, options, Path(args.out))
    rows = {}
    for v, path in models.items():
        clouds = load_clouds(manifests[v])
        r = scored(path, clouds)
        row = {"manifest": manifests[v], "options": options[v]} | {k: r[k] for k in ("best_epoch", "train_minutes")}
        for split in ("val", "test"):
            row[split] = {k: r[split].get(k) for k in (*SCORES, *BASELINES)}
            row[f"{split}_runs"] = r[f"{split}_runs"]
        rows[v] = row
        print(f"{v}: val {row['val']['tawss_rel_l2']:.4f} test {row['test']['tawss_rel_l2']:.4f}", flush=True)
    _, entries = load_manifest(manifests[args.variants[0]])
    counts = {s: len({e["geometry_hash"] for e in entries if e["split"] == s}) for s in ("train", "val", "test")}
    write_json(REPO / "benchmarks" / "results" / "steady_channel_training.json", {
        "benchmark": "steady_channel_training",
        "geometries": counts,
        "runs": {s: sum(e["split"] == s for e in entries) for s in ("train", "val", "test")},
        "variants": rows,
        "machine": machine(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
