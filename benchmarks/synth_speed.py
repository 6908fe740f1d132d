"""Time the synthetic cohort generator per stage and write benchmarks/results/synth_speed.json.

.venv/bin/python benchmarks/synth_speed.py [-n 6] [--seed 101]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

from cfdgen.atomic import write_json  # noqa: E402
from cfdgen.synth import cohort  # noqa: E402
from cfdgen.synth.config import SynthConfig  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=6)
    ap.add_argument("--seed", type=int, default=101)
    args = ap.parse_args()
    cfg = SynthConfig()
    build, write, tris = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n):
            t0 = time.perf_counter()
            case = cohort.build_case(args.seed, i, cfg)
            t1 = time.perf_counter()
            cohort.write_case(case, Path(tmp), cfg)
            t2 = time.perf_counter()
            build.append(t1 - t0)
            write.append(t2 - t1)
            tris.append(case.surface.n_cells)
    result = {
        "benchmark": "synth_speed",
        "cases": args.n,
        "surface_spacing_mm": cfg.surface_spacing,
        "build_s_median": float(np.median(build)),
        "write_s_median": float(np.median(write)),
        "total_s_per_case_median": float(np.median(np.add(build, write))),
        "triangles_median": int(np.median(tris)),
        "machine": machine(),
    }
    out = Path(__file__).parent / "results" / "synth_speed.json"
    write_json(out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
