"""Training of the hemodynamics surrogate: an ensemble of point networks on the manifest's training geometries,
early-stopped on its validation geometries, written as one model artifact (surrogate.artifact).

Every step draws a fresh random subset of each cloud's points (``points``), which is both the CPU budget and the
augmentation: the network never sees the same cloud twice. Members differ only in their seed; their spread is
the predictive uncertainty reported by ``predict``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from cfdgen.errors import ConfigError, IahemoError
from surrogate import ood, sac_level
from surrogate.artifact import SurrogateModel, file_sha256
from surrogate.data import (
    CHANNEL3_KEYS,
    FRAMES,
    LOG_FLOOR,
    MIRROR,
    TARGETS,
    TAWSS,
    Cloud,
    Normalisation,
    channel3_source,
    in_frame,
    load_clouds,
    stack_targets,
    target_columns,
    vector_columns,
)
from surrogate.pointnet import PointNetConfig, PointNetPP


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60
    batch_size: int = 2
    points: int = 2048  # points per cloud per step
    lr: float = 2e-3
    weight_decay: float = 1e-5
    lr_min_fraction: float = 0.05  # cosine schedule down to lr × this
    patience: int = 15  # epochs without validation improvement before stopping
    ensemble: int = 3
    seed: int = 0
    use_lofi: bool = True  # False: the channel-3 ablation
    # TAWSS learned relative to channel 3's |WSS| (needs use_lofi). On the 39-run draft dataset (4 held-out
    # geometries) it lowered TAWSS ε from 52.4 % to 49.9 % but raised the sac-averaged TAWSS error (median 81 % ->
    # 162 %), so it is off by default.
    lofi_residual: bool = False
    # Outside the sac, answer with channel 3 itself and use the network on the sac (surrogate.predict.
    # compose_outside_sac; needs use_lofi). On the 52-run draft dataset it lowered the shipped model's TAWSS ε
    # from 50.5 % to 34.7 % (9 validation runs) and from 47.1 % to 33.4 % (6 test runs). Off since the wall context
    # (Dec 2026): with it the network alone beats channel 3 off the sac — same weights on the 148-run dataset
    # (benchmarks/results/surrogate_context.json),
    # validation (14 runs) TAWSS ε 24.4 % alone against 34.5 % composed (off the sac 23.3 % against 33.7 %).
    lofi_outside_sac: bool = False
    # The mean WSS vector answered as channel 3's direction × the predicted TAWSS × (1 − 2·predicted OSI)
    # (surrogate.predict.compose_direction; needs use_lofi; inference only, the network is trained the same). For a
    # steady-CFD channel 3, whose direction is the CFD's own in most of the wall: one member on 88 runs
    # (session 29), test mean WSS ε 16.5 % from the network, 9.2 % from the steady vector alone, 7.8 % composed.
    # The Poiseuille-Dean vector only follows the centerline, so off by default.
    lofi_direction: bool = False
    # Loss weight, outside the sac, of the fields channel 3 answers there (with lofi_outside_sac the network's
    # values are not used there; 1.0: every point counts the same). Pressure always counts fully. Measured on the
    # 52-run draft dataset: 0.2 gave composed TAWSS ε 34.9 % (val) / 32.9 % (test) against 34.7 % / 33.4 % at 1.0,
    # i.e. no gain in the sac; so 1.0.
    outside_sac_weight: float = 1.0
    # Loss weight per target field (registry name -> weight; unnamed fields 1). The mean WSS vector takes three
    # columns and TAWSS one, so with equal weights the headline field is a sixth of the loss. One member on the
    # 199-run dataset (benchmarks/results/surrogate_options.json): TAWSS ε 23.6 / 23.3 % (val / test) with equal
    # weights, 22.2 / 22.0 % with {tawss: 3} (seed 1: 22.6 / 22.3 %), OSI MAE +0.0006-0.0009; the shipped model's
    # options (config/train_shipped.yaml) use it.
    field_weights: dict = field(default_factory=dict)
    # TAWSS's loss weight at each point times (TAWSS / its cloud mean)^p, the cloud's weights keeping mean 1 (0: off).
    # The loss is on log TAWSS, where every point counts the same; ε is on TAWSS itself, where a point's squared
    # error counts as TAWSS² — p = 2 makes the two agree to first order. Measured (surrogate_options.json): p = 1
    # 23.3 / 23.6 %, p = 2 36.2 / 33.0 % against 23.6 / 23.3 % without — the low-WSS wall must count too. Off.
    tawss_value_power: float = 0.0
    # Set the sac's mean TAWSS relative to the parent artery with a ridge regression on the morphology vector
    # (surrogate.sac_level), fitted on the training runs, and keep the network's pattern in the sac. With the
    # session-8 weights on the 55-run dataset: sac-averaged TAWSS error on the 8 test runs 141 % -> 38 % (mean),
    # TAWSS ε 34.0 % -> 33.7 %. Off since the wall context (Dec 2026): with it the network's own sac level is
    # better — same weights on the 148-run dataset, validation: sac-averaged TAWSS error 23.0 % alone against 25.6 %
    # with the ridge, normalised sac TAWSS 15.7 % against 22.7 %, LSA 0.040 against 0.048.
    sac_level: bool = False
    # Orientation: "pca" turns every cloud into its principal-axes frame (surrogate.data.canonical_rotation), so
    # a vessel's pose in the scanner does not change the answer; "none" keeps the sample's coordinates. One member
    # each on the 55-run dataset (benchmarks/surrogate_orientation.py): network alone TAWSS ε 40.5 / 39.5 % (val /
    # test) in the frame against 53.9 / 60.2 % without it, and 54.5 / 43.9 % with rotation augmentation.
    frame: str = "pca"
    # A random rotation of each cloud at every step (points, normals, channel 3 and the mean WSS vector target
    # together): orientation learned from the data rather than fixed by a frame. Off: the frame did better.
    augment_rotation: bool = False
    # Each cloud mirrored (third axis of the frame negated) at random at every step. Exact for the data: the
    # Navier-Stokes equations are invariant under reflection, so a mirrored vessel with the same inflow has the
    # mirrored flow (scalars unchanged, the mean WSS vector mirrored; the wall context holds scalars only), and no
    # rotation turns a vessel into its mirror image, so the principal-axes frame keeps them apart (a mirrored
    # vessel's frame coordinates are its mirror's with the third one negated; test). Twice the geometries for free.
    # The model then also answers with the mirror image (SurrogateModel.mirror_views). One member per seed on the
    # 199-run dataset, with {tawss: 3} (benchmarks/results/surrogate_options.json), TAWSS ε val / test: seed 0
    # 22.6 / 20.7 % against 22.2 / 22.0 % without mirrors, seed 1 20.2 / 20.3 % against 22.6 / 22.3 %; the mirror
    # views' share: 0.3-0.6 points. Three members with config/train_shipped.yaml + mirrors (session 22): TAWSS ε
    # 21.1 / 19.7 % against the shipped ensemble's 20.6 / 20.0 % — the gain of one member is what an ensemble already
    # has, at 1.4× the inference time. Off.
    augment_mirror: bool = False
    # Per-point wall context (cfdgen.wall_context: distances to junctions and branch ends, bend curvature and
    # side, sac distance, taper) as extra point inputs beside the normals and channel 3. On the 148-run dataset
    # (benchmarks/results/surrogate_context.json)
    # (same options, seeds and weights otherwise): network alone TAWSS ε 30.6 -> 24.4 % (validation, 14 runs),
    # 30.9 -> 26.7 % (test, 28 runs; off the sac 29.3 -> 25.5 %, on it 67.5 -> 53.3 %).
    context: bool = True
    # One thread: on a loaded 2-core machine (CFD running beside) torch's thread barriers made two threads 3-4×
    # slower than one (measured); on an idle machine two gain ~1.5×.
    threads: int = 1
    eval_points: int | None = None  # points per cloud when validating (None: all)
    # Exponential moving average of the weights, per step (0: off). Validation, early stopping and the kept
    # weights use the average: the cosine schedule is still near its top when the best epoch comes (30-70 of
    # 120), so single-epoch weights are noisy. On the 199-run dataset the members without it scored 25.0-29.8 %
    # TAWSS ε on the test runs (ensemble 24.1 %; validation 23.1 %), with 0.999 23.2-23.6 % (21.0 %; 22.4 %).
    # Off by default: over a short training (a few hundred steps) the average stays near the initial weights;
    # the shipped model's options are in config/train_shipped.yaml.
    ema: float = 0.0
    net: dict = field(default_factory=dict)  # PointNetConfig overrides (centroids, radii, widths, ...)

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.points < 16 or self.ensemble < 1:
            raise ConfigError("epochs, batch_size, ensemble must be >= 1 and points >= 16")
        if not 0 < self.lr < 1:
            raise ConfigError(f"lr must be in (0, 1) (got {self.lr})")
        if self.frame not in FRAMES:
            raise ConfigError(f"frame must be one of {', '.join(FRAMES)} (got {self.frame!r})")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema must be in [0, 1) (got {self.ema})")
        if not isinstance(self.field_weights, dict):
            raise ConfigError(f"field_weights must map target fields to weights (got {self.field_weights!r})")
        bad = {k: v for k, v in self.field_weights.items() if k not in TARGETS or not _is_number(v) or not v > 0}
        if bad:
            names = ", ".join(TARGETS)
            raise ConfigError(f"field_weights must name target fields ({names}) with weights > 0 (got {bad})")
        if self.tawss_value_power < 0:
            raise ConfigError(f"tawss_value_power must be >= 0 (got {self.tawss_value_power})")
        if not 0 <= self.outside_sac_weight <= 1:
            raise ConfigError(f"outside_sac_weight must be in [0, 1] (got {self.outside_sac_weight})")

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return from_options(cls, d, "training")


# Option types that a YAML value can be checked against before __post_init__ compares it with numbers
# (annotations are strings here: ``from __future__ import annotations``).
_SIMPLE_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "dict": (dict,)}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def from_options(cls, d: dict, what: str):
    """``cls(**d)`` for a dataclass of options read from YAML, naming every key it does not know and every value
    of the wrong type (simple types only: int, float, bool, str, dict, each possibly ``| None``)."""
    unknown = set(d) - set(cls.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown {what} options: {', '.join(sorted(unknown))}")
    for key, value in d.items():
        annotation = str(cls.__dataclass_fields__[key].type)
        optional = annotation.endswith(" | None")
        allowed = _SIMPLE_TYPES.get(annotation.removesuffix(" | None"))
        if allowed is None or (optional and value is None):
            continue
        if isinstance(value, bool) and bool not in allowed or not isinstance(value, allowed):
            raise ConfigError(f"{what} option {key} must be {annotation} (got {value!r})")
    return cls(**d)


@dataclass(eq=False)
class Tensors:
    """One cloud ready for the network (float32)."""

    xyz: torch.Tensor  # (n, 3)
    feats: torch.Tensor  # (n, 6) normals + lofi
    glob: torch.Tensor  # (k,)
    y: torch.Tensor  # (n, c) normalised targets
    w: torch.Tensor  # (n, c) loss weights


@dataclass(frozen=True, eq=False)
class LossWeighting:
    """How much each point's error in each output column counts (TrainConfig's ``outside_sac_weight``,
    ``field_weights`` and ``tawss_value_power``)."""

    outside_sac: float = 1.0
    fields: dict = field(default_factory=dict)
    tawss_value_power: float = 0.0

    @classmethod
    def of(cls, cfg: TrainConfig) -> LossWeighting:
        # The ablation (no channel 3) and a model that uses the network everywhere weigh every point the same.
        outside = cfg.outside_sac_weight if cfg.use_lofi and cfg.lofi_outside_sac else 1.0
        return cls(outside, dict(cfg.field_weights), cfg.tawss_value_power)


def loss_weights(cloud: Cloud, targets: tuple[str, ...], weighting: LossWeighting = LossWeighting()) -> np.ndarray:
    """(n, c): each column its field's weight (``fields``, default 1), times ``outside_sac`` for the channel-3
    fields' columns at points off the sac, and the TAWSS column times (TAWSS / its cloud mean) **
    ``tawss_value_power`` (0: not)."""
    names = [k for k, _ in target_columns(targets)]
    cols = np.array([k in CHANNEL3_KEYS for k in names])
    off_sac = np.asarray(cloud.sac) == 0
    w = np.tile(np.array([float(weighting.fields.get(k, 1.0)) for k in names], dtype=np.float32), (len(off_sac), 1))
    w[np.ix_(off_sac, cols)] *= weighting.outside_sac
    if weighting.tawss_value_power:
        v = np.maximum(np.asarray(cloud.fields[TAWSS], dtype=np.float64), LOG_FLOOR) ** weighting.tawss_value_power
        w[:, names.index(TAWSS)] *= (v / v.mean()).astype(np.float32)
    return w


def weighted_mse(pred: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.sum(w * (pred - y) ** 2) / torch.clamp(torch.sum(w), min=1e-12)


def to_tensors(
    cloud: Cloud, norm: Normalisation, use_lofi: bool, weighting: LossWeighting = LossWeighting()
) -> Tensors:
    return Tensors(
        torch.as_tensor(norm.coords(cloud.points), dtype=torch.float32),
        torch.as_tensor(norm.point_features(cloud.normals, cloud.lofi, use_lofi, cloud.context), dtype=torch.float32),
        torch.as_tensor(norm.globals_(cloud.globals_, cloud.global_names), dtype=torch.float32),
        torch.as_tensor(
            norm.encode_targets(stack_targets(cloud.fields, tuple(norm.targets)), cloud.p_ref, cloud.lofi),
            dtype=torch.float32,
        ),
        torch.as_tensor(loss_weights(cloud, tuple(norm.targets), weighting)),
    )


def _batch(items: list[Tensors], n: int | None, gen: torch.Generator | None):
    xs, fs, gs, ys, ws = [], [], [], [], []
    m = min(len(t.xyz) for t in items) if n is None else n
    for t in items:
        idx = torch.randperm(len(t.xyz), generator=gen)[:m] if gen is not None else torch.arange(m)
        xs.append(t.xyz[idx])
        fs.append(t.feats[idx])
        gs.append(t.glob)
        ys.append(t.y[idx])
        ws.append(t.w[idx])
    return torch.stack(xs), torch.stack(fs), torch.stack(gs), torch.stack(ys), torch.stack(ws)


def network_config(norm: Normalisation, n_feats: int, overrides: dict) -> PointNetConfig:
    base = PointNetConfig(in_point=n_feats, in_global=len(norm.global_names), out=len(norm.target_mean))
    return PointNetConfig.from_dict({**base.to_dict(), **overrides})


@torch.no_grad()
def validation_loss(net: PointNetPP, data: list[Tensors], n: int | None) -> float:
    net.eval()
    losses = []
    for t in data:
        m = len(t.xyz) if n is None else min(n, len(t.xyz))
        x, f, g, y, w = t.xyz[:m][None], t.feats[:m][None], t.glob[None], t.y[:m][None], t.w[:m][None]
        losses.append(float(weighted_mse(net(x, f, g), y, w)))
    return float(np.mean(losses)) if losses else math.nan


@dataclass(frozen=True, eq=False)
class VectorColumns:
    """Where the vectors sit in a batch, for rotating it: the point features are normals then channel 3 (three
    columns each); the vector targets start at ``targets`` and are standardised per column by mean/std."""

    targets: tuple[int, ...]
    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def of(cls, norm: Normalisation) -> VectorColumns:
        return cls(
            tuple(vector_columns(tuple(norm.targets))),
            torch.as_tensor(norm.target_mean, dtype=torch.float32),
            torch.as_tensor(norm.target_std, dtype=torch.float32),
        )


def random_rotations(n: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 3, 3) rotations drawn uniformly (QR of Gaussian matrices, signs fixed, det +1)."""
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=gen))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    det = torch.linalg.det(q)
    q[:, :, 2] *= det[:, None]
    return q


