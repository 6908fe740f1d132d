#!/usr/bin/env bash
# Run the dataset workflow with every geometry's next missing BC run first (s0000, then s0001, ...), then the rest:
#   bash tools/dataset_priority.sh [config/dataset.yaml] [extra snakemake options]
# A 2-core machine finishes ~12 runs an hour at the draft level; this order makes a partial dataset span all
# geometries instead of a third of them with three runs each. Runs already in the packed copy (dataset.packed)
# are not run again. IAHEMO_ONLY_MESHED=1 runs only those next runs of the cases whose mesh exists, and nothing
# else (a short session's top-up: Snakemake otherwise meshes every case before the first run); rerun it for more.
# IAHEMO_MIN_PACKED=k takes only the cases with at least k runs packed (k=2: complete the geometries with two runs
# to three, depth where breadth is already there).
set -euo pipefail
# Runs are rerun when their inputs change, not when the rule's options text does: the committed runs predate
# options that the config now spells out with their old values (simulate.interpolation: linear).
TRIGGERS="--rerun-triggers mtime input"
# The rules call `iahemo`; make the repository's environment the one they find.
export PATH="$PWD/.venv/bin:$PATH"
cfg=${1:-config/dataset.yaml}
shift || true
eval "$(.venv/bin/python - "$cfg" <<'PY'
import csv, json, os, pathlib, sys
from collections import defaultdict

import pyvista as pv
import yaml

from cfdgen.case import load_case
from cfdgen.pointcloud import read_sample, sample_wall
from cfdgen.prepare import file_hash
from surrogate.pack import SAME_VESSEL_MAX, vessel_mismatch

c = yaml.safe_load(open(sys.argv[1]))
folders = {d.name: d for d in pathlib.Path(c["cases_dir"]).iterdir() if (d / "case.yaml").is_file()}
if c.get("case_sheet"):
    folders.update({r["id"]: pathlib.Path(r["path"]) for r in csv.DictReader(open(c["case_sheet"]))})
ids = sorted(folders)
packed = pathlib.Path((c.get("dataset") or {}).get("packed") or "/nonexistent")
done, geometry, packed_sample = defaultdict(set), {}, {}
if packed.is_file():
    for s in json.load(open(packed))["samples"]:
        done[s["case_id"]].add(s["bc_sample"])
        geometry[s["case_id"]] = s["geometry_hash"]
        packed_sample[s["case_id"]] = packed.parent / s["path"]
res, lvl = c["results_dir"], c["mesh"]["level"]
targets = []
for i in ids:
    if len(done[i]) < int(os.environ.get("IAHEMO_MIN_PACKED", "0")):
        continue
    # A run on another vessel than the packed runs' would be refused by surrogate.pack.
    try:
        surface = load_case(folders[i]).surface
    except Exception as exc:  # one line per unreadable case, not a traceback that hides the others
        print(f"{i}: {exc}; skipped", file=sys.stderr)
        continue
    if i in geometry and file_hash(surface) != geometry[i]:
        # Other bytes need not be another vessel (a new checkout's cohort is not bitwise the old one): the test
        # surrogate.pack applies to the run's sample, applied to the surface now.
        wall = sample_wall(pv.read(surface), 8192, seed=0).points
        mismatch = vessel_mismatch(wall, read_sample(packed_sample[i]).cloud.points)
        if mismatch > SAME_VESSEL_MAX:
            print(f"{i}: not the vessel of its packed runs ({mismatch:.2f} point spacings); skipped", file=sys.stderr)
            continue
    n = c["uq"].get("n_by_case", {}).get(i, c["uq"]["n"])
    todo = [f"s{k:04d}" for k in range(n) if f"s{k:04d}" not in done[i]]
    meshed = pathlib.Path(f"{res}/{i}/{lvl}/mesh/qc.json").is_file()
    if todo and (meshed or os.environ.get("IAHEMO_ONLY_MESHED") != "1"):
        targets.append(f"{res}/{i}/{lvl}/samples/uq_{todo[0]}.json")
print("targets='" + " ".join(targets) + "'")
PY
)"
# Either selection runs its runs and nothing else (with -P alone Snakemake would go on to the whole dataset).
if [ "${IAHEMO_ONLY_MESHED:-0}" = 1 ] || [ "${IAHEMO_MIN_PACKED:-0}" != 0 ]; then
    [ -n "$targets" ] || { echo "no selected case has a run left to do" >&2; exit 0; }
    # shellcheck disable=SC2086
    exec .venv/bin/snakemake -j 2 -k $TRIGGERS "$@" --configfile "$cfg" -- $targets
fi
# shellcheck disable=SC2086
exec .venv/bin/snakemake -j 2 -k $TRIGGERS --configfile "$cfg" ${targets:+-P $targets} "$@"
