"""How far two draft meshes of one vessel disagree: the part of the committed dataset no surrogate can learn.

    .venv/bin/python benchmarks/draft_mesh_noise.py syn11_099 syn11_103 [--factor 1.05] [--config config/dataset.yaml]

For each case with a finished dataset run (the config's results_dir/<case>/<level>/uq_s0000 and its sample), the
same surface is meshed again at the config's level with every cell size × ``factor`` (the same resolution, with
the cells falling elsewhere), the same BC sample is run with the same solver settings, and its wall fields are
read at the dataset sample's points (``cfdgen.pointcloud.fields_at``): TAWSS ε (whole wall, on and off the sac),
mean-WSS vector ε and OSI MAE against the sample the surrogate was trained on. A surrogate trained on these runs
cannot be closer to them than they are to each other. Writes benchmarks/results/draft_mesh_noise.json.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyvista as pv
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

from cfdgen.atomic import write_json  # noqa: E402
from cfdgen.case import load_case  # noqa: E402
from cfdgen.mesh import MESH_LEVELS  # noqa: E402
from cfdgen.pointcloud import fields_at, read_sample  # noqa: E402
from cfdgen.prepare import mesh_case  # noqa: E402
from surrogate import metrics  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = "s0000"


def simulate_options(sim: dict) -> list[str]:
    """The workflow's simulate options (workflow/rules/simulate.smk) from the config's simulate section."""
    time_opt = (
        ["--end-time", str(sim["end_time"])] if sim.get("end_time") is not None else ["--cycles", str(sim["cycles"])]
    )
    return time_opt + [
        "--max-co", str(sim.get("max_co", 0.8)),
        "--n-outer", str(sim.get("n_outer", 1)),
        "--interpolation", str(sim["interpolation"]),
        "--np", "1",
    ]  # fmt: skip


def compare(reference_sample: Path, wall: pv.PolyData) -> dict:
    s = read_sample(reference_sample)
    other = fields_at(wall, s.cloud.points, ["tawss", "wss_mean", "osi"])
    sac = np.asarray(s.cloud.sac, dtype=bool)
    tawss, ref = other["tawss"], s.cloud.fields["tawss"]
    return {
        "tawss_rel_l2": metrics.rel_l2(tawss, ref),
        "tawss_rel_l2_sac": metrics.rel_l2(tawss[sac], ref[sac]) if sac.any() else None,
        "tawss_rel_l2_off_sac": metrics.rel_l2(tawss[~sac], ref[~sac]),
        "wall_mean_tawss_change": float(tawss.mean() / ref.mean() - 1),
        "wss_mean_rel_l2": metrics.rel_l2(other["wss_mean"], s.cloud.fields["wss_mean"]),
        "osi_mae": metrics.mae(other["osi"], s.cloud.fields["osi"]),
        "n_points": len(ref),
    }


def one_case(case_id: str, cfg: dict, factor: float, work: Path) -> dict:
    level = cfg["mesh"]["level"]
    base = REPO / cfg["results_dir"] / case_id / level
    reference = base / "samples" / f"uq_{SAMPLE}" / "sample.h5"
    if not reference.is_file():
        raise SystemExit(f"{case_id}: no dataset sample at {reference}; run the workflow for it first")
    case = load_case(REPO / cfg["cases_dir"] / case_id)
    lvl = MESH_LEVELS[level]
    other = replace(
        lvl, name=f"{level}x{factor:g}", size_factor=lvl.size_factor * factor, wall_factor=lvl.wall_factor * factor
    )
    t0 = time.perf_counter()
    _, qc = mesh_case(case.surface, work / "mesh", other, case)
    mesh_s = time.perf_counter() - t0
    run = work / "run"
    t0 = time.perf_counter()
    cmd = ["iahemo", "simulate", str(work / "mesh"), "--case", str(case.path), "--design", str(base / "design")]
    cmd += ["--sample", SAMPLE, *simulate_options(cfg["simulate"]), "-q", "-o", str(run)]
    subprocess.run(cmd, check=True)
    run_s = time.perf_counter() - t0
    subprocess.run(["iahemo", "post", str(run)], check=True, stdout=subprocess.DEVNULL)
    reference_cells = json.loads((base / "mesh" / "qc.json").read_text())["cells"]
    row = {
        "case": case_id,
        "cells": [reference_cells, qc.cells],
        "mesh_s": round(mesh_s, 1),
        "run_s": round(run_s, 1),
        **compare(reference, pv.read(run / "post" / "wall.vtp")),
    }
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="+", help="case ids with a finished dataset run")
    ap.add_argument("--factor", type=float, default=1.05, help="cell sizes of the second mesh × this (default 1.05)")
    ap.add_argument("--config", default=str(REPO / "config" / "dataset.yaml"))
    ap.add_argument("-o", "--out", default=str(REPO / "benchmarks" / "results" / "draft_mesh_noise.json"))
    args = ap.parse_args()
    cfg = yaml.safe_load(Path(args.config).read_text())
    rows = []
    for case_id in args.cases:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(one_case(case_id, cfg, args.factor, Path(tmp)))
    mean = {
        k: float(np.mean([r[k] for r in rows if r[k] is not None]))
        for k in rows[0]
        if k.endswith(("l2", "sac", "mae", "change"))
    }
    write_json(
        args.out,
        {
            "benchmark": "draft_mesh_noise",
            "machine": machine(),
            "config": str(Path(args.config).relative_to(REPO))
            if Path(args.config).is_relative_to(REPO)
            else args.config,
            "mesh_level": cfg["mesh"]["level"],
            "size_factor": args.factor,
            "bc_sample": SAMPLE,
            "mean": mean,
            "cases": rows,
        },
    )
    print("mean", {k: round(v, 4) for k, v in mean.items()}, f"-> {args.out}")


if __name__ == "__main__":
    main()