def random_mirrors(n: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 3, 3) diag(1, 1, ±1), each sign drawn with probability 1/2: the mirror image through the frame's first
    two axes, or nothing."""
    flip = torch.rand(n, generator=gen) < 0.5
    m = torch.eye(3).repeat(n, 1, 1)
    m[flip] = torch.as_tensor(MIRROR, dtype=torch.float32)
    return m


def rotate_batch(x, f, y, rot: torch.Tensor, cols: VectorColumns):
    """The batch transformed by the orthogonal ``rot`` (b, 3, 3; a rotation or a mirror), row vectors:
    coordinates, normals, channel 3, vector targets."""
    x = x @ rot
    f = torch.cat([f[..., 0:3] @ rot, f[..., 3:6] @ rot, f[..., 6:]], dim=-1)
    y = y.clone()
    for j in cols.targets:
        m, sd = cols.mean[j : j + 3], cols.std[j : j + 3]
        y[..., j : j + 3] = ((y[..., j : j + 3] * sd + m) @ rot - m) / sd
    return x, f, y


def augmentation(cfg: TrainConfig, n: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 3, 3) orthogonal maps for one batch: a random rotation, a random mirror, both, or the identity."""
    t = random_rotations(n, gen) if cfg.augment_rotation else torch.eye(3).repeat(n, 1, 1)
    return t @ random_mirrors(n, gen) if cfg.augment_mirror else t


