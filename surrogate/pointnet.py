"""A PointNet++ encoder–decoder (segmentation style) in pure torch, for per-point regression on surface clouds.

Encoder: set-abstraction levels, each picking centroids by farthest-point sampling, grouping neighbours by ball
query, running a shared MLP on [relative coordinates, neighbour features] and max-pooling over the group; after
the last level a shared MLP and a max over all its centroids give one whole-cloud feature. Decoder: feature
propagation from coarse to fine by inverse-distance interpolation of the 3 nearest coarse points, each step
concatenated with the finer level's skip features; the whole-cloud feature is concatenated back to every point
before a small per-point head. The global input vector (morphology + boundary conditions) is broadcast to every
point's input features, so every level sees it.

Runs on the CPU without compiled extensions: neighbour searches are chunked ``torch.cdist`` + ``topk`` with a
bounded distance block.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from cfdgen.errors import ConfigError

# Largest distance block (batch × query rows × reference points) a neighbour search materialises: 16 MB of float32.
_BLOCK_ELEMENTS = 1 << 22
_EPS = 1e-8  # distance floor of the interpolation weights: a coincident point takes (numerically) all the weight


@dataclass(frozen=True)
class PointNetConfig:
    """Constructor arguments of :class:`PointNetPP`; one entry per set-abstraction level in the tuples."""

    in_point: int  # per-point input features besides xyz (e.g. normals 3 + lofi 3)
    in_global: int  # global vector size (morphology + BC), broadcast to every point inside the model
    out: int  # output channels per point
    centroids: tuple[int, ...] = (512, 128)  # points kept by each set-abstraction level (FPS)
    radii: tuple[float, ...] = (0.15, 0.35)  # ball-query radii in the normalised coordinate units
    neighbours: tuple[int, ...] = (16, 16)  # ball-query group size per level
    widths: tuple[tuple[int, ...], ...] = ((32, 32, 64), (64, 64, 128))  # shared-MLP widths per level
    global_width: int = 128  # whole-cloud feature width (after the last level's max pool)
    decoder_width: int = 64
    dropout: float = 0.0
    # False: the points' positions enter only as offsets within each neighbourhood (and through the searches), not
    # as features — the answer at a wall point then depends on the shape around it, not on where it lies in the
    # cloud's frame (a position a network can tie to one training vessel).
    absolute_xyz: bool = True

    def __post_init__(self) -> None:
        problems = []
        levels = len(self.centroids)
        if levels == 0:
            problems.append("centroids: at least one set-abstraction level is needed")
        for name in ("radii", "neighbours", "widths"):
            if len(getattr(self, name)) != levels:
                problems.append(f"{name}: {len(getattr(self, name))} entries for {levels} levels")
        if self.in_point < 0 or self.in_global < 0 or self.out < 1:
            problems.append("in_point and in_global must be >= 0 and out >= 1")
        if any(c < 1 for c in self.centroids) or any(k < 1 for k in self.neighbours):
            problems.append("centroids and neighbours must be >= 1")
        if any(r <= 0 for r in self.radii):
            problems.append("radii must be > 0")
        if any(len(w) == 0 or min(w) < 1 for w in self.widths):
            problems.append("widths: every level needs at least one layer of width >= 1")
        if self.global_width < 1 or self.decoder_width < 1:
            problems.append("global_width and decoder_width must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            problems.append("dropout must be in [0, 1)")
        if problems:
            raise ConfigError("PointNetConfig: " + "; ".join(problems))

    def to_dict(self) -> dict:
        """JSON-safe form (tuples as lists)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("centroids", "radii", "neighbours"):
            d[name] = list(d[name])
        d["widths"] = [list(w) for w in self.widths]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PointNetConfig:
        """Inverse of :meth:`to_dict`; unknown keys are refused (a misspelt override must not pass silently)."""
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"PointNetConfig: unknown keys {unknown}")
        d = dict(d)
        for name, kind in (("centroids", int), ("radii", float), ("neighbours", int)):
            if name in d:
                d[name] = tuple(kind(v) for v in d[name])
        if "widths" in d:
            d["widths"] = tuple(tuple(int(v) for v in w) for w in d["widths"])
        return cls(**d)


