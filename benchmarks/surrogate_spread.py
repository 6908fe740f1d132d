"""How honest is the surrogate's spread (``<NAME>_std``)? The ensemble's own spread and the calibrated one
(``iahemo calibrate-spread``: one factor per field fitted on the validation runs, stored in the model) against
the actual error of every held-out run.

    .venv/bin/python benchmarks/surrogate_spread.py [--model surrogate/models/hemodynamics.pt]
        [--manifest data/dataset_draft/manifest.json]

Per split and field: the shares of the points whose error lies within one and two spreads (a standard deviation
of a normal error: 0.68, 0.95), mean spread / mean error (surrogate.spread.spread_scores; means over runs), and
for TAWSS the rank correlation over runs between the mean spread and ε (does a larger spread mark a worse run?).
Writes benchmarks/results/surrogate_spread.json.
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(REPO / "surrogate" / "models" / "hemodynamics.pt"))
    ap.add_argument("--manifest", default=str(REPO / "data" / "dataset_draft" / "manifest.json"))
    args = ap.parse_args()

    import numpy as np
    from scipy.stats import spearmanr

    from cfdgen.atomic import write_json
    from surrogate import spread
    from surrogate.artifact import load_model
    from surrogate.data import TAWSS, load_clouds
    from surrogate.metrics import rel_l2, summarise
    from surrogate.predict import predict_cloud

    model = load_model(args.model)
    if not model.spread_scale:
        sys.exit(f"{args.model} carries no spread factors: run iahemo calibrate-spread first")
    clouds = load_clouds(args.manifest)
    result = {"benchmark": "surrogate_spread", "model": args.model, "manifest": args.manifest,
              "spread_scale": model.spread_scale}  # fmt: skip
    for split in ("val", "test"):
        held = [c for c in clouds if c.split == split]
        preds = [predict_cloud(replace(model, spread_scale={}), c) for c in held]
        row = {"runs": len(held)}
        for name, scale in (("ensemble", {}), ("calibrated", model.spread_scale)):
            scores = [
                {k: spread.spread_scores(v * scale.get(k, 1.0), p.mean[k], c.fields[k]) for k, v in p.std.items()}
                for p, c in zip(preds, held, strict=True)
            ]
            row[name] = {k: {m: s["mean"] for m, s in v.items()} for k, v in summarise(scores).items()}
        eps = [rel_l2(p.mean[TAWSS], c.fields[TAWSS]) for p, c in zip(preds, held, strict=True)]
        rho = spearmanr([float(np.mean(p.std[TAWSS])) for p in preds], eps).statistic
        row["tawss_spread_rank_correlation_with_eps"] = float(rho)
        result[split] = row
        print(split, row, flush=True)
    result["machine"] = machine()
    out = REPO / "benchmarks" / "results" / "surrogate_spread.json"
    write_json(out, result)
    print(out)


if __name__ == "__main__":
    main()