def train_member(
    cfg: TrainConfig,
    net_cfg: PointNetConfig,
    train: list[Tensors],
    val: list[Tensors],
    seed: int,
    progress: bool,
    cols: VectorColumns | None = None,
) -> tuple[PointNetPP, dict]:
    """One ensemble member; ``cols`` given: every batch turned by a random rotation and/or mirrored at random
    (cfg.augment_rotation / augment_mirror)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = PointNetPP(net_cfg)
    kept = copy.deepcopy(net) if cfg.ema else net  # what is validated and kept: the average, or the weights
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.lr * cfg.lr_min_fraction)
    best, best_state, best_epoch, history = math.inf, None, 0, []
    bar = tqdm(range(cfg.epochs), desc=f"member seed {seed}", disable=not progress, leave=False)
    for epoch in bar:
        net.train()
        order = torch.randperm(len(train), generator=gen).tolist()
        losses = []
        for i in range(0, len(order), cfg.batch_size):
            x, f, g, y, w = _batch([train[j] for j in order[i : i + cfg.batch_size]], cfg.points, gen)
            if cols is not None:
                x, f, y = rotate_batch(x, f, y, augmentation(cfg, len(x), gen), cols)
            loss = weighted_mse(net(x, f, g), y, w)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            if cfg.ema:
                with torch.no_grad():
                    for a, p in zip(kept.parameters(), net.parameters(), strict=True):
                        a.lerp_(p, 1.0 - cfg.ema)
            losses.append(loss.item())
        sched.step()
        v = validation_loss(kept, val, cfg.eval_points) if val else float(np.mean(losses))
        history.append({"epoch": epoch + 1, "train": float(np.mean(losses)), "val": v, "lr": sched.get_last_lr()[0]})
        bar.set_postfix(train=f"{history[-1]['train']:.3f}", val=f"{v:.3f}")
        if v < best:
            best, best_epoch = v, epoch + 1
            best_state = {k: t.detach().clone() for k, t in kept.state_dict().items()}
        elif epoch + 1 - best_epoch >= cfg.patience:
            break
    net.load_state_dict(best_state)
    return net.eval(), {"seed": seed, "best_epoch": best_epoch, "best_val": best, "history": history}


@torch.no_grad()
def latent(net: PointNetPP, t: Tensors, n: int | None = None) -> np.ndarray:
    m = len(t.xyz) if n is None else min(n, len(t.xyz))
    _, z = net(t.xyz[:m][None], t.feats[:m][None], t.glob[None], return_latent=True)
    return z[0].numpy()


def train_model(
    manifest: str | Path, cfg: TrainConfig = TrainConfig(), progress: bool = True, clouds: list[Cloud] | None = None
) -> tuple[SurrogateModel, list[Cloud]]:
    """Fit the normalisation and the ensemble on the manifest's train split (validation on its val split)."""
    torch.set_num_threads(cfg.threads)
    clouds = clouds if clouds is not None else load_clouds(manifest, progress)
    train_c = [c for c in clouds if c.split == "train"]
    val_c = [c for c in clouds if c.split == "val"]
    if not train_c:
        raise IahemoError(f"{manifest}: no training samples")
    channel3 = channel3_source(train_c + val_c, f"{manifest}: the training and validation samples")
    # the network sees (and the normalisation is fitted on) the clouds in the model's frame
    train_f = [in_frame(c, cfg.frame) for c in train_c]
    residual = (TAWSS,) if cfg.use_lofi and cfg.lofi_residual else ()
    norm = Normalisation.fit(train_f, TARGETS, residual, cfg.frame, cfg.context)
    weighting = LossWeighting.of(cfg)
    train = [to_tensors(c, norm, cfg.use_lofi, weighting) for c in train_f]
    val = [to_tensors(in_frame(c, cfg.frame), norm, cfg.use_lofi, weighting) for c in val_c]
    cols = VectorColumns.of(norm) if cfg.augment_rotation or cfg.augment_mirror else None
    net_cfg = network_config(norm, train[0].feats.shape[1], cfg.net)
    started = time.perf_counter()
    members, logs = [], []
    for k in range(cfg.ensemble):
        net, log = train_member(cfg, net_cfg, train, val, cfg.seed + k, progress, cols)
        members.append(net)
        logs.append(log)
    seconds = time.perf_counter() - started
    level, level_note = fit_sac_level(train_c) if cfg.sac_level else (None, "off")
    g_train = np.stack([t.glob.numpy() for t in train])
    z_train = np.stack([latent(members[0], t, cfg.eval_points) for t in train])
    model = SurrogateModel(
        config=net_cfg,
        normalisation=norm,
        members=members,
        use_lofi=cfg.use_lofi,
        lofi_outside_sac=cfg.use_lofi and cfg.lofi_outside_sac,
        lofi_direction=cfg.use_lofi and cfg.lofi_direction,
        mirror_views=cfg.augment_mirror,
        sac_level=level,
        channel3=channel3,
        ood={"inputs": ood.fit_reference(g_train), "latent": ood.fit_reference(z_train)},
        training={
            "config": asdict(cfg),
            "manifest": str(manifest),
            "manifest_sha256": file_sha256(manifest),
            "n_train_samples": len(train_c),
            "n_val_samples": len(val_c),
            "n_train_geometries": len({c.geometry for c in train_c}),
            "n_val_geometries": len({c.geometry for c in val_c}),
            "targets": [f"{k}[{c}]" for k, c in target_columns(tuple(norm.targets))],
            "members": logs,
            "train_seconds": round(seconds, 1),
            "threads": cfg.threads,
            "sac_level": level_note,
        },
    )
    return model, clouds