def n_parameters(model: nn.Module) -> int:
    """Number of scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def _gather(x: Tensor, idx: Tensor) -> Tensor:
    """``x`` (B,N,C) at ``idx`` (B,...) → (B,...,C)."""
    b, _, c = x.shape
    flat = idx.reshape(b, -1)
    out = torch.gather(x, 1, flat.unsqueeze(-1).expand(-1, -1, c))
    return out.reshape(*idx.shape, c)


@torch.no_grad()
def _knn(query: Tensor, ref: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Distances and indices (B,M,k), nearest first, of the ``k`` points of ``ref`` (B,N,3) nearest each query."""
    b, m, _ = query.shape
    n = ref.shape[1]
    step = max(1, _BLOCK_ELEMENTS // max(1, b * n))
    dists, idxs = [], []
    for s in range(0, m, step):
        # The matmul form of cdist loses precision on near-equal distances; the direct form keeps the neighbour
        # ranking independent of point order (needed for permutation equivariance).
        d = torch.cdist(query[:, s : s + step], ref, compute_mode="donot_use_mm_for_euclid_dist")
        dd, ii = d.topk(k, dim=-1, largest=False, sorted=True)
        dists.append(dd)
        idxs.append(ii)
    return torch.cat(dists, dim=1), torch.cat(idxs, dim=1)


@torch.no_grad()
def farthest_point_sample(xyz: Tensor, k: int, start: int | None = None) -> Tensor:
    """Indices (B,k) of ``k`` points of ``xyz`` (B,N,3) chosen by farthest-point sampling.

    Deterministic: starts at index ``start`` (0 unless given), so evaluation is reproducible; ties go to the lowest
    index. Chosen points are never chosen again, even among duplicates.
    """
    b, n, _ = xyz.shape
    if not 1 <= k <= n:
        raise ValueError(f"farthest_point_sample: k={k} for {n} points")
    start = 0 if start is None else int(start)
    if not 0 <= start < n:
        raise ValueError(f"farthest_point_sample: start={start} for {n} points")
    idx = torch.empty(b, k, dtype=torch.long, device=xyz.device)
    # One cloud and one coordinate at a time: k tiny sequential steps, each kept on (N,) vectors below torch's
    # intra-op parallel grain: otherwise, on a loaded machine, every step waits on a thread barrier (512 of 16384
    # points, 2 threads: 12 s instead of 0.05 s).
    for i_b in range(b):
        x, y, z = (c.contiguous() for c in xyz[i_b].unbind(-1))
        dist = torch.full((n,), torch.inf, dtype=xyz.dtype, device=xyz.device)
        cur = start
        for i in range(k):
            idx[i_b, i] = cur
            d = (x - x[cur]).square_().add_((y - y[cur]).square_()).add_((z - z[cur]).square_())
            torch.minimum(dist, d, out=dist)
            dist[cur] = -1.0  # stays the minimum: a chosen point is never the farthest again
            cur = int(dist.argmax())
    return idx


def ball_query(xyz: Tensor, centres: Tensor, radius: float, k: int) -> Tensor:
    """Indices (B,M,k) of up to ``k`` points of ``xyz`` (B,N,3) within ``radius`` of each of ``centres`` (B,M,3).

    The ``k`` nearest within the radius are taken (not the first ``k`` by index, which would depend on the point
    order); missing slots repeat the nearest point, which is the centre itself when it is a cloud point.
    """
    n = xyz.shape[1]
    dist, idx = _knn(centres, xyz, min(k, n))
    nearest = idx[..., :1]
    idx = torch.where(dist <= radius, idx, nearest)
    if k > n:
        idx = torch.cat([idx, nearest.expand(-1, -1, k - n)], dim=-1)
    return idx


def three_nn_interpolate(xyz_to: Tensor, xyz_from: Tensor, feats_from: Tensor, idx: Tensor | None = None) -> Tensor:
    """Features (B,N,C) at ``xyz_to`` (B,N,3): inverse-distance weights of the 3 nearest of ``xyz_from`` (B,M,3).

    Uses fewer neighbours when M < 3. Differentiable in the features and the coordinates (the neighbour choice is
    not). ``idx`` (B,N,≤3) gives the neighbours when already known (a :class:`Plan`).
    """
    if idx is None:
        idx = _knn(xyz_to, xyz_from, min(3, xyz_from.shape[1]))[1]
    # Distances recomputed on the chosen few only, so autograd keeps (B,N,3) and not the whole search block.
    sq = ((_gather(xyz_from, idx) - xyz_to.unsqueeze(2)) ** 2).sum(-1)
    w = 1.0 / torch.sqrt(sq.clamp_min(_EPS**2))
    w = w / w.sum(-1, keepdim=True)
    return (_gather(feats_from, idx) * w.unsqueeze(-1)).sum(2)


def _mlp(c_in: int, widths: tuple[int, ...]) -> nn.Sequential:
    """Shared (per-point) MLP on the last dimension: Linear + LayerNorm + ReLU per layer.

    LayerNorm, not BatchNorm: batches hold 1–4 clouds, too few for batch statistics.
    """
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(c_in, w), nn.LayerNorm(w), nn.ReLU()]
        c_in = w
    return nn.Sequential(*layers)


