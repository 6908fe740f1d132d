"""Evaluation of a hemodynamics surrogate on the held-out geometries of its manifest, against two baselines and
(optionally) the channel-3 ablation model; one JSON and the side-by-side wall maps.

Baselines (DESIGN.md: always compare against simple ones):
- ``mean_field``: every point gets the training mean of each target (in the learned, log space for TAWSS);
- ``nearest_neighbour``: the training run closest in normalised morphology+BC space, its fields carried over to
  the test points by nearest point after centring both clouds.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from cfdgen import registry
from cfdgen.errors import IahemoError
from surrogate import spread
from surrogate.artifact import SurrogateModel
from surrogate.data import PRESSURE, Cloud, channel3_fields, channel3_source, split_targets, stack_targets
from surrogate.metrics import field_errors, parent_diameter, sac_errors, sac_quantities, summarise, where_errors
from surrogate.predict import predict_arrays, predict_cloud


def _parent_diameter(c: Cloud) -> float:
    return parent_diameter(c.globals_, c.global_names)


def _sac(c: Cloud, fields: dict) -> dict | None:
    return sac_quantities(c.points, c.sac, fields["tawss"], fields["osi"], _parent_diameter(c))


def mean_field_baseline(model: SurrogateModel, train: list[Cloud], c: Cloud) -> dict[str, np.ndarray]:
    """The training runs' mean of each target (log space for positive fields, TAP on this run's reference level),
    whatever the model learns relative to."""
    plain = replace(model.normalisation, lofi_residual=[])
    targets = tuple(plain.targets)
    mean = np.concatenate([plain._forward_targets(stack_targets(t.fields, targets), t.p_ref) for t in train]).mean(0)
    z = np.broadcast_to((mean - plain.target_mean) / plain.target_std, (len(c.points), len(mean)))
    return split_targets(plain.decode_targets(z, c.p_ref), targets)


def nearest_neighbour_baseline(model: SurrogateModel, train: list[Cloud], c: Cloud) -> dict[str, np.ndarray]:
    norm = model.normalisation
    g = norm.globals_(c.globals_, c.global_names)
    best = min(train, key=lambda t: float(np.sum((norm.globals_(t.globals_, t.global_names) - g) ** 2)))
    _, idx = cKDTree(best.points - best.points.mean(0)).query(c.points - c.points.mean(0))
    out = {k: np.asarray(best.fields[k])[idx] for k in norm.targets}
    if PRESSURE in out:  # carry the neighbour's pressure differences, on this run's reference level
        out[PRESSURE] = out[PRESSURE] - best.p_ref + c.p_ref
    return out


def lofi_baseline(c: Cloud) -> dict[str, np.ndarray]:
    """Channel 3 on its own, no learning (``channel3_fields``): what the network has to improve on."""
    return channel3_fields(c.lofi)


def turned_prediction(model: SurrogateModel, c: Cloud, seed: int) -> dict[str, np.ndarray]:
    """The model's fields for the vessel turned by a random rotation (seeded), vectors turned back: the same
    answer as for the original pose if the model is orientation-blind (a scanner's pose is arbitrary)."""
    from scipy.spatial.transform import Rotation

    q = Rotation.random(random_state=seed).as_matrix()
    p = predict_arrays(
        model, c.points @ q.T, c.normals @ q.T, c.lofi @ q.T, c.globals_, c.global_names, c.sac, c.context
    )
    return {k: v @ q if np.ndim(v) == 2 else v for k, v in p.mean.items()}


def calibrate_spread(model: SurrogateModel, clouds: list[Cloud], split: str = "val") -> dict[str, float]:
    """Per field, the factor that makes the ensemble's spread a standard deviation of its error on ``split``
    (``surrogate.spread``; the members' own spread, whatever factors the model carries already). Empty without
    runs of that split."""
    raw = replace(model, spread_scale={})
    held = [c for c in clouds if c.split == split]
    preds = [(predict_cloud(raw, c), c) for c in held]
    fields = preds[0][0].mean if preds else {}
    return {k: spread.fit_scale((p.std[k], p.mean[k], c.fields[k]) for p, c in preds) for k in fields}


def _score(c: Cloud, pred: dict[str, np.ndarray], truth_sac: dict | None) -> dict:
    """Errors of one prediction; TAP's relative to the run's reference level (its offset would hide them)."""
    truth = {k: c.fields[k] for k in pred}
    rel = {k: v - c.p_ref if k == PRESSURE else v for k, v in pred.items()}
    truth_rel = {k: v - c.p_ref if k == PRESSURE else v for k, v in truth.items()}
    return {
        "fields": field_errors(rel, truth_rel),
        "sac": sac_errors(_sac(c, pred), truth_sac),
        "where": {"tawss": where_errors(pred["tawss"], truth["tawss"], c.sac)} if "tawss" in pred else {},
    }


def evaluate(
    model: SurrogateModel,
    clouds: list[Cloud],
    ablation: SurrogateModel | None = None,
    split: str = "test",
    maps: Path | None = None,
    turned: bool = True,
) -> dict:
    """Metrics of the model, the baselines and the ablation on ``split`` (per sample and summarised); with
    ``turned`` also of the model on the held-out vessels turned to another pose (``turned_prediction``)."""
    train = [c for c in clouds if c.split == "train"]
    held = [c for c in clouds if c.split == split]
    if not held:
        raise ValueError(f"no {split} samples to evaluate on")
    source = channel3_source(held, f"the {split} samples")
    if source != model.channel3:
        raise IahemoError(f"the {split} samples' channel 3 is {source}, the model reads {model.channel3}")
    # A model that answers with channel 3 outside the sac or in the mean WSS vector's direction, or sets the sac's
    # level with the case-level model, is also scored as the network alone; one with the sac-level model also
    # without it.
    composed = model.lofi_outside_sac or model.lofi_direction or model.sac_level is not None
    network = replace(model, lofi_outside_sac=False, lofi_direction=False, sac_level=None) if composed else None
    unlevelled = replace(model, sac_level=None) if model.sac_level is not None else None
    # the network everywhere with the sac-level model: what the composition with channel 3 adds off the sac
    both = model.lofi_outside_sac and model.sac_level is not None
    everywhere = replace(model, lofi_outside_sac=False) if both else None
    rows, times = [], []
    for c in held:
        truth_sac = _sac(c, c.fields)
        p = predict_cloud(model, c)
        times.append(p.seconds)
        row = {
            "case_id": c.case_id,
            "bc_sample": c.bc_sample,
            "n_points": len(c.points),
            "surrogate": _score(c, p.mean, truth_sac),
            "mean_field": _score(c, mean_field_baseline(model, train, c), truth_sac),
            "nearest_neighbour": _score(c, nearest_neighbour_baseline(model, train, c), truth_sac),
            "lofi": _score(c, lofi_baseline(c), truth_sac),
            "spread": {k: spread.spread_scores(p.std[k], p.mean[k], c.fields[k]) for k in p.mean},
        }
        if network is not None:
            pn = predict_cloud(network, c)  # the sac mask changes nothing without composition
            row["network"] = _score(c, pn.mean, truth_sac)
        if everywhere is not None:
            pe = predict_cloud(everywhere, c)
            row["network_sac_level"] = _score(c, pe.mean, truth_sac)
        if unlevelled is not None:
            pu = predict_cloud(unlevelled, c)
            row["no_sac_level"] = _score(c, pu.mean, truth_sac)
        if turned:
            row["turned"] = _score(c, turned_prediction(model, c, seed=len(rows)), truth_sac)
        if ablation is not None:
            pa = predict_cloud(ablation, c)
            row["no_lofi"] = _score(c, pa.mean, truth_sac)
        rows.append(row)
    methods = ["surrogate", "mean_field", "nearest_neighbour", "lofi"]
    methods += (["network"] if network is not None else []) + (["no_lofi"] if ablation is not None else [])
    methods += ["no_sac_level"] if unlevelled is not None else []
    methods += ["network_sac_level"] if everywhere is not None else []
    methods += ["turned"] if turned else []
    summary = {m: summarise([r[m]["fields"] for r in rows]) for m in methods}
    sac_summary = {m: summarise([r[m]["sac"] for r in rows if r[m]["sac"] is not None]) for m in methods}
    where_summary = {m: summarise([r[m]["where"] for r in rows]) for m in methods}
    result = {
        "split": split,
        "n_samples": len(held),
        "n_geometries": len({c.geometry for c in held}),
        "geometries": sorted({c.case_id for c in held}),
        "summary": summary,
        "sac_summary": sac_summary,
        "where_summary": where_summary,
        "spread_summary": summarise([r["spread"] for r in rows]),
        "inference_s_median": float(np.median(times)),
        "points_per_sample": int(np.median([len(c.points) for c in held])),
        "per_sample": rows,
    }
    if maps is not None:
        result["maps"] = [str(p) for p in comparison_maps(model, held[:2], Path(maps))]
    return result


def headline(result: dict) -> dict:
    """The numbers the README and the issue track (fractions / field units)."""
    s = result["summary"]
    out = {
        "tawss_rel_l2": s["surrogate"]["tawss"]["rel_l2"]["mean"],
        "osi_mae": s["surrogate"]["osi"]["mae"]["mean"],
        "tap_rel_l2": s["surrogate"]["tap"]["rel_l2"]["mean"],
        "wss_mean_rel_l2": s["surrogate"]["wss_mean"]["rel_l2"]["mean"],
        "baseline_mean_field_tawss_rel_l2": s["mean_field"]["tawss"]["rel_l2"]["mean"],
        "baseline_mean_field_osi_mae": s["mean_field"]["osi"]["mae"]["mean"],
        "baseline_nearest_neighbour_tawss_rel_l2": s["nearest_neighbour"]["tawss"]["rel_l2"]["mean"],
        "baseline_nearest_neighbour_osi_mae": s["nearest_neighbour"]["osi"]["mae"]["mean"],
    }
    if "lofi" in s:  # evaluations written before this baseline existed lack it
        out["baseline_lofi_tawss_rel_l2"] = s["lofi"]["tawss"]["rel_l2"]["mean"]
        out["baseline_lofi_osi_mae"] = s["lofi"]["osi"]["mae"]["mean"]
    if "network" in s:
        out["network_alone_tawss_rel_l2"] = s["network"]["tawss"]["rel_l2"]["mean"]
        out["network_alone_osi_mae"] = s["network"]["osi"]["mae"]["mean"]
        out["network_alone_wss_mean_rel_l2"] = s["network"]["wss_mean"]["rel_l2"]["mean"]
    # ε on the sac and off it (the whole-cloud ε is mostly the parent vessels'; metrics.where_errors)
    for m, prefix in (("surrogate", ""), ("network", "network_alone_"), ("lofi", "baseline_lofi_")):
        for part in ("sac", "off_sac"):
            w = result.get("where_summary", {}).get(m, {}).get("tawss", {}).get(f"rel_l2_{part}")
            if w:
                out[f"{prefix}tawss_rel_l2_{part}"] = w["mean"]
    if "network_sac_level" in s:
        out["network_sac_level_tawss_rel_l2"] = s["network_sac_level"]["tawss"]["rel_l2"]["mean"]
        out["network_sac_level_osi_mae"] = s["network_sac_level"]["osi"]["mae"]["mean"]
    # how honest the spread is: shares of the points within one and two spreads (normal errors: 0.68, 0.95)
    for key, v in result.get("spread_summary", {}).items():
        for share in ("within_1sd", "within_2sd"):
            if share in v:
                out[f"{key}_spread_{share}"] = v[share]["mean"]
    if "turned" in s:
        out["turned_tawss_rel_l2"] = s["turned"]["tawss"]["rel_l2"]["mean"]
    if "no_lofi" in s:
        out["ablation_no_lofi_tawss_rel_l2"] = s["no_lofi"]["tawss"]["rel_l2"]["mean"]
        out["ablation_no_lofi_osi_mae"] = s["no_lofi"]["osi"]["mae"]["mean"]
    # The sac-averaged TAWSS, what the risk grade reads (relative error, mean over runs with a sac)
    for m, key in (("surrogate", "sac_tawss_rel_error"), ("no_sac_level", "no_sac_level_sac_tawss_rel_error")):
        sac = result.get("sac_summary", {}).get(m, {}).get("sac_tawss_rel")
        if sac:
            out[key] = sac["mean"]
    return out


def comparison_maps(model: SurrogateModel, clouds: list[Cloud], out_dir: Path) -> list[Path]:
    """Per cloud: rows TAWSS and OSI, columns CFD, surrogate, |error| (point clouds, two views)."""
    import pyvista as pv

    from cfdgen.atomic import atomic_path

    paths = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for c in clouds:
        p = predict_cloud(model, c)
        cloud = pv.PolyData(c.points)
        pts = c.points - c.points.mean(0)
        axes = np.linalg.eigh(np.cov(pts.T))[1]
        plotter = pv.Plotter(off_screen=True, shape=(2, 3), window_size=(1500, 900), border=False)
        for i, key in enumerate(("tawss", "osi")):
            f = registry.FIELDS[key]
            true, pred = np.asarray(c.fields[key]), np.asarray(p.mean[key])
            lo, hi = (float(np.percentile(true, 1)), float(np.percentile(true, 99))) if key == "tawss" else (0.0, 0.5)
            err = np.abs(pred - true)
            cols = [("CFD", true, "viridis", (lo, hi)), ("surrogate", pred, "viridis", (lo, hi))]
            cols.append(("|error|", err, "inferno", (0.0, float(np.percentile(err, 99)) or 1e-6)))
            for j, (name, values, cmap, clim) in enumerate(cols):
                plotter.subplot(i, j)
                view = cloud.copy()
                view.point_data["v"] = values
                plotter.add_points(
                    view,
                    scalars="v",
                    cmap=cmap,
                    clim=clim,
                    point_size=4,
                    render_points_as_spheres=True,
                    scalar_bar_args={"title": f"{f.label} {name} [{f.unit}]", "vertical": False, "fmt": "%.3g"},
                )
                plotter.view_vector(axes[:, 0], viewup=axes[:, 1])
                plotter.reset_camera()
                if j == 0:
                    plotter.add_text(f"{c.case_id} {c.bc_sample} (held-out geometry)", font_size=9)
        path = out_dir / f"maps_{c.case_id}_{c.bc_sample or 'run'}.png"
        with atomic_path(path) as tmp:
            plotter.screenshot(str(tmp))
        plotter.close()
        paths.append(path)
    return paths
