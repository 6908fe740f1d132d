"""Training of the segmentation network with a preset accuracy gate.

Volumes are split by case (each case is one geometry) into train / validation / test. Training draws augmented
patches (``seg_data.augmentation``); the validation Dice picks the kept weights; the test volumes are touched
once, at the end, through the same inference and post-processing as ``iahemo segment``, on their own grids.
When the gate's Dice is below ``min_dice`` the model goes to ``DIR/rejected/`` instead of ``DIR/`` and training
ends with ``SegGateFailed`` — a model that failed its gate is never where inference looks for one.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from cfdgen.atomic import write_json, write_text
from cfdgen.errors import ConfigError, IahemoError
from surrogate.seg_data import LABEL_NAMES, Preprocess, Volume, augmentation, find_pairs, load_volume, to_native
from surrogate.seg_metrics import CLASSES, dice, label_metrics
from surrogate.seg_net import (
    SegModel,
    SegNetConfig,
    build_net,
    load_seg_model,
    postprocess,
    save_seg_model,
    window_probabilities,
)
from surrogate.train import from_options

MODEL_FILE = "segmentation.pt"


class SegGateFailed(IahemoError):
    """The trained network's test Dice is below the configured gate."""


@dataclass(frozen=True)
class TrainSegConfig:
    steps: int = 1500
    batch_size: int = 2
    patch: int = 64  # training patch edge, working voxels (25.6 mm at 0.4 mm)
    lr: float = 2e-3
    weight_decay: float = 1e-5
    val_every: int = 100
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    min_dice: float = 0.9  # the gate
    gate_class: str = "lumen"  # vessel + aneurysm: what reconstruction contours
    # The validation Dice that picks the kept weights. Lumen trains the boundary reconstruction contours; vessel
    # also weighs where the sac's neck is put (the vessel label's error is mostly at the neck, see the README).
    select_class: str = "lumen"
    # Training crops centred on background / vessel / aneurysm voxels in these ratios (seg_data.augmentation);
    # None: on lumen / background voxels 2:1, as the shipped model was trained. Fine-tuning it 3,000 steps with
    # 1:1:1 (to find the small sacs it misses) missed the same two test sacs and lowered the test vessel Dice
    # (0.914 against 0.928), so None stays the default.
    crop_ratios: tuple[float, float, float] | None = None
    # Share of training patches that get skull base beside the lumen (seg_data.bone_plates: bone plates, air cells
    # walled by bone): the network labelled the sphenoid sinus's walls as vessel on the real TopCoW CTA, and the
    # cohort's smooth, distant bone ellipsoids do not teach otherwise. The shipped model used 0.5 (README: a third
    # fewer lumen voxels next to air on TopCoW, unseen synthetic vessel Dice unchanged); 0 keeps the old recipe.
    bone_prob: float = 0.0
    roi: int = 160  # inference window edge stored in the model
    seed: int = 0
    threads: int = 1  # see surrogate.train.TrainConfig.threads
    init: str | None = None  # start from this model's weights (fine-tuning)
    # Fixed test cases (default: drawn by test_fraction). Fine-tuning must keep the test cases of the model it
    # starts from, or the new test set would hold cases that model trained on.
    test_cases: list[str] | None = None
    net: dict = field(default_factory=dict)
    preprocess: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or self.val_every < 1:
            raise ConfigError("steps, batch_size and val_every must be >= 1")
        if self.patch < 16 or self.patch % 8:
            raise ConfigError(f"patch must be a multiple of 8 and at least 16 (got {self.patch})")
        if not 0 < self.test_fraction < 1 or not 0 <= self.val_fraction < 1:
            raise ConfigError("test_fraction must be in (0, 1) and val_fraction in [0, 1)")
        r = self.crop_ratios
        if r is not None and (len(r) != len(LABEL_NAMES) or min(r) < 0 or sum(r) <= 0):
            raise ConfigError(
                f"crop_ratios must be one non-negative number per label ({', '.join(LABEL_NAMES)}), not all 0 "
                f"(got {list(self.crop_ratios)})"
            )
        for key in ("gate_class", "select_class"):
            if getattr(self, key) not in CLASSES:
                raise ConfigError(f"{key} must be one of {', '.join(CLASSES)} (got {getattr(self, key)!r})")
        if not 0 <= self.bone_prob <= 1:
            raise ConfigError(f"bone_prob must be in [0, 1] (got {self.bone_prob})")
        if not 0 <= self.min_dice <= 1:
            raise ConfigError(f"min_dice must be in [0, 1] (got {self.min_dice})")

    @classmethod
    def from_dict(cls, d: dict) -> TrainSegConfig:
        return from_options(cls, d, "segmentation training")


