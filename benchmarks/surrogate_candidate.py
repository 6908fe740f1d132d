"""A candidate hemodynamics ensemble beside the shipped model, on the validation and test geometries. Collects what
these commands wrote (it trains nothing):

    iahemo train --manifest MANIFEST --config CONFIG.yaml -o work/model_X        # writes the test evaluation
    iahemo evaluate --manifest MANIFEST --model work/model_X/hemodynamics.pt --split val -o work/evalval_X
    .venv/bin/python benchmarks/surrogate_candidate.py NAME --model-dir work/model_X --val-dir work/evalval_X \
        --what "what differs" [--shipped-test DIR]

Writes benchmarks/results/surrogate_NAME.json: per split the headline, sac-level summary and inference time of both
models, and both models' best epochs, training time and losses at their kept epochs. The shipped model's
rows are its committed evaluations, or with ``--shipped-test DIR`` / ``--shipped-val DIR`` its evaluation on the
candidate's test / validation runs (``iahemo evaluate --manifest MANIFEST --model surrogate/models/hemodynamics.pt
--split test -o DIR``) when the candidate was trained on another copy of the dataset.

The candidates measured so far (README "Training" and "Tried, measured, not kept"):

    mirror_ensemble: config/train_shipped.yaml + augment_mirror: true (session 22; work/model_s22, work/evalval_s22)
    more_geometries: the shipped options on the 206-run copy with the 7 runs of session 23 (work/model_s23,
        work/evalval_s23, --shipped-test work/evaltest_s21_on40)
    more_geometries_s24: the shipped options on the 226-run copy with 27 new geometries of sessions 23-24
        (work/model_s24, work/evalval_s24, --shipped-test work/evaltest_s21_on24, --shipped-val work/evalval_s21_on24)
    local_shape_ensemble: config/train_shipped.yaml + net: {absolute_xyz: false} (session 26; work/model_s26,
        work/evalval_s26; shipped)
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "surrogate" / "models"


def _evaluation(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"{path}: missing (the iahemo train / iahemo evaluate of the docstring writes it)")
    return json.loads(path.read_text())


def _row(d: dict) -> dict:
    sac = d["sac_summary"].get("surrogate", d["sac_summary"])
    return {"n_samples": d["n_samples"], "headline": d["headline"], "sac_summary": sac,
            "inference_s_median": d["inference_s_median"]}  # fmt: skip


def _training(record: dict) -> dict:
    """What a model's training record says of its members: time, options, data, kept epochs and their losses."""
    members = record["members"]
    kept = [m["history"][m["best_epoch"] - 1] for m in members]
    return {k: record[k] for k in ("train_seconds", "threads", "config")} | {
        "n_train_samples": record["n_train_samples"],
        "n_train_geometries": record.get("n_train_geometries"),
        "best_epochs": [m["best_epoch"] for m in members],
        "train_loss_at_kept_epoch": [h["train"] for h in kept],
        "val_loss_at_kept_epoch": [h["val"] for h in kept],
    }


def _same_runs(split: str, candidate: dict, shipped: dict, hint: str) -> None:
    """Both models scored on the same geometries, or the comparison means nothing."""
    if sorted(candidate["geometries"]) != sorted(shipped["geometries"]):
        raise SystemExit(
            f"{split}: the candidate was scored on {candidate['n_samples']} runs, the shipped model on "
            f"{shipped['n_samples']} runs of other geometries{hint}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name", help="the JSON is benchmarks/results/surrogate_NAME.json")
    ap.add_argument("--model-dir", type=Path, required=True, help="iahemo train's output folder")
    ap.add_argument("--val-dir", type=Path, required=True, help="iahemo evaluate --split val's output folder")
    ap.add_argument("--what", required=True, help="what the candidate changes, stored in the JSON")
    ap.add_argument("--shipped-test", type=Path, help="the shipped model evaluated on the candidate's test runs")
    ap.add_argument("--shipped-val", type=Path, help="the shipped model evaluated on the candidate's validation runs")
    args = ap.parse_args()

    from cfdgen.atomic import write_json
    from cfdgen.errors import IahemoError
    from surrogate.artifact import load_model

    try:
        model = load_model(args.model_dir / "hemodynamics.pt")
    except IahemoError as exc:
        raise SystemExit(str(exc)) from None
    members = model.training["members"]
    shipped_test = MODELS / "hemodynamics_evaluation.json"
    if args.shipped_test:
        shipped_test = args.shipped_test / "evaluation.json"
    shipped_val = MODELS / "hemodynamics_evaluation_val.json"
    if args.shipped_val:
        shipped_val = args.shipped_val / "evaluation.json"
    runs = {
        "test": (_evaluation(args.model_dir / "evaluation.json"), _evaluation(shipped_test)),
        "val": (_evaluation(args.val_dir / "evaluation.json"), _evaluation(shipped_val)),
    }
    for split, (candidate, shipped) in runs.items():
        _same_runs(split, candidate, shipped, f"; evaluate the shipped model on the candidate's {split} runs and pass "
                   f"--shipped-{split}")  # fmt: skip
    out = {
        "benchmark": f"surrogate_{args.name}",
        "what": f"{args.what}; {len(members)} members against the shipped model; test: iahemo train's evaluation, "
        "val: iahemo evaluate --split val",
        "training": _training(model.training),
        "test": _row(runs["test"][0]),
        "val": _row(runs["val"][0]),
        "shipped_for_comparison": {split: _row(shipped) for split, (_, shipped) in runs.items()}
        | {"training": _training(load_model(MODELS / "hemodynamics.pt").training)},
        "machine": machine(),
    }
    path = REPO / "benchmarks" / "results" / f"surrogate_{args.name}.json"
    write_json(path, out)
    print(path)


if __name__ == "__main__":
    main()
