"""One surrogate member per training-option variant, scored where the choice is made (validation) and on the
test geometries: does an option the shipped model does not use help it?

    .venv/bin/python benchmarks/surrogate_options.py [--manifest data/dataset_draft/manifest.json]
        [--out work/option_models] [--variants baseline weight_decay_0.05 ...]

Every variant is session 20's shipped options as one member (BASE: seed 0, one thread) plus its own overrides
(VARIANTS), trained side by side with ``iahemo train`` unless its folder holds a model already,
and scored by TAWSS ε and OSI MAE with surrogate.evaluate (a variant trained with mirrored clouds also without
its mirror views, ``one_view``). Writes benchmarks/results/surrogate_options.json.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from variants import variants_benchmark  # noqa: E402

# session 20's shipped options (before field_weights), as one member
BASE = {"epochs": 120, "patience": 40, "ema": 0.999, "threads": 1, "ensemble": 1, "seed": 0}
VARIANTS = {
    "baseline": {},
    # the training loss falls to ~0.07 while the validation loss stays at ~0.27: stronger decoupled weight decay
    "weight_decay_0.05": {"weight_decay": 0.05},
    # TAWSS is one column of six in the loss; the headline is TAWSS ε
    "tawss_weight_3": {"field_weights": {"tawss": 3.0}},
    "both": {"weight_decay": 0.05, "field_weights": {"tawss": 3.0}},
    # the loss on log TAWSS counts every point alike, ε counts a point's error by its TAWSS²
    "tawss_value_power_1": {"tawss_value_power": 1.0},
    "tawss_value_power_2": {"tawss_value_power": 2.0},
    "tawss_weight_3_seed_1": {"field_weights": {"tawss": 3.0}, "seed": 1},
    # a mirrored vessel is another valid geometry with the mirrored flow (TrainConfig.augment_mirror)
    "tawss_weight_3_mirror": {"field_weights": {"tawss": 3.0}, "augment_mirror": True},
    "tawss_weight_3_mirror_seed_1": {"field_weights": {"tawss": 3.0}, "augment_mirror": True, "seed": 1},
}


if __name__ == "__main__":
    variants_benchmark(
        "surrogate_options",
        BASE,
        VARIANTS,
        ("tawss_rel_l2", "osi_mae", "tap_rel_l2", "wss_mean_rel_l2"),
        "option_models",
    )