def split_cases(names: list[str], cfg: TrainSegConfig) -> dict[str, list[str]]:
    """Case-level split (never by patch): at least one test and one training case; validation when ≥ 4 cases."""
    n = len(names)
    if n < 2:
        raise IahemoError(f"segmentation training needs at least 2 cases (got {n}): one to train, one to test")
    order = [names[i] for i in np.random.default_rng(cfg.seed).permutation(n)]
    if cfg.test_cases is not None:
        missing = sorted(set(cfg.test_cases) - set(names))
        if missing or not cfg.test_cases:
            raise ConfigError(f"test_cases not in the data: {', '.join(missing) or '(empty list)'}")
        test = [c for c in order if c in set(cfg.test_cases)]
        order = test + [c for c in order if c not in set(cfg.test_cases)]
    n_test = len(cfg.test_cases) if cfg.test_cases is not None else max(1, round(cfg.test_fraction * n))
    n_val = max(1, round(cfg.val_fraction * n)) if n >= 4 and cfg.val_fraction > 0 else 0
    if n - n_test - n_val < 1:
        raise IahemoError(f"no training case left after {n_test} test and {n_val} validation cases")
    return {
        "test": sorted(order[:n_test]),
        "val": sorted(order[n_test : n_test + n_val]),
        "train": sorted(order[n_test + n_val :]),
    }


def _batch(aug, items: list[dict], rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for i in rng.integers(len(items), size=size):
        s = aug(items[i])[0]
        xs.append(torch.as_tensor(np.asarray(s["image"])))
        ys.append(torch.as_tensor(np.asarray(s["label"])))
    return torch.stack(xs).float(), torch.stack(ys).long()


def _val_dice(net, vols: list[Volume], roi: int) -> dict[str, float]:
    """Mean Dice on the working grid (no resampling, no post-processing): cheap enough to run every few steps.
    The aneurysm mean is over the volumes that have one."""
    out = {k: [] for k in CLASSES}
    for v in vols:
        pred = np.argmax(window_probabilities(net, v.image, roi), axis=0)
        for k in out:
            truth = np.isin(v.labels, CLASSES[k])
            if truth.any() or k != "aneurysm":
                out[k].append(dice(np.isin(pred, CLASSES[k]), truth))
    net.train()
    return {k: float(np.mean(x)) for k, x in out.items() if x}


def evaluate(model: SegModel, vols: list[Volume]) -> dict:
    """Per-case and mean Dice / HD95 on each volume's own grid, through inference and post-processing.
    The aneurysm mean is over the cases that have an aneurysm label."""
    cases = {}
    for v in vols:
        prob = to_native(window_probabilities(model.net, v.image, model.roi), v.prepared)
        pred = postprocess(np.argmax(prob, axis=0).astype(np.uint8), float(np.prod(v.spacing)))
        m = label_metrics(pred, v.native_labels, v.spacing)
        # HD95 is undefined (inf) where a class was missed altogether: null in the JSON, counted in the means
        cases[v.name] = {k: {**c, "hd95_mm": c["hd95_mm"] if np.isfinite(c["hd95_mm"]) else None} for k, c in m.items()}
    mean = {}
    for k in CLASSES:
        rows = [c[k] for name, c in cases.items() if k != "aneurysm" or (vols_by(vols, name).native_labels == 2).any()]
        if rows:
            hd = [r["hd95_mm"] for r in rows if r["hd95_mm"] is not None]
            mean[k] = {
                "dice": float(np.mean([r["dice"] for r in rows])),
                "hd95_mm": float(np.mean(hd)) if hd else None,
                "missed": len(rows) - len(hd),
            }
    return {"mean": mean, "cases": cases}


def vols_by(vols: list[Volume], name: str) -> Volume:
    return next(v for v in vols if v.name == name)


def train_segmentation(
    roots: list[str | Path], out_dir: str | Path, cfg: TrainSegConfig = TrainSegConfig(), progress: bool = True
) -> dict:
    from monai.losses import DiceCELoss

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    pre = Preprocess.from_dict(cfg.preprocess)
    pairs = [p for r in roots for p in find_pairs(r)]
    names = [p.name for p in pairs]
    if len(set(names)) != len(names):
        raise IahemoError("two training cases share a name; case names must be unique across the data folders")
    vols = {p.name: load_volume(p, pre) for p in tqdm(pairs, desc="loading volumes", disable=not progress)}
    split = split_cases(names, cfg)
    train = [{"image": vols[n].image[None], "label": vols[n].labels[None]} for n in split["train"]]
    val = [vols[n] for n in split["val"]]

    if cfg.init:
        init = load_seg_model(cfg.init)
        net, net_cfg = init.net, init.config
    else:
        net_cfg = SegNetConfig.from_dict(cfg.net)
        net = build_net(net_cfg)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=cfg.lr * 0.05)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    aug = augmentation(
        cfg.patch, cfg.seed, None if cfg.crop_ratios is None else tuple(cfg.crop_ratios), cfg.bone_prob
    )
    rng = np.random.default_rng(cfg.seed)
    history, running, best, best_state = [], [], -1.0, None
    t0 = time.perf_counter()
    bar = tqdm(range(1, cfg.steps + 1), desc="training segmentation", disable=not progress)
    for step in bar:
        x, y = _batch(aug, train, rng, cfg.batch_size)
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        if not math.isfinite(loss.item()):
            raise IahemoError(f"segmentation training diverged at step {step} (loss {loss.item()})")
        loss.backward()
        opt.step()
        sched.step()
        running.append(loss.item())
        if step % cfg.val_every == 0 or step == cfg.steps:
            row = {"step": step, "loss": float(np.mean(running)), "seconds": time.perf_counter() - t0}
            running = []
            if val:
                row.update({f"val_dice_{k}": d for k, d in _val_dice(net, val, cfg.roi).items()})
            score = row.get(f"val_dice_{cfg.select_class}", -row["loss"])
            if score > best:
                best, best_state = score, {k: v.detach().clone() for k, v in net.state_dict().items()}
                row["kept"] = True
            history.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", val=f"{row.get(f'val_dice_{cfg.select_class}', np.nan):.3f}")
    net.load_state_dict(best_state)
    net.eval()
    model = SegModel(net, net_cfg, pre, cfg.roi)
    test = evaluate(model, [vols[n] for n in split["test"]])
    gate_dice = test["mean"][cfg.gate_class]["dice"]
    passed = gate_dice >= cfg.min_dice
    model.metrics = {
        "test": test["mean"],
        "gate": {"class": cfg.gate_class, "min_dice": cfg.min_dice, "dice": gate_dice, "passed": passed},
    }
    model.training = {
        "config": asdict(cfg),
        "split": split,
        "history": history,
        "seconds": time.perf_counter() - t0,
        "data": [str(r) for r in roots],
    }
    model.card = model_card(model, len(names))
    out = Path(out_dir)
    target = out / MODEL_FILE if passed else out / "rejected" / MODEL_FILE
    save_seg_model(model, target)
    report = {
        "model": str(target),
        "split": split,
        "test": test,
        "gate": model.metrics["gate"],
        "history": history,
        "seconds": model.training["seconds"],
    }
    write_json(out / "evaluation.json", report)
    write_text(out / "card.md", model.card)
    plot_seg_curves(history, out / "curves.png")
    if not passed:
        raise SegGateFailed(
            f"test Dice ({cfg.gate_class}) {gate_dice:.3f} is below the gate {cfg.min_dice:.3f}: model written to "
            f"{target}, not {out / MODEL_FILE} (see {out / 'evaluation.json'})"
        )
    return report


