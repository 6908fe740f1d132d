"""Wall time of `iahemo assess` on a surface, with the shipped models.

    .venv/bin/python benchmarks/assess_speed.py [--case cases/syn1_000] [--repeat 2] [--steady]

Runs the whole inference path (geometry preparation, surrogate at the nominal BCs and over the BC draws, risk
regions, grade, PHASES, report HTML + PDF, VTP) on the shipped sample patient and writes
``assess_surface_seconds`` (median) with the per-stage times of the last run to
benchmarks/results/assess_speed.json. ``--steady``: with the steady-channel pair instead (hemodynamics_steady.pt,
regions_steady.pt: a draft mesh and a simpleFoam solve per assessment) → assess_speed_steady.json.
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
    ap.add_argument("--steady", action="store_true", help="the steady-channel pair (iahemo assess --accurate)")
    args = ap.parse_args()

    from cfdgen.atomic import write_json
    from cfdgen.case import load_case
    from surrogate.assess import ACCURATE_REGION_MODEL, AssessConfig, assess
    from surrogate.predict import ACCURATE_MODEL

    case = load_case(args.case)
    cfg = AssessConfig()
    if args.steady:
        cfg = AssessConfig(model=str(ACCURATE_MODEL), region_model=str(ACCURATE_REGION_MODEL))
    times, last = [], None
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            last = assess(case.surface, case, Path(tmp) / "out", cfg)
            times.append(time.perf_counter() - t0)
    result = {
        "benchmark": "assess_speed",
        "case": case.id,
        "models": {"hemodynamics": cfg.model or "default", "regions": cfg.region_model or "default"},
        "bc_samples": cfg.bc_samples,
        "points": cfg.points,
        "assess_surface_seconds": round(statistics.median(times), 1),
        "runs_s": [round(t, 1) for t in times],
        "stages_s_last_run": last["timing_s"],
        "grade": last["grade"],
        "channel3": last["models"]["surrogate"]["channel3"],
        "machine": machine(),
    }
    write_json(REPO / "benchmarks" / "results" / f"assess_speed{'_steady' if args.steady else ''}.json", result)
    print(result)


if __name__ == "__main__":
    main()
