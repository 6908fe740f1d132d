"""Does the per-point wall context help the surrogate, and which composition should it ship with?

    .venv/bin/python benchmarks/surrogate_context.py [--manifest data/dataset_draft/manifest.json]
        [--out work/context_models]

Two variants with the shipped model's options (3 members, 120 epochs at most, patience 40, two threads) and the
compositions of Dec 2 (channel 3 off the sac, the sac-level model), trained with ``iahemo train`` unless their
folder holds a model already: ``none`` (no wall context; the Dec 2 shipped model is this variant) and ``context``
(TrainConfig.context). Each is scored on the validation and test geometries as composed, as the network alone
and as the network everywhere with the sac-level model — the three ways the same weights can answer — with the
sac-level quantities. Writes benchmarks/results/surrogate_context.json. The composition is chosen on ``val``.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402
from variants import trained_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OPTIONS = {"epochs": 120, "patience": 40, "threads": 2, "lofi_outside_sac": True, "sac_level": True}
VARIANTS = {"none": {"context": False}, "context": {"context": True}}
WAYS = {"surrogate": "composed", "network": "network_alone", "network_sac_level": "network_sac_level"}
SAC = ("sac_tawss_rel", "sac_ntawss_rel", "lsa_abs", "sac_osi_max_abs")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", default=str(REPO / "data" / "dataset_draft" / "manifest.json"))
    ap.add_argument("--out", default=str(REPO / "work" / "context_models"))
    args = ap.parse_args()

    import torch

    from cfdgen.atomic import write_json
    from surrogate.artifact import load_model
    from surrogate.data import load_clouds
    from surrogate.evaluate import evaluate

    torch.set_num_threads(2)
    clouds = load_clouds(args.manifest)
    result = {"benchmark": "surrogate_context", "manifest": args.manifest, "options": OPTIONS, "variants": {}}
    for name, options in VARIANTS.items():
        model = load_model(trained_model(Path(args.out) / name, args.manifest, {**OPTIONS, **options}))
        row = {"options": options, "best_epochs": [m["best_epoch"] for m in model.training["members"]]}
        for split in ("val", "test"):
            r = evaluate(model, clouds, None, split, turned=False)
            row[split] = {"n_samples": r["n_samples"]}
            for method, way in WAYS.items():
                fields, where, sac = r["summary"][method], r["where_summary"][method], r["sac_summary"][method]
                row[split][way] = {
                    "tawss_rel_l2": fields["tawss"]["rel_l2"]["mean"],
                    "tawss_rel_l2_off_sac": where["tawss"]["rel_l2_off_sac"]["mean"],
                    "tawss_rel_l2_sac": where["tawss"]["rel_l2_sac"]["mean"],
                    "osi_mae": fields["osi"]["mae"]["mean"],
                    **{k: sac[k]["mean"] for k in SAC},
                }
        result["variants"][name] = row
        print(name, row, flush=True)
    result["machine"] = machine()
    write_json(REPO / "benchmarks" / "results" / "surrogate_context.json", result)


if __name__ == "__main__":
    main()