class _SetAbstraction(nn.Module):
    def __init__(self, c_in: int, centroids: int, radius: float, neighbours: int, widths: tuple[int, ...]):
        super().__init__()
        self.centroids, self.radius, self.neighbours = centroids, radius, neighbours
        self.mlp = _mlp(3 + c_in, widths)

    @torch.no_grad()
    def plan(self, xyz: Tensor) -> tuple[Tensor, Tensor]:
        """Centroid indices (B,M) and neighbour indices (B,M,k): geometry only, shared by any weights."""
        centre_idx = farthest_point_sample(xyz, min(self.centroids, xyz.shape[1]))
        return centre_idx, ball_query(xyz, _gather(xyz, centre_idx), self.radius, self.neighbours)

    def forward(self, xyz: Tensor, feats: Tensor, plan: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        centre_idx, nb = plan if plan is not None else self.plan(xyz)
        centres = _gather(xyz, centre_idx)
        grouped = torch.cat([_gather(xyz, nb) - centres.unsqueeze(2), _gather(feats, nb)], dim=-1)
        return centres, self.mlp(grouped).amax(dim=2)


class _FeaturePropagation(nn.Module):
    def __init__(self, c_coarse: int, c_skip: int, width: int):
        super().__init__()
        self.mlp = _mlp(c_coarse + c_skip, (width, width))

    def forward(
        self, xyz_fine: Tensor, xyz_coarse: Tensor, f_coarse: Tensor, skip: Tensor, idx: Tensor | None = None
    ) -> Tensor:
        return self.mlp(torch.cat([three_nn_interpolate(xyz_fine, xyz_coarse, f_coarse, idx), skip], dim=-1))


@dataclass(frozen=True, eq=False)
class Plan:
    """The geometric part of a forward pass (sampling, grouping, interpolation neighbours) of one cloud: it
    depends only on the coordinates and the level settings, so ensemble members with one config share it — the
    neighbour searches are most of the CPU time of inference."""

    sa: tuple[tuple[Tensor, Tensor], ...]  # per level: centroid indices, group indices
    interp: tuple[Tensor, ...]  # per decoder step j: 3 nearest of level j+1 for every point of level j


class PointNetPP(nn.Module):
    """PointNet++ encoder–decoder: (xyz, per-point features, global vector) → per-point outputs."""

    def __init__(self, cfg: PointNetConfig):
        super().__init__()
        self.cfg = cfg
        c0 = 3 * cfg.absolute_xyz + cfg.in_point + cfg.in_global
        channels = [c0]
        self.sa = nn.ModuleList()
        for c, r, k, w in zip(cfg.centroids, cfg.radii, cfg.neighbours, cfg.widths, strict=True):
            self.sa.append(_SetAbstraction(channels[-1], c, r, k, w))
            channels.append(w[-1])
        self.global_mlp = _mlp(3 * cfg.absolute_xyz + channels[-1], (cfg.global_width, cfg.global_width))
        # fp[j] propagates into level j (0 = full resolution) from level j + 1; the full-resolution step also takes
        # the whole-cloud feature, so the head sees local detail and global context together.
        self.fp = nn.ModuleList()
        for j in range(len(cfg.centroids)):
            c_coarse = channels[j + 1] if j == len(cfg.centroids) - 1 else cfg.decoder_width
            c_skip = channels[j] + (cfg.global_width if j == 0 else 0)
            self.fp.append(_FeaturePropagation(c_coarse, c_skip, cfg.decoder_width))
        self.head = nn.Sequential(
            nn.Linear(cfg.decoder_width, cfg.decoder_width),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.decoder_width, cfg.out),
        )

    @torch.no_grad()
    def plan(self, xyz: Tensor) -> Plan:
        """The geometry of a forward pass on ``xyz``, reusable by any network with the same level settings."""
        sa, levels = [], [xyz]
        for layer in self.sa:
            centre_idx, nb = layer.plan(levels[-1])
            sa.append((centre_idx, nb))
            levels.append(_gather(levels[-1], centre_idx))
        interp = tuple(_knn(levels[j], levels[j + 1], min(3, levels[j + 1].shape[1]))[1] for j in range(len(self.sa)))
        return Plan(tuple(sa), interp)

    def _encode(self, xyz: Tensor, point_feats: Tensor, global_feats: Tensor, plan: Plan | None) -> tuple[list, Tensor]:
        n = xyz.shape[1]
        where = [xyz] if self.cfg.absolute_xyz else []
        feats = torch.cat([*where, point_feats, global_feats.unsqueeze(1).expand(-1, n, -1)], dim=-1)
        levels = [(xyz, feats)]
        for i, sa in enumerate(self.sa):
            levels.append(sa(*levels[-1], plan=None if plan is None else plan.sa[i]))
        xyz_l, f_l = levels[-1]
        f_l = torch.cat([xyz_l, f_l], dim=-1) if self.cfg.absolute_xyz else f_l
        return levels, self.global_mlp(f_l).amax(dim=1)

    def encode(self, xyz: Tensor, point_feats: Tensor, global_feats: Tensor, plan: Plan | None = None) -> Tensor:
        """The whole-cloud feature (B, global_width) alone: the encoder without the decoder (shape regression)."""
        return self._encode(xyz, point_feats, global_feats, plan)[1]

    def forward(
        self,
        xyz: Tensor,
        point_feats: Tensor,
        global_feats: Tensor,
        return_latent: bool = False,
        plan: Plan | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """``xyz`` (B,N,3) normalised, ``point_feats`` (B,N,in_point), ``global_feats`` (B,in_global) → (B,N,out).

        With ``return_latent`` also the whole-cloud feature (B, global_width). ``plan`` (from :meth:`plan` on the
        same ``xyz``) skips the neighbour searches.
        """
        b, n, _ = xyz.shape
        cfg = self.cfg
        if xyz.shape[-1] != 3 or point_feats.shape != (b, n, cfg.in_point) or global_feats.shape != (b, cfg.in_global):
            raise ValueError(
                f"PointNetPP: xyz {tuple(xyz.shape)}, point_feats {tuple(point_feats.shape)}, global_feats "
                f"{tuple(global_feats.shape)}; expected (B,N,3), (B,N,{cfg.in_point}), (B,{cfg.in_global})"
            )
        levels, latent = self._encode(xyz, point_feats, global_feats, plan)
        f = levels[-1][1]
        for j in reversed(range(len(self.fp))):
            xyz_j, skip = levels[j]
            if j == 0:
                skip = torch.cat([skip, latent.unsqueeze(1).expand(-1, n, -1)], dim=-1)
            f = self.fp[j](xyz_j, levels[j + 1][0], f, skip, None if plan is None else plan.interp[j])
        out = self.head(f)
        return (out, latent) if return_latent else out
