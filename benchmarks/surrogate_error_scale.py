"""Where the shipped surrogate's TAWSS error sits: a level per run, a smooth pattern, or point noise?

    .venv/bin/python benchmarks/surrogate_error_scale.py [--model surrogate/models/hemodynamics.pt]
        [--manifest data/dataset_draft/manifest.json] [--split test]

Per held-out run: ε (relative L2); ε after the best single scale factor of the prediction (a level error per run
would vanish); and, for k = 16 / 64 / 256 nearest points, ε of the two fields each averaged over every point's k
nearest (``smooth_k``: the error at that scale and above) and of what the averages leave (``rest_k``: the error
below it). Means over runs, and the runs by ε, are written to benchmarks/results/surrogate_error_scale.json.
What this showed motivated benchmarks/surrogate_reach.py (README "Tried, measured, not kept").
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NEIGHBOURS = (16, 64, 256)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(REPO / "surrogate" / "models" / "hemodynamics.pt"))
    ap.add_argument("--manifest", default=str(REPO / "data" / "dataset_draft" / "manifest.json"))
    ap.add_argument("--split", default="test", choices=["val", "test"])
    args = ap.parse_args()

    import numpy as np
    from scipy.spatial import cKDTree

    from cfdgen.atomic import write_json
    from surrogate.artifact import load_model
    from surrogate.data import TAWSS, load_clouds
    from surrogate.metrics import rel_l2, summarise
    from surrogate.predict import predict_cloud

    model = load_model(args.model)
    runs = []
    for c in (c for c in load_clouds(args.manifest) if c.split == args.split):
        p, t = predict_cloud(model, c).mean[TAWSS], c.fields[TAWSS]
        scale = float(p @ t / (p @ p))
        r = {"case": c.case_id, "bc_sample": c.bc_sample, "eps": rel_l2(p, t), "eps_best_scale": rel_l2(scale * p, t),
             "best_scale": scale}  # fmt: skip
        tree = cKDTree(c.points)
        for k in NEIGHBOURS:
            nb = tree.query(c.points, k=k)[1]
            ps, ts = p[nb].mean(1), t[nb].mean(1)
            r[f"smooth_{k}"] = float(np.linalg.norm(ps - ts) / np.linalg.norm(t))
            r[f"rest_{k}"] = float(np.linalg.norm((p - ps) - (t - ts)) / np.linalg.norm(t))
        runs.append(r)
    means = {k: v["mean"] for k, v in summarise([{k: v for k, v in r.items() if k not in ("case", "bc_sample")}
                                                 for r in runs]).items()}  # fmt: skip
    out = REPO / "benchmarks" / "results" / "surrogate_error_scale.json"
    write_json(out, {"benchmark": "surrogate_error_scale", "model": args.model, "split": args.split,
                     "runs": len(runs), "mean": means, "per_run": sorted(runs, key=lambda r: -r["eps"]),
                     "machine": machine()})  # fmt: skip
    print(means)
    print(out)


if __name__ == "__main__":
    main()
