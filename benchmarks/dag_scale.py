"""How long `snakemake -n` takes to build the DAG of a 1,000-case cohort × 16 design points.

    .venv/bin/python benchmarks/dag_scale.py [--cases 1000] [--runs 16]

Builds, in a temporary folder, 1,000 case folders (case.yaml + an empty surface file) and, for each, the products
of the stages before the checkpoint (mesh qc.json, a 16-row design.csv/json), so the dry run expands every
simulate → post → sample job and the dataset, training and UQ-analysis jobs — the DAG a cluster run of that
cohort would schedule. Writes ``dag_seconds_1000_cases`` (wall time of the dry run, median of 3) and the job
count to benchmarks/results/dag_scale.json.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CASE = """id: {cid}
input: {{surface: surface.vtp, units: mm}}
measurements:
  doppler:
    mean_velocity: {{value: 0.35, sd: 0.04, unit: m/s}}
"""


def build_tree(root: Path, n_cases: int, n_runs: int) -> Path:
    cases, results = root / "cases", root / "results"
    header = "sample_id,mean_velocity [m/s]\n"
    rows = "".join(f"s{i:04d},0.35\n" for i in range(n_runs))
    for k in range(n_cases):
        cid = f"c{k:04d}"
        d = cases / cid
        d.mkdir(parents=True)
        (d / "case.yaml").write_text(CASE.format(cid=cid))
        (d / "surface.vtp").write_text("")
    time.sleep(1.1)  # products strictly newer than the inputs
    for k in range(n_cases):
        base = results / f"c{k:04d}" / "coarse"
        (base / "mesh").mkdir(parents=True)
        (base / "mesh" / "qc.json").write_text("{}")
        (base / "design").mkdir()
        (base / "design" / "design.csv").write_text(header + rows)
        (base / "design" / "design.json").write_text("{}")
    config = root / "config.yaml"
    config.write_text(
        f"cases_dir: {cases}\nresults_dir: {results}\nsynth: {{enabled: false, n: 1, seed: 1}}\n"
        "mesh: {level: coarse}\nuq: {method: pce, n: 16, seed: 1}\n"
    )
    return config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--note", default="snakemake -n with every checkpoint resolved", help="what else ran")
    args = ap.parse_args()
    snakemake = str(Path(sys.executable).parent / "snakemake")
    with tempfile.TemporaryDirectory() as tmp:
        config = build_tree(Path(tmp), args.cases, args.runs)
        times, jobs = [], None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = subprocess.run(
                [snakemake, "-n", "--quiet", "rules", "--configfile", str(config), "--snakefile", "Snakefile"],
                cwd=REPO,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            times.append(time.perf_counter() - t0)
            if out.returncode != 0:
                raise SystemExit(out.stderr[-3000:])
            m = re.search(r"^total\s+(\d+)", out.stdout + out.stderr, re.M)
            jobs = int(m.group(1)) if m else None
    result = {
        "benchmark": "dag_scale",
        "cases": args.cases,
        "design_points_per_case": args.runs,
        "jobs": jobs,
        "dag_seconds_1000_cases": round(statistics.median(times), 1) if args.cases == 1000 else None,
        "dag_seconds": [round(t, 1) for t in times],
        "note": args.note,
        "machine": machine(),
    }
    from cfdgen.atomic import write_json

    write_json(REPO / "benchmarks" / "results" / "dag_scale.json", result)
    print(result)


if __name__ == "__main__":
    main()
