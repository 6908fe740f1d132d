"""How stable the CFD-derived high-risk region labels are: the ceiling a learned region model is judged against.

    .venv/bin/python benchmarks/region_label_stability.py [--manifest data/dataset_draft/manifest.json] [--split test]

The labels (surrogate.regions.label_regions) threshold TAWSS against the parent-artery mean and OSI, and take the
sign of a streamwise gradient, point by point. A model whose fields are close but not equal to the CFD's moves
points across those thresholds. For every run of the split, the CFD labels are compared (IoU per category) with
the labels of the same CFD fields after:
- a point-wise multiplicative error of σ on TAWSS (log-normal) and 0.1 σ absolute on OSI, σ = 5, 10, 20 %, i.e.
  fields about that far from the CFD in relative L2 (what a surrogate with that ε would have at best if its error
  were unstructured);
- a 9-nearest-neighbour average (a smooth field a network could represent);
- another boundary-condition draw of the same geometry (run against run, same points): how much the labels move
  with the measured inputs alone.
Writes benchmarks/results/region_label_stability.json.
"""

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIGMAS = (0.05, 0.10, 0.20)
SMOOTH_NEIGHBOURS = 9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", default=str(REPO / "data" / "dataset_draft" / "manifest.json"))
    ap.add_argument("--split", default="test")
    ap.add_argument("-o", "--out", default=str(REPO / "benchmarks" / "results" / "region_label_stability.json"))
    args = ap.parse_args()

    from scipy.spatial import cKDTree

    from cfdgen.atomic import write_json
    from surrogate.data import load_clouds
    from surrogate.metrics import parent_diameter
    from surrogate.regions import CATEGORIES, iou, label_regions

    if not Path(args.manifest).is_file():
        ap.error(f"--manifest: no such file: {args.manifest}")
    clouds = [c for c in load_clouds(args.manifest) if c.split == args.split]
    if not clouds:
        ap.error(f"--split: the manifest has no {args.split!r} runs (train, val or test)")
    rng = np.random.default_rng(0)
    scores: dict[str, list[float]] = defaultdict(list)
    by_geometry: dict[str, list[np.ndarray]] = defaultdict(list)

    def labels(c, tawss, osi, wss):
        return label_regions(c.points, c.sac, tawss, osi, wss, parent_diameter(c.globals_, c.global_names))

    def record(name: str, pred: np.ndarray, truth: np.ndarray) -> None:
        for k, category in enumerate(CATEGORIES):
            v = iou(pred, truth, k) if k else None
            if v is not None:
                scores[f"{name}/{category}"].append(v)

    for c in clouds:
        t, o, w = c.fields["tawss"], c.fields["osi"], c.fields["wss_mean"]
        truth = labels(c, t, o, w)
        by_geometry[c.geometry].append(truth)
        for s in SIGMAS:
            noisy_t = t * np.exp(rng.normal(0.0, s, len(t)))
            noisy_o = np.clip(o + rng.normal(0.0, 0.1 * s, len(o)), 0.0, 0.5)
            record(f"pointwise_error_{round(100 * s)}pct", labels(c, noisy_t, noisy_o, w), truth)
        _, idx = cKDTree(c.points).query(c.points, k=SMOOTH_NEIGHBOURS)
        record(f"smoothed_{SMOOTH_NEIGHBOURS}nn", labels(c, t[idx].mean(1), o[idx].mean(1), w[idx].mean(1)), truth)
    for runs in by_geometry.values():
        for i in range(len(runs)):
            for j in range(i + 1, len(runs)):
                record("other_bc_draw", runs[i], runs[j])

    result = {
        "benchmark": "region_label_stability",
        "manifest": str(
            Path(args.manifest).relative_to(REPO) if Path(args.manifest).is_relative_to(REPO) else args.manifest
        ),
        "split": args.split,
        "runs": len(clouds),
        "geometries": len(by_geometry),
        "iou_mean": {k: round(float(np.mean(v)), 3) for k, v in sorted(scores.items())},
        "n_compared": {k: len(v) for k, v in sorted(scores.items())},
        "machine": machine(),
    }
    write_json(args.out, result)
    for k, v in result["iou_mean"].items():
        print(f"{k:45s} IoU {v:.3f}  (n={result['n_compared'][k]})")


if __name__ == "__main__":
    main()
