#!/usr/bin/env bash
# Run the dataset workflow with every geometry's nominal BC run (s0000) first, then the rest:
#   bash tools/dataset_priority.sh [config/dataset.yaml] [extra snakemake options]
# A 2-core machine finishes ~12 runs an hour at the draft level; this order makes a partial dataset span all
# geometries instead of a third of them with three runs each.
set -euo pipefail
# The rules call `iahemo`; make the repository's environment the one they find.
export PATH="$PWD/.venv/bin:$PATH"
cfg=${1:-config/dataset.yaml}
shift || true
eval "$(.venv/bin/python - "$cfg" <<'PY'
import sys, yaml, pathlib
c = yaml.safe_load(open(sys.argv[1]))
ids = sorted(d.name for d in pathlib.Path(c["cases_dir"]).iterdir() if (d / "case.yaml").is_file())
if c.get("case_sheet"):
    import csv
    ids += [r["id"] for r in csv.DictReader(open(c["case_sheet"]))]
packed = pathlib.Path((c.get("dataset") or {}).get("packed") or "/nonexistent")
if packed.is_file():  # runs already in the committed copy are not run again (workflow/rules/common.smk)
    import json
    done = {s["case_id"] for s in json.load(open(packed))["samples"] if s["bc_sample"] == "s0000"}
    ids = [i for i in ids if i not in done]
res, lvl = c["results_dir"], c["mesh"]["level"]
print("targets='" + " ".join(f"{res}/{i}/{lvl}/samples/uq_s0000.json" for i in ids) + "'")
PY
)"
# shellcheck disable=SC2086
exec .venv/bin/snakemake -j 2 -k --configfile "$cfg" ${targets:+-P $targets} "$@"
