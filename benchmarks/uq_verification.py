"""UQ verification numbers for the README: Sobol indices of the Ishigami function through the design-file path,
for several base sizes.

    .venv/bin/python benchmarks/uq_verification.py

Writes benchmarks/results/uq_verification.json.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

from cfdgen.atomic import write_json  # noqa: E402
from cfdgen.uq import ishigami_check  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    rows = []
    for n in (1024, 4096, 16384):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = ishigami_check(tmp, n=n, seed=3)
            rows.append(
                {
                    "n": n,
                    "runs": res["n_runs"],
                    "ishigami_max_abs_error": res["ishigami_max_abs_error"],
                    "seconds": round(time.perf_counter() - t0, 2),
                }
            )
            print(rows[-1], flush=True)
    out = REPO / "benchmarks" / "results" / "uq_verification.json"
    at_4096 = next(r for r in rows if r["n"] == 4096)
    write_json(
        out,
        {
            "benchmark": "uq_verification",
            "machine": machine(),
            "ishigami_max_abs_error": at_4096["ishigami_max_abs_error"],  # N = 4096 (20,480 rows)
            "ishigami": rows,
        },
    )
    print(f"-> {out}")


if __name__ == "__main__":
    main()
