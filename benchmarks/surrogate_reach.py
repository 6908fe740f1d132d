"""Does the network see far enough along the vessel? One member per receptive-field variant, scored where the
choice is made (validation) and on the test geometries.

    .venv/bin/python benchmarks/surrogate_reach.py [--manifest data/dataset_draft/manifest.json]
        [--out work/reach_models] [--variants baseline three_levels ...]

Why: the shipped network's two set-abstraction levels see about one vessel diameter around a point (16 nearest of
the 2,048 training points, then 16 of 512 centroids), and beyond that only the whole-cloud max — a feature with no
position. On the test runs of the 226-run dataset the shipped model's TAWSS error is mostly smooth: the error of its
fields averaged over each point's 256 nearest (a patch about two diameters across) is 13 % of the field, as large as
the rest (benchmarks/surrogate_error_scale.py). Entrance and junction flow several diameters upstream of a point set
its WSS there. Every variant is the shipped options (config/train_shipped.yaml) as one member (seed 0, one thread)
plus its own network overrides, trained side by side with ``iahemo train`` unless its folder holds a model already.
Writes benchmarks/results/surrogate_reach.json.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from variants import SCORES, shipped_one_member, variants_benchmark  # noqa: E402

BASE = shipped_one_member()
VARIANTS = {
    "baseline": {},
    # a third level: 32 centroids, each pooling 16 of the 128 within 0.8 cloud radii (~3 diameters)
    "three_levels": {
        "net": {
            "centroids": [512, 128, 32],
            "radii": [0.15, 0.35, 0.8],
            "neighbours": [16, 16, 16],
            "widths": [[32, 32, 64], [64, 64, 128], [128, 128, 128]],
        }
    },
    # the same two levels pooling twice the neighbours within wider balls
    "wide_neighbourhoods": {"net": {"radii": [0.25, 0.6], "neighbours": [32, 32]}},
    # the other way round: positions only as offsets within each neighbourhood, none as features (the answer
    # depends on the shape around a point, not on where it lies in the cloud's frame)
    "local_shape_only": {"net": {"absolute_xyz": False}},
}


if __name__ == "__main__":
    variants_benchmark("surrogate_reach", BASE, VARIANTS, SCORES, "reach_models")
