"""Womersley verification over mesh levels: WSS(t) in the middle third of a 20-diameter pipe against the
closed-form solution, reference ICA waveform, blood, α ≈ 2.8.

    .venv/bin/python benchmarks/womersley.py [--levels tiny coarse medium] [--cycles 1.6] [--np 2]
        [--interpolation 'skewCorrected linear' | linear]

Writes benchmarks/results/womersley.json: per level the cells, steps, wall time, relative L2 error of WSS(t)
and the peak error; the top-level ``womersley_wss_rel_l2`` / ``womersley_peak_wss_rel_error`` are those of the
finest level run. A PNG of the WSS waveforms goes next to it.
"""

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

from cfdgen.atomic import atomic_path, write_json  # noqa: E402
from cfdgen.simulate import SolverConfig  # noqa: E402
from cfdgen.verify import PipeCase, mesh_pipe, run_pipe, womersley_errors  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", nargs="+", default=["tiny", "coarse"])
    ap.add_argument("--cycles", type=float, default=1.6)
    ap.add_argument("--np", type=int, default=2, help="MPI ranks per run")
    ap.add_argument("--interpolation", default=SolverConfig.interpolation, help="face interpolation scheme")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "womersley.json"), help="JSON to write")
    args = ap.parse_args()
    rows, curves = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for level in args.levels:
            case = dataclasses.replace(PipeCase(), level=level)
            mesh = mesh_pipe(case, Path(tmp) / level)
            run = run_pipe(
                case,
                mesh,
                Path(tmp) / level / "run",
                cycles=args.cycles,
                record_cycles=1.0,
                n_procs=args.np,
                interpolation=args.interpolation,
            )
            e = womersley_errors(run)
            row = {"level": level, "cells": run.cells, "steps": run.steps, "wall_s": round(run.wall_time_s, 1), **e}
            rows.append(row)
            curves.append((level, run.times, run.wss, run.exact))
            print(row, flush=True)
    finest = rows[-1]
    out = Path(args.out)
    write_json(
        out,
        {
            "benchmark": "womersley",
            "machine": machine(),
            "case": dataclasses.asdict(PipeCase()),
            "interpolation": args.interpolation,
            "n_procs": args.np,
            "womersley_wss_rel_l2": finest["womersley_wss_rel_l2"],
            "womersley_peak_wss_rel_error": finest["womersley_peak_wss_rel_error"],
            "finest_level": finest["level"],
            "levels": rows,
        },
    )
    fig, ax = plt.subplots(figsize=(7, 4))
    level, t, _, exact = curves[-1]
    ax.plot(t - t[0], exact, "k-", lw=2, label="Womersley (closed form)")
    for level, t, wss, _ in curves:
        ax.plot(t - t[0], wss, "o-", ms=3, label=f"pimpleFoam, {level}")
    ax.set_xlabel("time in the recorded cycle (s)")
    ax.set_ylabel("WSS, middle third (Pa)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out.with_suffix(".png")) as p:
        fig.savefig(p, dpi=120)
    print(f"-> {out}")


if __name__ == "__main__":
    main()
