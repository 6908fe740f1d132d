"""Wall time of `iahemo assess` on a surface, with the shipped models.

    .venv/bin/python benchmarks/assess_speed.py [--case cases/syn1_000] [--repeat 2]

Runs the whole inference path (geometry preparation, surrogate at the nominal BCs and over the BC draws, risk
regions, grade, PHASES, report HTML + PDF, VTP) on the shipped sample patient and writes
``assess_surface_seconds`` (median) with the per-stage times of the last run to
benchmarks/results/assess_speed.json.
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
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from cfdgen.atomic import write_json
    from cfdgen.case import load_case
    from surrogate.assess import AssessConfig, assess

    case = load_case(args.case)
    cfg = AssessConfig()
    times, last = [], None
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            last = assess(case.surface, case, Path(tmp) / "out", cfg)
            times.append(time.perf_counter() - t0)
    result = {
        "benchmark": "assess_speed",
        "case": case.id,
        "bc_samples": cfg.bc_samples,
        "points": cfg.points,
        "assess_surface_seconds": round(statistics.median(times), 1),
        "runs_s": [round(t, 1) for t in times],
        "stages_s_last_run": last["timing_s"],
        "grade": last["grade"],
        "machine": machine(),
    }
    write_json(REPO / "benchmarks" / "results" / "assess_speed.json", result)
    print(result)


if __name__ == "__main__":
    main()
