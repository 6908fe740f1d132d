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

from cfdgen import registry  # noqa: E402
from cfdgen.atomic import write_json  # noqa: E402
from cfdgen.case import load_case  # noqa: E402
from cfdgen.errors import IahemoError  # noqa: E402
from cfdgen.mesh import MESH_LEVELS  # noqa: E402
from cfdgen.pointcloud import fields_at, read_sample  # noqa: E402
from cfdgen.post import postprocess  # noqa: E402
from cfdgen.prepare import mesh_case  # noqa: E402
from cfdgen.simulate import SolverConfig, simulate  # noqa: E402
from cfdgen.uq import run_boundary_conditions_for  # noqa: E402
from surrogate import metrics  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = "s0000"
TAWSS, WSS_MEAN, OSI = (registry.field(k).key for k in ("tawss", "wss_mean", "osi"))


def solver_config(sim: dict) -> tuple[SolverConfig, float | None]:
    """The solver of the workflow's runs (workflow/rules/simulate.smk) from the config's simulate section, on one
    rank; what the section leaves out keeps SolverConfig's default, which the config schema's defaults repeat."""
    given = {k: sim[k] for k in ("cycles", "max_co", "n_outer", "interpolation") if sim.get(k) is not None}
    return SolverConfig(n_procs=1, **given), sim.get("end_time")


def compare(reference_sample: Path, wall: pv.PolyData) -> dict:
    s = read_sample(reference_sample)
    other = fields_at(wall, s.cloud.points, [TAWSS, WSS_MEAN, OSI])
    sac = np.asarray(s.cloud.sac, dtype=bool)
    tawss, ref = other[TAWSS], s.cloud.fields[TAWSS]
    return {
        "tawss_rel_l2": metrics.rel_l2(tawss, ref),
        "tawss_rel_l2_sac": metrics.rel_l2(tawss[sac], ref[sac]) if sac.any() else None,
        "tawss_rel_l2_off_sac": metrics.rel_l2(tawss[~sac], ref[~sac]),
        "wall_mean_tawss_change": float(tawss.mean() / ref.mean() - 1),
        "wss_mean_rel_l2": metrics.rel_l2(other[WSS_MEAN], s.cloud.fields[WSS_MEAN]),
        "osi_mae": metrics.mae(other[OSI], s.cloud.fields[OSI]),
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
    bc, extra = run_boundary_conditions_for(base / "design", SAMPLE, work / "mesh", case)
    solver, end_time = solver_config(cfg["simulate"])
    t0 = time.perf_counter()
    run = simulate(work / "mesh", work / "run", bc, solver, end_time=end_time, progress=False, extra=extra)
    run_s = time.perf_counter() - t0
    if run.status != "converged":
        raise IahemoError(f"the second mesh's run {run.status}: {run.reason}")
    postprocess(run.run_dir)
    reference_cells = json.loads((base / "mesh" / "qc.json").read_text())["cells"]
    row = {
        "case": case_id,
        "cells": [reference_cells, qc.cells],
        "mesh_s": round(mesh_s, 1),
        "run_s": round(run_s, 1),
        **compare(reference, pv.read(run.run_dir / "post" / "wall.vtp")),
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
            try:
                rows.append(one_case(case_id, cfg, args.factor, Path(tmp)))
            except IahemoError as err:
                raise SystemExit(f"draft_mesh_noise: {case_id}: {err}") from None
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
