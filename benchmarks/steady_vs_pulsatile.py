"""How far is the wall shear of steady flow at the mean inflow from the pulsatile run's TAWSS?

    .venv/bin/python benchmarks/steady_vs_pulsatile.py [--cases cases/syn1_000 cases/syn1_001] [--level draft]

Why: the surrogate's error falls slowly with more training geometries (benchmarks/surrogate_data_scaling.py:
×0.85 per doubling), so a cheaper source of TAWSS targets, or a better low-fidelity channel than Poiseuille–Dean,
would matter. Where the flow does not reverse and the response is nearly linear, the time average of |τ| is the
|τ| of the mean flow; how far that holds in an aneurysm geometry is measured here. Each case is meshed once and
run twice side by side on one rank each, with the dataset's time stepping (1.5 cycles, Courant 5, 2 outer
correctors, the last cycle recorded) and the library's default face interpolation (the committed dataset's runs
use linear; both runs here share the default): once with the case's pulsatile inflow, once with the same mean flow
held constant (``Waveform.held_constant``). Both walls are compared face by face (the OpenFOAM faces of the same
mesh): TAWSS ε (relative L2) on the whole wall, off and on the sac, the wall means, ε after the best single scale,
the mean WSS vector's ε, and each run's wall time; per case, in a temporary folder. Writes
benchmarks/results/steady_vs_pulsatile.json.
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


def one_case(case_dir: str, level: str) -> dict:
    from cfdgen.case import load_case
    from cfdgen.post import postprocess
    from cfdgen.prepare import mesh_case
    from cfdgen.simulate import SolverConfig, run_boundary_conditions, simulate

    case = load_case(case_dir)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _, qc = mesh_case(case.surface, work / "mesh", level, case)
        pulsatile = run_boundary_conditions(work / "mesh", case)
        steady = replace(pulsatile, waveform=pulsatile.waveform.held_constant())
        solver = SolverConfig(cycles=1.5, max_co=5.0, n_outer=2, n_procs=1)

        def run(name, bc):
            t0 = time.perf_counter()
            status = simulate(work / "mesh", work / name, bc, solver, progress=False).status
            postprocess(work / name)
            return {"status": status, "seconds": round(time.perf_counter() - t0, 1)}

        with ThreadPoolExecutor(2) as pool:
            runs = dict(zip(("pulsatile", "steady"), pool.map(run, ("pulsatile", "steady"), (pulsatile, steady))))
        walls = {name: pv.read(work / name / "post" / "wall.vtp") for name in runs}
    flow = {"mean_flow_m3s": pulsatile.waveform.mean_flow, "period_s": pulsatile.waveform.period}
    return {"case": case.id, "cells": qc.cells, **flow, "runs": runs, **compare(walls["pulsatile"], walls["steady"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", default=[str(REPO / "cases" / c) for c in ("syn1_000", "syn1_001")])
    ap.add_argument("--level", default="draft")
    args = ap.parse_args()

    from cfdgen.atomic import write_json
    from cfdgen.errors import IahemoError

    cases = []
    for c in args.cases:
        try:
            cases.append(one_case(c, args.level))
        except IahemoError as exc:  # a missing case, a mesh or a run that failed: one line, nothing written
            raise SystemExit(str(exc)) from None
        print(cases[-1], flush=True)
    keys = ("tawss_rel_l2", "tawss_rel_l2_off_sac", "tawss_rel_l2_sac", "tawss_rel_l2_best_scale", "wss_mean_rel_l2")
    mean = {k: float(np.mean([c[k] for c in cases if c[k] is not None])) for k in keys}
    write_json(REPO / "benchmarks" / "results" / "steady_vs_pulsatile.json",
               {"benchmark": "steady_vs_pulsatile", "mesh_level": args.level, "mean": mean, "cases": cases,
                "machine": machine()})  # fmt: skip
    print(mean)


if __name__ == "__main__":
    main()
