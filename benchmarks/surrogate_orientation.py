"""Does the surrogate depend on the vessel's pose, and does a canonical frame or rotation augmentation help?

    .venv/bin/python benchmarks/surrogate_orientation.py [--manifest data/dataset_draft/manifest.json]
        [--out work/orientation] [--epochs 120] [--patience 40]

Trains one ensemble member per variant with ``iahemo train`` (the same seed, everything else at the defaults):
``none`` (the samples' own coordinates), ``pca`` (TrainConfig.frame: the principal-axes frame) and ``rotate``
(TrainConfig.augment_rotation: a random rotation of every cloud at every step). A variant whose model folder
exists is evaluated, not retrained. Each is scored on the validation and test geometries as it is and turned to
another pose (``surrogate.evaluate.turned_prediction``), composed (the shipped way) and as the network alone.
Writes benchmarks/results/surrogate_orientation.json.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402
from variants import trained_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"none": {"frame": "none"}, "pca": {"frame": "pca"}, "rotate": {"frame": "none", "augment_rotation": True}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", default=str(REPO / "data" / "dataset_draft" / "manifest.json"))
    ap.add_argument("--out", default=str(REPO / "work" / "orientation"))
    ap.add_argument("--epochs", type=int, default=120)
    ap.add_argument("--patience", type=int, default=40)
    args = ap.parse_args()

    import torch

    from cfdgen.atomic import write_json
    from surrogate.artifact import load_model
    from surrogate.data import load_clouds
    from surrogate.evaluate import evaluate, headline

    torch.set_num_threads(1)
    out = Path(args.out)
    clouds = load_clouds(args.manifest)
    result = {"benchmark": "surrogate_orientation", "manifest": args.manifest, "variants": {}, "machine": machine()}
    for name, options in VARIANTS.items():
        cfg = {"epochs": args.epochs, "patience": args.patience, "ensemble": 1, **options}
        model = load_model(trained_model(out / name, args.manifest, cfg))
        row = {"options": options, "best_epoch": model.training["members"][0]["best_epoch"]}
        for split in ("val", "test"):
            h = headline(evaluate(model, clouds, None, split))
            row[split] = {
                "tawss_rel_l2": h["tawss_rel_l2"],
                "network_alone_tawss_rel_l2": h["network_alone_tawss_rel_l2"],
                "turned_tawss_rel_l2": h["turned_tawss_rel_l2"],
                "osi_mae": h["osi_mae"],
            }
        result["variants"][name] = row
        print(name, row, flush=True)
    write_json(REPO / "benchmarks" / "results" / "surrogate_orientation.json", result)


if __name__ == "__main__":
    main()
