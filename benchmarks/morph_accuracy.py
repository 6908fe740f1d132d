"""Morphology accuracy on the synthetic cohort: measured (iahemo morph pipeline) vs exact construction truth.

    .venv/bin/python benchmarks/morph_accuracy.py [-n 50] [--seed 2] [--workers 2]

Writes benchmarks/results/morph_accuracy.json with per-parameter median/90th-percentile errors, by kind. The
same comparison, on the same 50 cases, is the test tests/test_morph_cohort.py.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

from cfdgen.atomic import write_json  # noqa: E402
from cfdgen.sac_detect import SacConfig  # noqa: E402
from cfdgen.synth.accuracy import measure_cohort, summary, table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    errs = measure_cohort(args.n, args.seed, args.workers)
    result = {
        "benchmark": "morph_accuracy",
        "note": "relative errors for lengths and ratios, absolute for indices (1) and angles (deg)",
        "sac_config": SacConfig().__dict__,
        "all": summary(errs),
        "sidewall": summary([e for e in errs if e["kind"] == "sidewall"]),
        "bifurcation": summary([e for e in errs if e["kind"] == "bifurcation"]),
        "seconds_per_case_median": float(np.median([e["seconds"] for e in errs])),
        "wall_seconds": time.perf_counter() - t0,
        "workers": args.workers,
        "cases": errs,
        "machine": machine(),
    }
    write_json(Path(__file__).parent / "results" / "morph_accuracy.json", result)
    print(table(errs))


if __name__ == "__main__":
    main()
