"""Does the moving average of the weights (TrainConfig.ema) help the surrogate, and how long should it be?

    .venv/bin/python benchmarks/surrogate_ema.py [--manifest data/dataset_draft/manifest.json]
        [--out work/ema_models] [--ema 0 0.995 0.999]

One member per value (seed 0, the shipped model's other options, one thread each, all trained side by side with
``iahemo train`` unless their folder holds a model already), each scored by TAWSS ε on the validation geometries
(where the value is chosen) and on the test geometries. Writes benchmarks/results/surrogate_ema.json.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402
from variants import scored, trained_side_by_side  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OPTIONS = {"epochs": 120, "patience": 40, "threads": 1, "ensemble": 1, "seed": 0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", default=str(REPO / "data" / "dataset_draft" / "manifest.json"))
    ap.add_argument("--out", default=str(REPO / "work" / "ema_models"))
    ap.add_argument("--ema", type=float, nargs="+", default=[0.0, 0.995, 0.999])
    args = ap.parse_args()

    from cfdgen.atomic import write_json
    from surrogate.data import load_clouds

    names = {f"ema_{ema:g}": ema for ema in args.ema}
    models = trained_side_by_side(args.manifest, {n: {**OPTIONS, "ema": e} for n, e in names.items()}, args.out)
    clouds = load_clouds(args.manifest)
    variants = {}
    for name, ema in names.items():
        r = scored(models[name], clouds)
        row = {k: r[k] for k in ("best_epoch", "best_val_loss", "train_minutes")}
        for split in ("val", "test"):
            row[f"{split}_tawss_rel_l2"] = r[split]["tawss_rel_l2"]
            row[f"{split}_runs"] = r[f"{split}_runs"]
        variants[f"{ema:g}"] = row
        print(f"ema {ema:g}: {row}", flush=True)
    out = REPO / "benchmarks" / "results" / "surrogate_ema.json"
    write_json(out, {"benchmark": "surrogate_ema", "manifest": args.manifest, "options": OPTIONS,
                     "variants": variants, "machine": machine()})  # fmt: skip
    print(out)


if __name__ == "__main__":
    main()