def _hd95_cell(v: dict) -> str:
    cell = "–" if v["hd95_mm"] is None else f"{v['hd95_mm']:.2f}"
    return cell + (f" ({v['missed']} case(s) missed)" if v.get("missed") else "")


def model_card(model: SegModel, n_cases: int) -> str:
    t, g = model.metrics["test"], model.metrics["gate"]
    rows = "\n".join(f"| {k} | {v['dice']:.3f} | {_hd95_cell(v)} |" for k, v in t.items())
    split = model.training["split"]
    init = model.training["config"].get("init")
    init = f"\nFine-tuned from `{init}`." if init else ""
    kept = [r["step"] for r in model.training["history"] if r.get("kept")]
    select = model.training["config"].get("select_class", "lumen")
    kept = f" Kept weights: the best validation Dice ({select}), step {kept[-1]:,}." if kept else ""
    return f"""# Segmentation model card

MONAI 3D U-Net (channels {list(model.config.channels)}, {model.config.num_res_units} residual unit(s) per level),
labels background / vessel / aneurysm, on a {model.preprocess.working_spacing} mm isotropic working grid
(CT: HU window {list(model.preprocess.ct_window)}; MR: percentiles {list(model.preprocess.mr_percentiles)}).

**Trained on:** {n_cases} cases from {", ".join(model.training["data"])} — split by case: {len(split["train"])}
train, {len(split["val"])} validation, {len(split["test"])} test. If these are iahemo's synthetic CTA volumes, the
model has seen **synthetic images only**; expect lower accuracy on real scans (different noise, contrast timing,
vessel calibre and neighbouring anatomy).

**Held-out test cases** (own grid, after post-processing):

| class | Dice | HD95 (mm) |
|---|---|---|
{rows}

Gate: Dice ({g["class"]}) ≥ {g["min_dice"]} → {"passed" if g["passed"] else "FAILED"} ({g["dice"]:.3f}).{init}
Training: {model.training["config"]["steps"]} steps of {model.training["config"]["batch_size"]} patches of
{model.training["config"]["patch"]}³, {model.training["seconds"] / 60:.1f} min on CPU.{kept}
"""


def plot_seg_curves(history: list[dict], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cfdgen.plots import save_figure

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    steps = [r["step"] for r in history]
    ax.plot(steps, [r["loss"] for r in history], color="C0", label="training loss (Dice + CE)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if any("val_dice_lumen" in r for r in history):
        ax2 = ax.twinx()
        for k, c in (("vessel", "C1"), ("aneurysm", "C3"), ("lumen", "C2")):
            ax2.plot(
                steps,
                [r.get(f"val_dice_{k}", np.nan) for r in history],
                color=c,
                ls="--",
                label=f"validation Dice ({k})",
            )
        ax2.set_ylabel("Dice")
        ax2.set_ylim(0, 1)
        ax2.legend(loc="center right", fontsize=7)
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title("segmentation: training curves")
    return save_figure(fig, path)
