# Shared definitions: the case table, path patterns, config shorthands and the checkpoint aggregations.
import csv
import os
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

try:  # the C loader: the case table of a 1,000-case cohort is read at every DAG build
    _YAML_LOADER = yaml.CSafeLoader
except AttributeError:
    _YAML_LOADER = yaml.SafeLoader


wildcard_constraints:
    case=r"[A-Za-z0-9_.-]+",
    level=r"draft|tiny|coarse|medium|fine",
    sample=r"s\d+",


LEVEL = config["mesh"]["level"]
ON_FAILURE = config["on_failure"]
NP = config["simulate"]["np"]
DATASET = f"{RESULTS}/dataset"

CASE_DIR = RESULTS + "/{case}/{level}"
MESH_DIR = CASE_DIR + "/mesh"
DESIGN_DIR = CASE_DIR + "/design"
RUN_DIR = CASE_DIR + "/uq_{sample}"
SAMPLE_DIR = CASE_DIR + "/samples/uq_{sample}"
LOGS = RESULTS + "/logs/{case}/{level}"
SEGMENTATION_DIR = RESULTS + "/{case}/segmentation"  # image-only cases: labels, probabilities, surface
BENCH = RESULTS + "/benchmarks/{case}/{level}"


def _case_entry(cid, case_yaml):
    """{"yaml", "surface"[, "image"]} of one case. An image-only case gets the surface the `segment` rule
    reconstructs from its image (workflow/rules/segment.smk); a case with neither is refused by the case schema."""
    case_yaml = Path(case_yaml)
    if case_yaml.is_dir():
        case_yaml = case_yaml / "case.yaml"
    if not case_yaml.is_file():
        raise WorkflowError(f"case {cid}: no case file {case_yaml}")
    with case_yaml.open() as fh:
        doc = yaml.load(fh, Loader=_YAML_LOADER) or {}
    inp = doc.get("input") or {}
    if inp.get("surface"):
        return {"yaml": str(case_yaml), "surface": str(case_yaml.parent / inp["surface"])}
    if inp.get("image"):
        return {
            "yaml": str(case_yaml),
            "surface": SEGMENTATION_DIR.format(case=cid) + "/surface.vtp",
            "image": str(case_yaml.parent / inp["image"]),
        }
    logger.warning(f"case {cid}: {case_yaml} has neither input.surface nor input.image; skipped")
    return None


def packed_runs():
    """(case, BC sample) runs already in the packed dataset named by dataset.packed (a committed, compressed copy,
    see surrogate/pack.py): a small machine tops the dataset up across sessions instead of redoing them."""
    import json

    packed = (config.get("dataset") or {}).get("packed")
    if not packed or not Path(packed).is_file():
        return set()
    with open(packed) as fh:
        return {(s["case_id"], s["bc_sample"]) for s in json.load(fh)["samples"]}


PACKED_RUNS = packed_runs()


def packed_cases():
    """Cases whose every run is packed: not even designed or meshed again."""
    from collections import Counter

    counts = Counter(case for case, _ in PACKED_RUNS)
    n_of = lambda c: config["uq"].get("n_by_case", {}).get(c, config["uq"]["n"])
    done = {c for c, k in counts.items() if k >= n_of(c)}
    if PACKED_RUNS:
        packed = config["dataset"]["packed"]
        logger.info(f"{len(PACKED_RUNS)} runs are in {packed}, {len(done)} cases complete there: not run again")
    return done


def load_cases():
    """Cases: every cases_dir/<id>/case.yaml, plus the rows (id, path) of the optional case sheet, whose schema is
    workflow/schemas/cases.schema.yaml; the optional `cases` list keeps only those ids."""
    found = {}
    root = Path(config.get("cases_dir", "cases"))
    if root.is_dir():
        for d in sorted(root.iterdir()):
            if (d / "case.yaml").is_file():
                found[d.name] = d / "case.yaml"
    sheet = config.get("case_sheet")
    if sheet:
        import pandas as pd

        table = pd.read_csv(sheet, dtype=str, comment="#", skipinitialspace=True)
        validate(table, "../schemas/cases.schema.yaml")
        for cid, path in zip(table["id"], table["path"]):
            path = Path(path) / "case.yaml" if Path(path).is_dir() else Path(path)
            if cid in found and Path(found[cid]).resolve() != path.resolve():
                raise WorkflowError(f"case {cid} is in both {root} and the case sheet {sheet}, with different files")
            found[cid] = path
    wanted = config.get("cases")
    if wanted:
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise WorkflowError(f"config cases lists unknown case ids: {', '.join(missing)}")
        found = {c: found[c] for c in wanted}
    done = packed_cases()
    found = {c: p for c, p in found.items() if c not in done}
    cases = {}
    for cid, path in found.items():
        entry = _case_entry(cid, path)
        if entry is not None:
            cases[cid] = entry
    return cases


CASES = load_cases()


def case_yaml(wildcards):
    return CASES[wildcards.case]["yaml"]


def case_surface(wildcards):
    return CASES[wildcards.case]["surface"]


def case_image(wildcards):
    return CASES[wildcards.case]["image"]


def design_samples(case, level):
    """Sample ids of a case's design: known only once the uq_design checkpoint has run."""
    csv_path = checkpoints.uq_design.get(case=case, level=level).output.csv
    with open(csv_path, newline="") as fh:
        rows = csv.reader(fh)
        next(rows)
        return [r[0] for r in rows if r]


def post_records(wildcards):
    ids = design_samples(wildcards.case, wildcards.level)
    return expand(RUN_DIR + "/post/record.json", case=wildcards.case, level=wildcards.level, sample=ids)


def case_sample_records(wildcards):
    """The sample records of one case's runs not yet packed. Per case, so every case's design checkpoint is
    scheduled at once (an input function over all cases stops at the first unfinished checkpoint: cases would mesh
    one by one)."""
    ids = [s for s in design_samples(wildcards.case, wildcards.level) if (wildcards.case, s) not in PACKED_RUNS]
    return expand(CASE_DIR + "/samples/uq_{sample}.json", case=wildcards.case, level=wildcards.level, sample=ids)


def fault_runs():
    """Test-only: (case, sample) pairs whose design row is made to diverge (fault_injection.diverge)."""
    spec = config.get("fault_injection") or {}
    return {tuple(item.split("/", 1)) for item in spec.get("diverge", [])}


def all_targets(wildcards):
    targets = []
    if config["synth"].get("enabled", True):
        targets.append(f"{SYNTH_DIR}/cohort.csv")
    if CASES:
        targets.append(f"{DATASET}/manifest.json")
        if config.get("surrogate", {}).get("enabled", True):
            targets.append(f"{RESULTS}/models/hemodynamics/evaluation.json")
            targets.append(f"{RESULTS}/models/hemodynamics/regions.json")
        if config["uq"].get("analyse", True):
            targets += expand(DESIGN_DIR + "/analysis.json", case=list(CASES), level=LEVEL)
    return targets
