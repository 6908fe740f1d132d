"""The learned morphology measurement (the product design's "measurement model"): a point-cloud regressor of the
morphology vector, trained on synthetic surfaces whose morphology is known exactly from their construction.

The geometric measurement (cfdgen.morph) stays the default everywhere; this model is measured against it
(benchmarks/morph_surrogate.py): per-parameter errors on held-out synthetic geometries, with the same error
definitions as benchmarks/morph_accuracy.py, and the time per case.

Input: 2,048 evenly spaced points of the lumen surface (centred, scaled by a training constant) with normals,
and the log of the cloud's RMS radius as a global input: the encoder's LayerNorms make its features nearly
invariant to the coordinates' scale, and sizes in mm are half of what it must report.
Output: the registry morphology parameters, positive ones in log space, standardised on the training split.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv
import torch

from cfdgen import registry
from cfdgen.errors import IahemoError
from cfdgen.pointcloud import sample_wall
from surrogate.artifact import read_payload, write_payload
from surrogate.pointnet import PointNetConfig, PointNetPP

KIND = "iahemo.morphology_model"
# Indices (1) and angles (deg) are compared in absolute terms, everything else relative (morph_accuracy.py).
ABSOLUTE = ("nsi", "ei", "ui", "inflow_angle", "outflow_angle")
NET = {"centroids": (256, 64), "neighbours": (16, 16), "widths": ((32, 32, 64), (64, 64, 128)), "global_width": 128}


@dataclass(frozen=True)
class MorphTrainConfig:
    points: int = 2048
    epochs: int = 200
    lr: float = 2e-3
    seed: int = 0
    threads: int = 1


def surface_cloud(surface: str | Path | pv.PolyData, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    mesh = surface if isinstance(surface, pv.PolyData) else pv.read(surface)
    if not isinstance(mesh, pv.PolyData):
        mesh = mesh.extract_surface()
    mesh = mesh.triangulate()
    c = sample_wall(mesh, n, seed)
    return c.points, c.normals


class MorphNet(torch.nn.Module):
    def __init__(self, cfg: PointNetConfig, n_out: int):
        super().__init__()
        self.encoder = PointNetPP(cfg)
        w = cfg.global_width
        self.head = torch.nn.Sequential(torch.nn.Linear(w, w), torch.nn.ReLU(), torch.nn.Linear(w, n_out))

    def forward(self, xyz, normals):
        log_radius = torch.log(xyz.square().sum(-1).mean(-1, keepdim=True).sqrt())  # (B, 1)
        return self.head(self.encoder.encode(xyz, normals, log_radius))


@dataclass(eq=False)
class MorphModel:
    net: MorphNet
    keys: list[str]
    log_keys: list[str]
    mean: list[float]
    std: list[float]
    coord_scale: float
    points: int
    metrics: dict

    @torch.no_grad()
    def predict(self, surface) -> dict[str, float]:
        pts, normals = surface_cloud(surface, self.points)
        x = torch.as_tensor((pts - pts.mean(0)) / self.coord_scale, dtype=torch.float32)[None]
        z = self.net.eval()(x, torch.as_tensor(normals, dtype=torch.float32)[None])[0].numpy()
        y = z * np.asarray(self.std) + np.asarray(self.mean)
        return {k: float(np.exp(v) if k in self.log_keys else v) for k, v in zip(self.keys, y)}


def relative_errors(pred: dict, true: dict, keys) -> dict[str, float]:
    return {
        k: abs(pred[k] - true[k]) if k in ABSOLUTE else abs(pred[k] - true[k]) / max(abs(true[k]), 1e-12) for k in keys
    }


def train_morph_model(
    surfaces: list[Path], truths: list[dict], cfg: MorphTrainConfig | None = None, progress: bool = False
) -> MorphModel:
    from tqdm import tqdm

    cfg = cfg or MorphTrainConfig()
    if len(surfaces) < 4:
        raise IahemoError(f"the morphology model needs at least 4 training surfaces (got {len(surfaces)})")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    keys = [k for k in registry.MORPHOLOGY if all(k in t and np.isfinite(t[k]) for t in truths)]
    y = np.array([[t[k] for k in keys] for t in truths], dtype=np.float64)
    log_keys = [k for j, k in enumerate(keys) if np.all(y[:, j] > 0) and k not in ABSOLUTE]
    for j, k in enumerate(keys):
        if k in log_keys:
            y[:, j] = np.log(y[:, j])
    mean, std = y.mean(0), np.maximum(y.std(0), 1e-8)
    clouds = [surface_cloud(s, cfg.points * 2, seed=i) for i, s in enumerate(surfaces)]  # subsampled per step
    scale = float(np.median([np.percentile(np.linalg.norm(p - p.mean(0), axis=1), 95) for p, _ in clouds]))
    net = MorphNet(PointNetConfig(in_point=3, in_global=1, out=1, **NET), len(keys))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs, eta_min=cfg.lr * 0.05)
    gen = torch.Generator().manual_seed(cfg.seed)
    target = torch.as_tensor((y - mean) / std, dtype=torch.float32)
    for _ in tqdm(range(cfg.epochs), desc="morphology model", disable=not progress, leave=False):
        net.train()
        for i in torch.randperm(len(clouds), generator=gen).tolist():
            p, nrm = clouds[i]
            idx = torch.randperm(len(p), generator=gen)[: cfg.points]
            x = torch.as_tensor((p - p.mean(0)) / scale, dtype=torch.float32)[idx][None]
            loss = torch.mean((net(x, torch.as_tensor(nrm, dtype=torch.float32)[idx][None])[0] - target[i]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return MorphModel(net.eval(), keys, log_keys, mean.tolist(), std.tolist(), scale, cfg.points, {})


def evaluate_morph_model(model: MorphModel, surfaces: list[Path], truths: list[dict]) -> dict:
    rows, times = [], []
    for s, t in zip(surfaces, truths):
        t0 = time.perf_counter()
        pred = model.predict(s)
        times.append(time.perf_counter() - t0)
        rows.append(relative_errors(pred, t, model.keys))
    return {
        "n": len(rows),
        "median": {k: float(np.median([r[k] for r in rows])) for k in model.keys},
        "p90": {k: float(np.percentile([r[k] for r in rows], 90)) for k in model.keys},
        "seconds_per_case_median": float(np.median(times)),
    }


def save_morph_model(model: MorphModel, path: str | Path) -> Path:
    payload = {
        "kind": KIND,
        "registry_version": registry.REGISTRY_VERSION,
        "encoder": model.net.encoder.cfg.to_dict(),
        "keys": model.keys,
        "log_keys": model.log_keys,
        "mean": model.mean,
        "std": model.std,
        "coord_scale": model.coord_scale,
        "points": model.points,
        "metrics": json.loads(json.dumps(model.metrics, default=float)),
        "state": {k: v.detach().clone() for k, v in model.net.state_dict().items()},
    }
    return write_payload(payload, path)


def load_morph_model(path: str | Path) -> MorphModel:
    d = read_payload(path, KIND, "morphology model")
    if d.get("registry_version") != registry.REGISTRY_VERSION:
        raise IahemoError(f"{path}: trained with field registry {d.get('registry_version')}; retrain the model")
    net = MorphNet(PointNetConfig.from_dict(d["encoder"]), len(d["keys"]))
    net.load_state_dict(d["state"])
    return MorphModel(
        net.eval(), d["keys"], d["log_keys"], d["mean"], d["std"], d["coord_scale"], d["points"], d["metrics"]
    )
