"""Morphology accuracy on the synthetic cohort: measured (iahemo morph pipeline) vs exact construction truth.

    .venv/bin/python benchmarks/morph_accuracy.py [-n 50] [--seed 2] [--cases DIR]

Writes benchmarks/results/morph_accuracy.json with per-parameter median/90th-percentile errors, by kind.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

from cfdgen.atomic import write_json  # noqa: E402
from cfdgen.morph import measure  # noqa: E402
from cfdgen.synth.cohort import generate_cohort  # noqa: E402

RELATIVE = ("size", "height", "width", "neck_diameter", "aspect_ratio", "size_ratio")
ABSOLUTE = ("nsi", "ei", "ui", "inflow_angle", "outflow_angle")


def errors(rows, cases: Path) -> list[dict]:
    out = []
    for r in rows:
        t0 = time.perf_counter()
        res = measure(cases / r["id"] / "surface.vtp")
        e = {"id": r["id"], "kind": r["kind"], "kind_ok": res.kind == r["kind"], "seconds": time.perf_counter() - t0}
        e.update({k: abs(res.values[k] - r[k]) / abs(r[k]) for k in RELATIVE})
        e.update({k: abs(res.values[k] - r[k]) for k in ABSOLUTE})
        out.append(e)
    return out


def summary(errs: list[dict]) -> dict:
    keys = RELATIVE + ABSOLUTE
    return {
        "n": len(errs),
        "kind_correct": float(np.mean([e["kind_ok"] for e in errs])),
        "median": {k: float(np.median([e[k] for e in errs])) for k in keys},
        "p90": {k: float(np.percentile([e[k] for e in errs], 90)) for k in keys},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--cases", default="results/benchmarks/morph_cohort")
    args = ap.parse_args()
    cases = Path(args.cases)
    rows = generate_cohort(args.n, args.seed, cases)
    errs = errors(rows, cases)
    result = {
        "benchmark": "morph_accuracy",
        "note": "relative errors for lengths and ratios, absolute for indices (1) and angles (deg)",
        "all": summary(errs),
        "sidewall": summary([e for e in errs if e["kind"] == "sidewall"]),
        "bifurcation": summary([e for e in errs if e["kind"] == "bifurcation"]),
        "seconds_per_case_median": float(np.median([e["seconds"] for e in errs])),
        "cases": errs,
        "machine": machine(),
    }
    write_json(Path(__file__).parent / "results" / "morph_accuracy.json", result)
    print(json.dumps({k: result[k] for k in ("all", "sidewall", "bifurcation")}, indent=1))


if __name__ == "__main__":
    main()