def fit_sac_level(train: list[Cloud]) -> tuple[sac_level.SacLevelModel | None, str]:
    """The case-level sac model and a note for the artifact; None (the network's own level) when the training
    split is too small for it, as in the workflow's two-case test."""
    try:
        m = sac_level.fit_from_clouds(train)
    except ValueError as exc:
        return None, f"not fitted: {exc}"
    return m, (
        f"ridge {m.ridge:g} on {len(m.names)} morphology inputs, {m.n_runs} runs of {m.n_geometries} geometries; "
        f"leave-one-geometry-out |log error| {m.cv_abs_log_error:.3f}"
    )


def plot_curves(model: SurrogateModel, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cfdgen.plots import save_figure

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for i, log in enumerate(model.training.get("members", [])):
        h = log["history"]
        e = [r["epoch"] for r in h]
        ax.plot(e, [r["train"] for r in h], color=f"C{i}", alpha=0.5, label=f"train (seed {log['seed']})")
        ax.plot(e, [r["val"] for r in h], color=f"C{i}", ls="--", label=f"validation (seed {log['seed']})")
        ax.axvline(log["best_epoch"], color=f"C{i}", lw=0.5)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE of normalised targets")
    ema = model.training.get("config", {}).get("ema", 0.0)
    # the training loss is the raw weights' at each step; what is validated and kept is their average
    title = "hemodynamics surrogate: training curves"
    ax.set_title(title + (f"\n(validation: weights averaged, ema {ema:g})" if ema else ""))
    ax.legend(fontsize=7)
    return save_figure(fig, path)
