"""The surrogate against its own CFD on the shared real surface (issue: "C0015 against its own CFD run").

    .venv/bin/python benchmarks/surrogate_realcase.py [--surface ../shared/realdata/vampy_aneurisk_C0015/artery.vtp]
        [--work work/c0015] [--model surrogate/models/hemodynamics.pt] [--manifest data/dataset_draft/manifest.json]

Runs the dataset's CFD chain on the surface when ``WORK/sample_draft/sample.h5`` is missing (iahemo mesh --level
draft, simulate 1.5 cycles at Courant 5 with 2 outer correctors, post, sample 8,192 points; no case file, so
population BCs), then scores the surrogate on that sample exactly as the held-out evaluation does, with both
baselines, and records the out-of-distribution verdict. Writes benchmarks/results/surrogate_realcase.json and a
side-by-side map (CFD, surrogate, error). The surface never enters the repository or the dataset.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "realdata" / "vampy_aneurisk_C0015" / "artery.vtp"


def run_cfd(surface: Path, work: Path) -> Path:
    """The dataset's draft-level chain through the CLI, skipping steps whose product exists; the sample's path."""
    iahemo = str(REPO / ".venv" / "bin" / "iahemo")
    mesh, run, sample = work / "mesh_draft", work / "run_draft", work / "sample_draft"
    steps = [  # (product, arguments)
        (mesh, ["mesh", str(surface), "--level", "draft", "-o", str(mesh)]),
        (run, ["simulate", str(mesh), "--cycles", "1.5", "--max-co", "5", "--n-outer", "2", "-q", "-o", str(run)]),
        (run / "post", ["post", str(run)]),
        (sample, ["sample", str(run), "--points", "8192", "-o", str(sample)]),
    ]
    for product, args in steps:
        if not product.exists():
            subprocess.run([iahemo, *args], check=True)
    return sample / "sample.h5"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--surface", default=str(REAL))
    ap.add_argument("--work", default=str(REPO / "work" / "c0015"))
    ap.add_argument("--model", default=str(REPO / "surrogate" / "models" / "hemodynamics.pt"))
    ap.add_argument("--manifest", default=str(REPO / "data" / "dataset_draft" / "manifest.json"))
    args = ap.parse_args()
    surface, work = Path(args.surface), Path(args.work)
    if not surface.is_file():
        raise SystemExit(f"{surface} is absent (../shared/realdata): nothing to compare")

    from cfdgen.atomic import write_json
    from surrogate.artifact import load_model
    from surrogate.data import load_clouds, read_cloud
    from surrogate.evaluate import evaluate, headline
    from surrogate.predict import ood_verdict, predict_arrays

    sample = run_cfd(surface, work)
    model = load_model(args.model)
    real = read_cloud(sample, split="real", geometry=surface.stem, bc_sample="population")
    train = [c for c in load_clouds(args.manifest) if c.split == "train"]
    maps = REPO / "benchmarks" / "results" / "surrogate_realcase"
    result = evaluate(model, [*train, real], split="real", maps=maps)
    p = predict_arrays(model, real.points, real.normals, real.lofi, real.globals_, real.global_names)
    verdict = ood_verdict(model, real.globals_, real.global_names, p.latent)
    run_qc = json.loads((work / "run_draft" / "qc.json").read_text())
    qc = json.loads((work / "mesh_draft" / "qc.json").read_text())
    out = {
        "benchmark": "surrogate_realcase",
        "surface": str(surface.relative_to(REPO.parent)) if surface.is_relative_to(REPO.parent) else str(surface),
        "cfd": {
            "mesh_level": qc["level"],
            "cells": qc["cells"],
            "status": run_qc["status"],
            "wall_s": run_qc.get("wall_time_s"),
        },
        "sac_detected": bool(real.sac.any()),
        "model": str(Path(args.model).relative_to(REPO)) if Path(args.model).is_relative_to(REPO) else args.model,
        "headline": headline(result),
        "summary": result["summary"],
        "out_of_distribution": verdict["out_of_distribution"],
        "ood": verdict,
        "maps": [str(Path(m).relative_to(REPO)) for m in result.get("maps", [])],
        "machine": machine(),
    }
    write_json(REPO / "benchmarks" / "results" / "surrogate_realcase.json", json.loads(json.dumps(out, default=float)))
    h = out["headline"]
    print(
        f"{surface.name}: TAWSS eps {h['tawss_rel_l2']:.1%} (mean field {h['baseline_mean_field_tawss_rel_l2']:.1%}, "
        f"nearest neighbour {h['baseline_nearest_neighbour_tawss_rel_l2']:.1%}), OSI MAE {h['osi_mae']:.4f}, "
        f"out of distribution: {verdict['out_of_distribution']}"
    )


if __name__ == "__main__":
    main()
