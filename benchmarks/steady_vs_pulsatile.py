"""How far is the wall shear of steady flow at the mean inflow from the pulsatile run's TAWSS?

    .venv/bin/python benchmarks/steady_vs_pulsatile.py [--cases cases/syn1_000 cases/syn1_001] [--level draft]
        [--workers 2]

Why: the surrogate's error falls slowly with more training geometries (benchmarks/surrogate_data_scaling.py:
×0.85 per doubling), so a cheaper source of TAWSS targets, or a better low-fidelity channel than Poiseuille–Dean,
would matter. Where the flow does not reverse and the response is nearly linear, the time average of |τ| is the
|τ| of the mean flow; how far that holds in an aneurysm geometry is measured here. Each case is meshed once and
run three times (``--workers`` side by side, one rank each), with the library's default face interpolation (the
committed dataset's runs use linear; all runs here share the default): pimpleFoam with the dataset's time stepping
(1.5 cycles, Courant 5, 2 outer correctors, the last cycle recorded) under the case's pulsatile inflow
(``pulsatile``) and under the same mean flow held constant (``steady``, ``Waveform.held_constant``), and
simpleFoam at that mean flow (``simple``, ``cfdgen.steady`` defaults: SIMPLEC to its residual controls). Walls are
compared face by face (the OpenFOAM faces of the same mesh): TAWSS ε (relative L2) on the whole wall, off and on
the sac, the wall means, ε after the best single scale, the mean WSS vector's ε, each run's wall time (and
simpleFoam's iterations), and simpleFoam's TAWSS against the time-marched steady state (did SIMPLE find the same
flow?); per case, in a temporary folder. Writes benchmarks/results/steady_vs_pulsatile.json.
"""

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyvista as pv

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def compare(pulsatile: pv.PolyData, steady: pv.PolyData) -> dict:
    """Steady |τ| against pulsatile TAWSS on the same wall faces."""
    from cfdgen import registry
    from surrogate.metrics import rel_l2

    tawss, wss_mean, sac_key = (registry.field(k).key for k in ("tawss", "wss_mean", "sac"))
    a, b = np.asarray(pulsatile.cell_data[tawss]), np.asarray(steady.cell_data[tawss])
    sac = np.asarray(pulsatile.cell_data[sac_key], dtype=bool)
    scale = float(a @ b / (b @ b))
    return {
        "faces": int(len(a)),
        "sac_faces": int(sac.sum()),
        "tawss_rel_l2": rel_l2(b, a),
        "tawss_rel_l2_off_sac": rel_l2(b[~sac], a[~sac]),
        "tawss_rel_l2_sac": rel_l2(b[sac], a[sac]) if sac.any() else None,
        "wall_mean_tawss_pulsatile_pa": float(a.mean()),
        "wall_mean_tawss_steady_pa": float(b.mean()),
        "best_scale": scale,
        "tawss_rel_l2_best_scale": rel_l2(scale * b, a),
        "wss_mean_rel_l2": rel_l2(np.asarray(steady.cell_data[wss_mean]), np.asarray(pulsatile.cell_data[wss_mean])),
    }


def one_case(case_dir: str, level: str, workers: int) -> dict:
    from cfdgen.case import load_case
    from cfdgen.post import postprocess
    from cfdgen.prepare import mesh_case
    from cfdgen.simulate import SolverConfig, run_boundary_conditions, simulate
    from cfdgen.steady import SteadyConfig, simulate_steady

    case = load_case(case_dir)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _, qc = mesh_case(case.surface, work / "mesh", level, case)
        pulsatile = run_boundary_conditions(work / "mesh", case)
        steady = replace(pulsatile, waveform=pulsatile.waveform.held_constant())
        solver = SolverConfig(cycles=1.5, max_co=5.0, n_outer=2, n_procs=1)
        jobs = {
            "pulsatile": lambda d: simulate(work / "mesh", d, pulsatile, solver, progress=False),
            "steady": lambda d: simulate(work / "mesh", d, steady, solver, progress=False),
            "simple": lambda d: simulate_steady(work / "mesh", d, pulsatile, SteadyConfig(), progress=False),
        }

        def run(name):
            t0 = time.perf_counter()
            result = jobs[name](work / name)
            postprocess(work / name)
            row = {"status": result.status, "seconds": round(time.perf_counter() - t0, 1)}
            return row | ({"iterations": result.qc["iterations"]} if "iterations" in result.qc else {})

        with ThreadPoolExecutor(workers) as pool:
            runs = dict(zip(jobs, pool.map(run, jobs)))
        walls = {name: pv.read(work / name / "post" / "wall.vtp") for name in runs}
    flow = {"mean_flow_m3s": pulsatile.waveform.mean_flow, "period_s": pulsatile.waveform.period}
    return {
        "case": case.id,
        "cells": qc.cells,
        **flow,
        "runs": runs,
        **compare(walls["pulsatile"], walls["steady"]),
        "simple": compare(walls["pulsatile"], walls["simple"]),
        "simple_vs_pimple_steady_tawss_rel_l2": compare(walls["steady"], walls["simple"])["tawss_rel_l2"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", default=[str(REPO / "cases" / c) for c in ("syn1_000", "syn1_001")])
    ap.add_argument("--level", default="draft")
    ap.add_argument("--workers", type=int, default=2, help="runs of a case side by side")
    args = ap.parse_args()

    from cfdgen.atomic import write_json
    from cfdgen.errors import IahemoError

    cases = []
    for c in args.cases:
        try:
            cases.append(one_case(c, args.level, args.workers))
        except IahemoError as exc:  # a missing case, a mesh or a run that failed: one line, nothing written
            raise SystemExit(str(exc)) from None
        print(cases[-1], flush=True)
    keys = ("tawss_rel_l2", "tawss_rel_l2_off_sac", "tawss_rel_l2_sac", "tawss_rel_l2_best_scale", "wss_mean_rel_l2")
    mean = {k: float(np.mean([c[k] for c in cases if c[k] is not None])) for k in keys}
    mean["simple"] = {k: float(np.mean([c["simple"][k] for c in cases if c["simple"][k] is not None])) for k in keys}
    write_json(REPO / "benchmarks" / "results" / "steady_vs_pulsatile.json",
               {"benchmark": "steady_vs_pulsatile", "mesh_level": args.level, "mean": mean, "cases": cases,
                "machine": machine()})  # fmt: skip
    print(mean)


if __name__ == "__main__":
    main()
