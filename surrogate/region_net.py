"""The learned evaluation surrogate: a point network that marks high-risk sac regions from the hemodynamics
surrogate's output, trained to reproduce the labels that CFD fields give (surrogate.regions).

Inputs per point: normalised coordinates, normals, log(TAWSS / parent mean), OSI, the streamwise TAWSS gradient
(scaled) and the sac mask — all computed from the *surrogate's* fields, so the network learns to undo the
surrogate's systematic errors where they matter for the labels. Output: one of surrogate.regions.CATEGORIES.
Reported against CFD-derived labels on held-out geometries (IoU per category), next to the rule applied directly
to the surrogate's fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from cfdgen.errors import IahemoError
from surrogate.artifact import SurrogateModel, read_payload, write_payload
from surrogate.data import Cloud
from surrogate.metrics import parent_diameter, parent_mask
from surrogate.pointnet import PointNetConfig, PointNetPP
from surrogate.predict import predict_cloud
from surrogate.regions import CATEGORIES, RegionConfig, iou, label_regions, streamwise_gradient

KIND = "iahemo.region_model"
N_FEATS = 7  # normals 3, log nTAWSS, OSI, streamwise gradient, sac
SMALL = {
    "centroids": (256, 64),
    "neighbours": (12, 12),
    "widths": ((16, 16, 32), (32, 32, 64)),
    "global_width": 64,
    "decoder_width": 32,
}


@dataclass(frozen=True)
class RegionTrainConfig:
    epochs: int = 30
    points: int = 2048
    lr: float = 3e-3
    seed: int = 0
    threads: int = 1
    regions: RegionConfig = field(default_factory=RegionConfig)


def point_features(
    points: np.ndarray, normals: np.ndarray, sac: np.ndarray, fields: dict, parent_diameter: float, cfg: RegionConfig
) -> np.ndarray:
    sac_b = np.asarray(sac, dtype=bool)
    parent = parent_mask(points, sac_b, parent_diameter) if np.isfinite(parent_diameter) else np.zeros_like(sac_b)
    tawss = np.asarray(fields["tawss"], dtype=np.float64)
    p_mean = float(np.mean(tawss[parent])) if parent.any() else float(np.mean(tawss))
    grad = streamwise_gradient(points, tawss, fields["wss_mean"], cfg.gradient_neighbours)
    scale = max(p_mean, 1e-6)  # Pa; the gradient in Pa/mm over the parent mean: 1/mm
    return np.column_stack(
        [normals, np.log(np.maximum(tawss, 1e-4) / scale), fields["osi"], np.tanh(grad / scale), sac_b]
    ).astype(np.float32)


@dataclass(eq=False)
class RegionModel:
    net: PointNetPP
    coord_scale: float
    cfg: RegionConfig
    metrics: dict

    @torch.no_grad()
    def predict(self, points, normals, sac, fields, parent_diameter) -> np.ndarray:
        f = point_features(points, normals, sac, fields, parent_diameter, self.cfg)
        x = torch.as_tensor((points - points.mean(0)) / self.coord_scale, dtype=torch.float32)[None]
        logits = self.net.eval()(x, torch.as_tensor(f)[None], torch.zeros(1, 0))[0]
        labels = logits.argmax(-1).numpy()
        labels[~np.asarray(sac, dtype=bool)] = 0  # only the sac is graded
        return labels


def _examples(model: SurrogateModel, clouds: list[Cloud], cfg: RegionConfig, progress: bool):
    out = []
    for c in tqdm(clouds, desc="region inputs", disable=not progress, leave=False):
        d = parent_diameter(c.globals_, c.global_names)
        p = predict_cloud(model, c)
        truth = label_regions(c.points, c.sac, c.fields["tawss"], c.fields["osi"], c.fields["wss_mean"], d, cfg)
        rule = label_regions(c.points, c.sac, p.mean["tawss"], p.mean["osi"], p.mean["wss_mean"], d, cfg)
        out.append((c, point_features(c.points, c.normals, c.sac, p.mean, d, cfg), truth, rule, d, p.mean))
    return out


def train_region_model(
    model: SurrogateModel, clouds: list[Cloud], cfg: RegionTrainConfig | None = None, progress: bool = True
) -> tuple[RegionModel, dict]:
    """Fit on the train split (inputs from the surrogate, labels from CFD); evaluate IoU on the test split."""
    cfg = cfg or RegionTrainConfig()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    train = _examples(model, [c for c in clouds if c.split == "train"], cfg.regions, progress)
    test = _examples(model, [c for c in clouds if c.split == "test"], cfg.regions, progress)
    if not train:
        raise IahemoError("no training clouds for the region model")
    scale = model.normalisation.coord_scale
    counts = np.bincount(np.concatenate([t[2] for t in train]), minlength=len(CATEGORIES)).astype(np.float64)
    weight = torch.as_tensor(np.sqrt(counts.sum() / np.maximum(counts, 1.0)), dtype=torch.float32)
    net = PointNetPP(PointNetConfig(in_point=N_FEATS, in_global=0, out=len(CATEGORIES), **SMALL))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight / weight.mean())
    history = []
    for _ in tqdm(range(cfg.epochs), desc="region model", disable=not progress, leave=False):
        net.train()
        losses = []
        for j in torch.randperm(len(train), generator=gen).tolist():
            c, f, y, _, _, _ = train[j]
            idx = torch.randperm(len(c.points), generator=gen)[: cfg.points]
            x = torch.as_tensor((c.points - c.points.mean(0)) / scale, dtype=torch.float32)[idx][None]
            logits = net(x, torch.as_tensor(f)[idx][None], torch.zeros(1, 0))[0]
            loss = loss_fn(logits, torch.as_tensor(y)[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
    rm = RegionModel(net.eval(), scale, cfg.regions, {})
    rows = []
    for c, _, truth, rule, d, fields in test:
        learned = rm.predict(c.points, c.normals, c.sac, fields, d)
        rows.append(
            {
                "case_id": c.case_id,
                "bc_sample": c.bc_sample,
                **{f"learned_iou_{n}": iou(learned, truth, i) for i, n in enumerate(CATEGORIES) if i},
                **{f"rule_iou_{n}": iou(rule, truth, i) for i, n in enumerate(CATEGORIES) if i},
                "learned_iou_any": iou(learned > 0, truth > 0, 1),
                "rule_iou_any": iou(rule > 0, truth > 0, 1),
            }
        )

    def mean(key: str) -> float | None:
        vals = [r[key] for r in rows if r[key] is not None]
        return float(np.mean(vals)) if vals else None

    summary = {k: mean(k) for k in (rows[0] if rows else {}) if k.endswith(tuple(CATEGORIES[1:]) + ("any",))}
    rm.metrics = {"split": "test", "summary": summary, "n_samples": len(rows), "train_loss": history}
    return rm, {"summary": summary, "per_sample": rows, "train_loss": history, "class_counts": counts.tolist()}


def save_region_model(rm: RegionModel, path: str | Path) -> Path:
    payload = {
        "kind": KIND,
        "config": rm.net.cfg.to_dict(),
        "state": {k: v.detach().clone() for k, v in rm.net.state_dict().items()},
        "coord_scale": rm.coord_scale,
        "regions": rm.cfg.to_dict(),
        "metrics": rm.metrics,
    }
    return write_payload(payload, path)


def load_region_model(path: str | Path) -> RegionModel:
    payload = read_payload(path, KIND, "region model")
    net = PointNetPP(PointNetConfig.from_dict(payload["config"]))
    net.load_state_dict(payload["state"])
    return RegionModel(
        net.eval(), float(payload["coord_scale"]), RegionConfig(**payload["regions"]), payload["metrics"]
    )


def main(argv: list[str] | None = None) -> int:
    """python -m surrogate.region_net --manifest M --model hemodynamics.pt -o regions.pt"""
    import argparse
    import json

    from cfdgen.atomic import write_json
    from surrogate.artifact import load_model
    from surrogate.data import load_clouds

    p = argparse.ArgumentParser(prog="python -m surrogate.region_net", description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", required=True)
    p.add_argument("--model", required=True, help="the hemodynamics surrogate whose output the regions are read from")
    p.add_argument("--epochs", type=int, default=RegionTrainConfig.epochs)
    p.add_argument("-o", "--out", required=True, help="region model file (.pt); the report goes beside it (.json)")
    args = p.parse_args(argv)
    model = load_model(args.model)
    rm, report = train_region_model(model, load_clouds(args.manifest), RegionTrainConfig(epochs=args.epochs))
    out = save_region_model(rm, args.out)
    write_json(out.with_suffix(".json"), json.loads(json.dumps(report, default=float)))
    print(json.dumps(report["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
