"""How fast does the surrogate's error fall with the number of training geometries?

    .venv/bin/python benchmarks/surrogate_data_scaling.py [--manifest data/dataset_draft/manifest.json]
        [--out work/scaling_models] [--fractions 0.25 0.5 1]

Why: TAWSS ε stays near 20 % however the network is changed (README "Tried, measured, not kept"), and every
dataset that grew also changed its held-out runs, so how much more data would buy was never measured on fixed
ones. Here the validation and test runs are the manifest's, unchanged, and the training geometries are nested
subsets of its training split (a seeded permutation: each smaller subset lies inside the larger), every run of a
kept geometry kept. Each kept run is listed 1/fraction times so that every model takes the same number of
optimisation steps per epoch: the learning-rate schedule, the weight average and early stopping run on the same
clock, and a small subset is not simply trained for less. One member per subset with the shipped options
(config/train_shipped.yaml, seed 0, one thread) on the network shipped before session 26 (absolute positions among
the point features), trained side by side with ``iahemo train`` unless its folder holds a model already (the full
set's is surrogate_reach.py's ``baseline``: copy that folder to ``<out>/geometries_<n>`` to reuse it).
Per split, a power law ε = a·N^(−b) is fitted to the TAWSS ε (least squares in log–log) and extrapolated to the
N at which it reaches 10 % — an extrapolation, not a promise; and once more with the data's own floor (~7 %,
benchmarks/draft_mesh_noise.py) taken out in quadrature first (ε² = floor² + (a·N^(−b))²), which bends the curve.
Writes benchmarks/results/surrogate_data_scaling.json.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402
from variants import scored, trained_side_by_side  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# The network shipped until session 26 (absolute positions among the point features), as in surrogate_reach.py's
# baseline, whose one member is the full set's.
BASE = {**yaml.safe_load((REPO / "config" / "train_shipped.yaml").read_text()), "threads": 1, "ensemble": 1, "seed": 0,
        "net": {"absolute_xyz": True}}  # fmt: skip
SCORES = ("tawss_rel_l2", "tawss_rel_l2_off_sac", "tawss_rel_l2_sac", "osi_mae", "tap_rel_l2", "wss_mean_rel_l2")
SUBSET_SEED = 0
TARGET_EPS = 0.10


def nested_geometries(manifest: dict, fraction: float, seed: int = SUBSET_SEED) -> list[str]:
    """The first ``fraction`` of the training geometries in a seeded permutation (sorted first, so the order does
    not depend on the manifest's)."""
    geometries = sorted(manifest["splits"]["train"]["geometries"])
    order = np.random.default_rng(seed).permutation(len(geometries))
    n = max(1, round(fraction * len(geometries)))
    return sorted(geometries[i] for i in order[:n])


def subset_manifest(manifest_path: Path, fraction: float, out: Path) -> tuple[Path, int, int]:
    """A copy of the manifest with the training split cut to a nested subset of its geometries, each kept run
    repeated round(1/fraction) times; absolute paths. Returns its path, the geometries and the distinct runs kept."""
    from cfdgen.atomic import write_json
    from surrogate.data import load_manifest

    manifest, entries = load_manifest(manifest_path)  # entries with absolute paths
    keep = set(nested_geometries(manifest, fraction))
    repeat = max(1, round(1.0 / fraction))
    samples, runs = [], 0
    for s in entries:
        if s["split"] != "train":
            samples.append(s)
        elif s["geometry_hash"] in keep:
            samples += [s] * repeat
            runs += 1
    manifest["samples"] = samples
    manifest["splits"]["train"] = {"geometries": sorted(keep), "n_samples": runs}
    manifest["n_samples"] = len(samples)
    manifest["description"] = (
        f"{manifest.get('description', '')} Training split cut to {len(keep)} geometries ({runs} runs, each listed "
        f"{repeat}×; benchmarks/surrogate_data_scaling.py)."
    ).strip()
    path = out / "manifest.json"
    write_json(path, manifest)
    return path, len(keep), runs


def power_law(n: list[int], eps: list[float], floor: float = 0.0) -> dict:
    """ε² = floor² + (a·N^(−b))²: the learnable part fitted by least squares in log–log, and the N where ε would
    reach TARGET_EPS (None when the floor alone exceeds it or ε does not fall)."""
    learnable = np.sqrt(np.maximum(np.square(eps) - floor**2, 1e-12))
    slope, intercept = np.polyfit(np.log(n), np.log(learnable), 1)
    a, b = float(np.exp(intercept)), float(-slope)
    room = TARGET_EPS**2 - floor**2
    n_at = float((a / np.sqrt(room)) ** (1.0 / b)) if b > 0 and room > 0 else None
    return {"floor": floor, "a": a, "b": b, "n_at_target": n_at}


def data_floor() -> float:
    """TAWSS ε between two draft meshes of one vessel (benchmarks/draft_mesh_noise.py), 0 when not measured."""
    path = REPO / "benchmarks" / "results" / "draft_mesh_noise.json"
    return float(json.loads(path.read_text())["mean"]["tawss_rel_l2"]) if path.is_file() else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", default=str(REPO / "data" / "dataset_draft" / "manifest.json"))
    ap.add_argument("--out", default=str(REPO / "work" / "scaling_models"))
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    args = ap.parse_args()
    if any(not 0 < f <= 1 for f in args.fractions):
        ap.error("fractions must lie in (0, 1]")

    from cfdgen.atomic import write_json
    from cfdgen.errors import IahemoError
    from surrogate.data import load_clouds, load_manifest

    manifest_path, out = Path(args.manifest), Path(args.out)
    try:
        train = load_manifest(manifest_path)[0]["splits"]["train"]
    except IahemoError as exc:
        raise SystemExit(str(exc)) from None
    n_train = len(train["geometries"])
    manifests, sizes = {}, {}
    for f in sorted(args.fractions):
        name = f"geometries_{max(1, round(f * n_train))}"
        if f == 1.0:
            manifests[name], sizes[name] = str(manifest_path), (n_train, train["n_samples"])
        else:
            path, n, runs = subset_manifest(manifest_path, f, out / "manifests" / name)
            manifests[name], sizes[name] = str(path), (n, runs)
    models = trained_side_by_side(manifests, {name: BASE for name in manifests}, out)
    clouds = load_clouds(manifest_path)
    rows = {}
    for name, path in models.items():
        r = scored(path, clouds)
        row = {"geometries": sizes[name][0], "runs": sizes[name][1], "best_epoch": r["best_epoch"],
               "best_val_loss": r["best_val_loss"], "train_minutes": r["train_minutes"]}  # fmt: skip
        for split in ("val", "test"):
            row[split] = {k: r[split].get(k) for k in SCORES}
            row[f"{split}_runs"] = r[f"{split}_runs"]
        rows[name] = row
        print(f"{name}: val {row['val']['tawss_rel_l2']:.4f}, test {row['test']['tawss_rel_l2']:.4f}", flush=True)
    fits = {}
    if len(rows) >= 2:
        n = [row["geometries"] for row in rows.values()]
        floor = data_floor()
        for split in ("val", "test"):
            eps = [row[split]["tawss_rel_l2"] for row in rows.values()]
            fits[split] = power_law(n, eps)
            fits[f"{split}_above_floor"] = power_law(n, eps, floor)
        print(f"TAWSS ε ∝ N^-b: {fits}", flush=True)
    result = {"benchmark": "surrogate_data_scaling", "manifest": args.manifest, "options": BASE,
              "subset_seed": SUBSET_SEED, "variants": rows, "tawss_power_law": fits, "target_eps": TARGET_EPS,
              "machine": machine()}  # fmt: skip
    write_json(REPO / "benchmarks" / "results" / "surrogate_data_scaling.json", result)


if __name__ == "__main__":
    main()
