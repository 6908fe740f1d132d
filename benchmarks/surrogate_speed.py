"""OpenFOAM against the surrogate on the same geometry, in one run.

    .venv/bin/python benchmarks/surrogate_speed.py [--case cases/syn1_000] [--level draft] [--cycles 1.5]
        [--model surrogate/models/hemodynamics.pt] [--steady-model surrogate/models/hemodynamics_steady.pt]
        [--points 16384]

Meshes and simulates the case with the dataset's solver settings (the CFD whose answers the surrogate learned),
post-processes it, then runs the surrogate's network on a 16,384-point cloud of the same wall (median of 5 after
one warm-up, with 1 and with 2 threads). Writes benchmarks/results/surrogate_speed.json with both wall times and
``speedup_vs_openfoam`` = (mesh + simulate + post) / network time (the faster thread count). The geometry
preparation (vmtk, shared by both paths) is reported separately and excluded from both sides. The steady-channel
model (``--steady-model``, when the file exists) is timed as its inference runs: its channel 3 (a draft mesh and a
steady simpleFoam solve of the same surface, once) plus its network (median as above, the faster thread count).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default=str(REPO / "cases" / "syn1_000"))
    ap.add_argument("--level", default="draft")
    ap.add_argument("--cycles", type=float, default=1.5)
    ap.add_argument("--max-co", type=float, default=5.0)
    ap.add_argument("--n-outer", type=int, default=2)
    ap.add_argument("--model", default=str(REPO / "surrogate" / "models" / "hemodynamics.pt"))
    ap.add_argument("--steady-model", default=str(REPO / "surrogate" / "models" / "hemodynamics_steady.pt"))
    ap.add_argument("--points", type=int, default=16384)
    args = ap.parse_args()

    import torch

    from cfdgen.atomic import write_json
    from cfdgen.case import load_case
    from cfdgen.post import postprocess
    from cfdgen.prepare import mesh_case
    from cfdgen.simulate import SolverConfig, run_boundary_conditions, simulate
    from cfdgen.wall_inputs import surface_inputs
    from surrogate.artifact import load_model
    from surrogate.predict import channel3_inputs, predict_wall

    case = load_case(args.case)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        _, qc = mesh_case(case.surface, tmp / "mesh", args.level, case)
        mesh_s = time.perf_counter() - t0
        bc = run_boundary_conditions(tmp / "mesh", case)
        solver = SolverConfig(cycles=args.cycles, max_co=args.max_co, n_outer=args.n_outer, n_procs=1)
        t0 = time.perf_counter()
        run = simulate(tmp / "mesh", tmp / "run", bc, solver, progress=False)
        sim_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        postprocess(tmp / "run")
        post_s = time.perf_counter() - t0

        model = load_model(args.model)
        t0 = time.perf_counter()
        inp = surface_inputs(case.surface, case, tmp / "pred", n_points=args.points)
        prep_s = time.perf_counter() - t0

        def network_seconds(model, lofi=None) -> dict[int, float]:
            net = {}
            for threads in (1, 2):
                torch.set_num_threads(threads)
                times = [predict_wall(model, inp, lofi=lofi).seconds for _ in range(6)]
                net[threads] = statistics.median(times[1:])
            return net

        net = network_seconds(model)
        net_s = min(net.values())
        steady = None
        if Path(args.steady_model).is_file():
            steady_model = load_model(args.steady_model)
            torch.set_num_threads(2)  # the solve is one process; torch's threads only matter for the network
            t0 = time.perf_counter()
            lofi, done = channel3_inputs(steady_model, case.surface, case, inp)
            channel3_s = time.perf_counter() - t0
            steady_net_s = min(network_seconds(steady_model, lofi).values())
            steady = {"model": args.steady_model, "members": len(steady_model.members),
                      "channel3_s": round(channel3_s, 1), "solve_s": done["solve_seconds"],
                      "iterations": done["iterations"], "converged": done["converged"],
                      "network_s": round(steady_net_s, 4), "total_s": round(channel3_s + steady_net_s, 1)}  # fmt: skip
    cfd_s = mesh_s + sim_s + post_s
    result = {
        "benchmark": "surrogate_speed",
        "case": case.id,
        "mesh_level": args.level,
        "cells": qc.cells,
        "cycles": args.cycles,
        "cfd_status": run.status,
        "openfoam_s": {"mesh": round(mesh_s, 1), "simulate": round(sim_s, 1), "post": round(post_s, 1)},
        "openfoam_total_s": round(cfd_s, 1),
        "geometry_preparation_s": round(prep_s, 1),
        "surrogate_model": args.model,
        "surrogate_points": args.points,
        "surrogate_members": len(model.members),
        "surrogate_network_s": round(net_s, 4),
        "surrogate_network_s_by_threads": {str(k): round(v, 4) for k, v in net.items()},
        "speedup_vs_openfoam": round(cfd_s / net_s, 1),
        "steady_channel_model": steady and {**steady, "speedup_vs_openfoam": round(cfd_s / steady["total_s"], 2)},
        "machine": machine(),
    }
    out = REPO / "benchmarks" / "results" / "surrogate_speed.json"
    write_json(out, result)
    print(result)


if __name__ == "__main__":
    main()
