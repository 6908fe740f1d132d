"""The shipped options plus mirrored clouds (TrainConfig.augment_mirror) as a full ensemble, beside the shipped
model, on the validation and test geometries. Collects what these commands wrote (it trains nothing):

    iahemo train --manifest data/dataset_draft/manifest.json --config MIRROR.yaml -o work/model_s22
        (MIRROR.yaml: config/train_shipped.yaml + ``augment_mirror: true``; writes the test evaluation)
    iahemo evaluate --manifest data/dataset_draft/manifest.json --model work/model_s22/hemodynamics.pt \
        --split val -o work/evalval_s22
    .venv/bin/python benchmarks/surrogate_mirror_ensemble.py [--model-dir work/model_s22] [--val-dir work/evalval_s22]

Writes benchmarks/results/surrogate_mirror_ensemble.json: per split the headline, sac-level summary and inference
time of both models, and the mirror members' best epochs, training time and losses at their kept epochs.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "surrogate" / "models"


def _row(path: Path) -> dict:
    d = json.loads(path.read_text())
    sac = d["sac_summary"].get("surrogate", d["sac_summary"])
    return {"n_samples": d["n_samples"], "headline": d["headline"], "sac_summary": sac,
            "inference_s_median": d["inference_s_median"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", type=Path, default=REPO / "work" / "model_s22")
    ap.add_argument("--val-dir", type=Path, default=REPO / "work" / "evalval_s22")
    args = ap.parse_args()

    from cfdgen.atomic import write_json
    from surrogate.artifact import load_model

    model = load_model(args.model_dir / "hemodynamics.pt")
    if not model.training["config"].get("augment_mirror"):
        raise SystemExit(f"{args.model_dir}: not trained with augment_mirror")
    members = model.training["members"]
    kept = [m["history"][m["best_epoch"] - 1] for m in members]
    training = {k: model.training[k] for k in ("train_seconds", "threads", "config")}
    training |= {"best_epochs": [m["best_epoch"] for m in members],
                 "train_loss_at_kept_epoch": [h["train"] for h in kept],
                 "val_loss_at_kept_epoch": [h["val"] for h in kept]}  # fmt: skip
    out = {
        "benchmark": "surrogate_mirror_ensemble",
        "what": "the shipped options (config/train_shipped.yaml) + augment_mirror, 3 members, against the shipped "
        "model; test: iahemo train's evaluation, val: iahemo evaluate --split val; not shipped",
        "training": training,
        "test": _row(args.model_dir / "evaluation.json"),
        "val": _row(args.val_dir / "evaluation.json"),
        "shipped_for_comparison": {
            "test": _row(MODELS / "hemodynamics_evaluation.json"),
            "val": _row(MODELS / "hemodynamics_evaluation_val.json"),
        },
        "machine": machine(),
    }
    path = REPO / "benchmarks" / "results" / "surrogate_mirror_ensemble.json"
    write_json(path, out)
    print(path)


if __name__ == "__main__":
    main()
