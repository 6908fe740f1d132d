"""Cost of one CFD run on this machine against cells, simulated time and MPI ranks.

    .venv/bin/python benchmarks/cfd_cost.py [--levels tiny coarse] [--end-time 0.05] [--ranks 1 2]

Meshes the shipped synthetic case cases/syn1_000 at each level (timing the mesh), runs pimpleFoam for
--end-time simulated seconds with each rank count, and writes benchmarks/results/cfd_cost.json with cells,
time steps, wall time and µs per cell per step.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

from cfdgen.atomic import write_json  # noqa: E402
from cfdgen.case import load_case  # noqa: E402
from cfdgen.prepare import mesh_case  # noqa: E402
from cfdgen.simulate import SolverConfig, run_boundary_conditions, simulate  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default=str(REPO / "cases" / "syn1_000"), help="case folder, or a bare surface file")
    ap.add_argument("--out", default="cfd_cost.json", help="result file name in benchmarks/results/")
    ap.add_argument("--levels", nargs="+", default=["tiny", "coarse"])
    ap.add_argument("--end-time", type=float, default=0.05)
    ap.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    args = ap.parse_args()
    source = Path(args.case)
    case = load_case(source) if source.is_dir() else None
    surface = case.surface if case else source
    name = case.id if case else source.parent.name
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for level in args.levels:
            t0 = time.perf_counter()
            _, qc = mesh_case(surface, Path(tmp) / level, level, case)
            mesh_s = time.perf_counter() - t0
            bc = run_boundary_conditions(Path(tmp) / level, case)
            for ranks in args.ranks:
                res = simulate(
                    Path(tmp) / level,
                    Path(tmp) / f"{level}_np{ranks}",
                    bc,
                    SolverConfig(n_procs=ranks),
                    end_time=args.end_time,
                    progress=False,
                )
                q = res.qc
                core_s = q["wall_time_s"] * ranks
                row = {
                    "case": name,
                    "level": level,
                    "cells": qc.cells,
                    "mesh_s": round(mesh_s, 2),
                    "ranks": ranks,
                    "simulated_s": q["simulated_time"],
                    "steps": q["time_steps"],
                    "status": res.status,
                    "wall_s": round(q["wall_time_s"], 2),
                    "us_per_cell_step_core": round(1e6 * core_s / (qc.cells * max(q["time_steps"], 1)), 2),
                }
                rows.append(row)
                print(row, flush=True)
    out = REPO / "benchmarks" / "results" / args.out
    write_json(out, {"benchmark": "cfd_cost", "machine": machine(), "end_time_s": args.end_time, "runs": rows})
    print(f"-> {out}")


if __name__ == "__main__":
    main()
