"""Steady-flow samples of new synthetic geometries, and what each costs: the data side of the steady-pretraining
experiment (benchmarks/steady_pretraining.py).

    .venv/bin/python benchmarks/steady_dataset.py --seed 21 --start 0 --count 150 -o work/steady21 [--workers 2]

Why: the surrogate's error falls by ×0.85 per doubling of training geometries (surrogate_data_scaling.json) and a
pulsatile draft run costs ~2 min of one core, while simpleFoam at the mean inflow converges in seconds on the
same mesh. Each geometry here is a new cohort case (``iahemo synth`` with a seed no other dataset uses, so none of
them is one of the committed dataset's validation or test vessels), meshed at the dataset's draft level, solved
steady at its case's nominal measured BCs (``cfdgen.steady``) and sampled like a dataset run (8,192 points). A case
that fails at any stage is recorded with its one-line reason and skipped. Writes OUT/samples/<case>/sample.h5,
OUT/manifest.json (every sample in the train split) and benchmarks/results/steady_dataset.json (per-stage seconds
per geometry, iterations, failures). Meshes and run folders are deleted once sampled: only the samples are kept.
"""

import argparse
import json
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LEVEL = "draft"
POINTS = 8192


def one_geometry(seed: int, index: int, out: Path) -> dict:
    """synth → mesh → simpleFoam → sample, each stage timed; a failure is returned, not raised."""
    from cfdgen.case import load_case
    from cfdgen.errors import IahemoError
    from cfdgen.post import sample_run
    from cfdgen.prepare import mesh_case
    from cfdgen.simulate import run_boundary_conditions
    from cfdgen.steady import simulate_steady
    from cfdgen.synth.cohort import build_case, case_id, write_case
    from cfdgen.synth.config import SynthConfig

    cid = case_id(seed, index)
    rec: dict = {"case": cid, "seconds": {}}
    work = out / "work" / cid
    stage = "synth"
    try:
        t = time.perf_counter()
        cfg = SynthConfig()
        case_dir = write_case(build_case(seed, index, cfg), out / "cases", cfg)
        rec["seconds"]["synth"] = time.perf_counter() - t
        stage, t = "mesh", time.perf_counter()
        case = load_case(case_dir)
        _, qc = mesh_case(case.surface, work / "mesh", LEVEL, case)
        rec["seconds"]["mesh"], rec["cells"] = time.perf_counter() - t, qc.cells
        stage, t = "solve", time.perf_counter()
        run = simulate_steady(work / "mesh", work / "run", run_boundary_conditions(work / "mesh", case), progress=False)
        rec["seconds"]["solve"], rec["iterations"] = time.perf_counter() - t, run.qc["iterations"]
        if run.status != "converged":
            raise IahemoError(f"simpleFoam {run.status}: {run.reason}")
        stage, t = "sample", time.perf_counter()
        path = sample_run(work / "run", out / "samples" / cid, n_points=POINTS)
        rec["seconds"]["sample"] = time.perf_counter() - t
        prov = json.loads((work / "run" / "run.json").read_text())
        rec |= {"path": str(path.relative_to(out)), "geometry_hash": prov.get("geometry_hash"), "status": "ok"}
    except Exception as exc:  # one line per failed geometry; the rest go on
        rec |= {"status": "failed", "stage": stage, "reason": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rec


def manifest(out: Path, records: list[dict], seed: int) -> dict:
    ok = [r for r in records if r["status"] == "ok"]
    return {
        "format_version": 1,
        "split_rule": "all train: steady-flow samples for pretraining, no geometry of the pulsatile dataset",
        "seed": seed,
        "paths_relative_to": "manifest folder",
        "n_samples": len(ok),
        "n_geometries": len(ok),
        "samples": [
            {
                "path": r["path"],
                "case_id": r["case"],
                "geometry_hash": r["geometry_hash"],
                "bc_sample": "steady",
                "mesh_level": LEVEL,
                "split": "train",
            }
            for r in sorted(ok, key=lambda r: r["case"])
        ],  # fmt: skip
        "description": f"iahemo synth seed {seed}, draft mesh, OpenFOAM simpleFoam (SIMPLEC) at the nominal mean "
        f"inflow, {POINTS:,}-point samples (benchmarks/steady_dataset.py)",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=150)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("-o", "--out", default="work/steady21")
    args = ap.parse_args()

    from cfdgen.atomic import write_json

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    records_path = out / "records.json"
    records = json.loads(records_path.read_text()) if records_path.is_file() else []
    done = {r["case"] for r in records}
    from cfdgen.synth.cohort import case_id

    todo = [i for i in range(args.start, args.start + args.count) if case_id(args.seed, i) not in done]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(one_geometry, args.seed, i, out) for i in todo]
        for k, fut in enumerate(as_completed(futures), 1):
            rec = fut.result()
            records.append(rec)
            write_json(records_path, records)  # a stopped run keeps what it made; started again it goes on
            write_json(out / "manifest.json", manifest(out, records, args.seed))
            secs = " ".join(f"{s} {v:.1f}" for s, v in rec["seconds"].items())
            print(f"[{k}/{len(todo)}] {rec['case']} {rec['status']} {secs} {rec.get('reason', '')}", flush=True)
    ok = [r for r in records if r["status"] == "ok"]
    stages = ("synth", "mesh", "solve", "sample")
    median = {s: float(np.median([r["seconds"][s] for r in ok])) for s in stages} if ok else {}
    write_json(REPO / "benchmarks" / "results" / "steady_dataset.json", {
        "benchmark": "steady_dataset",
        "seed": args.seed,
        "geometries_tried": len(records),
        "geometries_ok": len(ok),
        "failed": [{k: r.get(k) for k in ("case", "stage", "reason")} for r in records if r["status"] != "ok"],
        "median_seconds_per_geometry": median,
        "median_total_seconds_per_geometry": float(np.median([sum(r["seconds"].values()) for r in ok])) if ok else None,
        "median_iterations": float(np.median([r["iterations"] for r in ok])) if ok else None,
        "median_cells": float(np.median([r["cells"] for r in ok])) if ok else None,
        "workers": args.workers,
        "geometries": [
            {k: r.get(k) for k in ("case", "cells", "iterations")} | {"seconds": {k: round(v, 1) for k, v in
                                                                               r["seconds"].items()}}
            for r in ok
        ],  # fmt: skip
        "wall_seconds_this_call": round(time.perf_counter() - t0, 1),
        "machine": machine(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
