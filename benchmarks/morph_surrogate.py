"""The learned morphology measurement against the geometric one, on held-out synthetic geometries.

    .venv/bin/python benchmarks/morph_surrogate.py --cohort results/draft/synthetic [--extra cases] [--epochs 200]

Cases (folders with surface.vtp + morphology_truth.json) are split by geometry with the dataset's rule
(cfdgen.dataset.assign_splits, 70/15/15; val joins train here). Trains surrogate/morph_net.py on the train
cases, measures per-parameter errors (relative for lengths and ratios, absolute for indices and angles, as in
morph_accuracy.py) and the time per case on the test cases, and — on the same test cases — the geometric
measurement's errors and time. Writes benchmarks/results/morph_surrogate.json and the model to
surrogate/models/morphology.pt.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohort", nargs="+", default=[str(REPO / "results" / "draft" / "synthetic"), str(REPO / "cases")])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--model", default=str(REPO / "surrogate" / "models" / "morphology.pt"))
    args = ap.parse_args()

    from cfdgen.atomic import write_json
    from cfdgen.dataset import assign_splits
    from cfdgen.morph import measure
    from surrogate.morph_net import (
        MorphTrainConfig,
        evaluate_morph_model,
        relative_errors,
        save_morph_model,
        train_morph_model,
    )

    folders = sorted(d for root in args.cohort for d in Path(root).iterdir() if (d / "morphology_truth.json").is_file())
    split = assign_splits([d.name for d in folders], (0.7, 0.15, 0.15), seed=0)
    train = [d for d in folders if split[d.name] != "test"]
    test = [d for d in folders if split[d.name] == "test"]
    truth = {d: json.loads((d / "morphology_truth.json").read_text()) for d in folders}
    t0 = time.perf_counter()
    model = train_morph_model(
        [d / "surface.vtp" for d in train],
        [truth[d] for d in train],
        MorphTrainConfig(epochs=args.epochs),
        progress=True,
    )
    train_s = time.perf_counter() - t0
    learned = evaluate_morph_model(model, [d / "surface.vtp" for d in test], [truth[d] for d in test])

    rows, times = [], []
    for d in test:
        t0 = time.perf_counter()
        values = measure(d / "surface.vtp").values
        times.append(time.perf_counter() - t0)
        rows.append(relative_errors(values, truth[d], model.keys))
    geometric = {
        "n": len(rows),
        "median": {k: float(np.median([r[k] for r in rows])) for k in model.keys},
        "p90": {k: float(np.percentile([r[k] for r in rows], 90)) for k in model.keys},
        "seconds_per_case_median": float(np.median(times)),
    }
    model.metrics = {"split": "test", "learned": learned, "geometric": geometric}
    save_morph_model(model, args.model)
    result = {
        "benchmark": "morph_surrogate",
        "note": "relative errors for lengths and ratios, absolute for indices (1) and angles (deg); synthetic cases",
        "n_train": len(train),
        "n_test": len(test),
        "test_cases": [d.name for d in test],
        "epochs": args.epochs,
        "train_seconds": round(train_s, 1),
        "learned": learned,
        "geometric": geometric,
        "model": str(Path(args.model).relative_to(REPO)) if Path(args.model).is_relative_to(REPO) else args.model,
        "machine": machine(),
    }
    write_json(REPO / "benchmarks" / "results" / "morph_surrogate.json", result)
    for k in ("size", "aspect_ratio", "size_ratio", "neck_diameter", "nsi"):
        print(f"{k:>14}: learned {learned['median'][k]:.3f}  geometric {geometric['median'][k]:.3f}")
    print(
        f"time per case: learned {learned['seconds_per_case_median']:.2f} s, "
        f"geometric {geometric['seconds_per_case_median']:.2f} s"
    )


if __name__ == "__main__":
    main()
