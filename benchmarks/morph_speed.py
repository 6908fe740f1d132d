"""Time `iahemo morph` from surface file to morphology JSON on a ~50k-triangle synthetic surface.

    .venv/bin/python benchmarks/morph_speed.py [--repeat 3]

Writes benchmarks/results/morph_speed.json (stage times: intake, openings+centerlines, sac+indices, outputs).
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

from cfdgen import morph  # noqa: E402
from cfdgen.atomic import write_json  # noqa: E402
from cfdgen.synth.cohort import build_case  # noqa: E402
from cfdgen.synth.config import SynthConfig  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        case = build_case(3, 4, SynthConfig(surface_spacing=0.18))  # a lobulated sidewall sac
        src = Path(tmp) / "surface.stl"
        case.surface.save(src)  # a plain STL, as users bring them
        totals, measure_s = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = morph.measure(src)
            t1 = time.perf_counter()
            morph.write_outputs(res, Path(tmp) / "out", str(src))
            t2 = time.perf_counter()
            measure_s.append(t1 - t0)
            totals.append(t2 - t0)
    result = {
        "benchmark": "morph_speed",
        "triangles": int(case.surface.n_cells),
        "measure_s_median": float(np.median(measure_s)),
        "total_s_median": float(np.median(totals)),
        "total_s_all": totals,
        "goal_s": 10.0,
        "machine": machine(),
    }
    write_json(Path(__file__).parent / "results" / "morph_speed.json", result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
