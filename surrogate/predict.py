"""Inference with the hemodynamics surrogate: ensemble mean and spread per point, and the out-of-distribution flag.

``iahemo predict SURFACE [--case] [--model] -o DIR`` writes
- ``DIR/prediction.vtp``: the prepared wall (flow extensions included, mm) with point arrays named as in the
  sample files (``TAWSS``, ``OSI``, ``TAP``, ``WSS_MEAN``, …), their ensemble spread ``<NAME>_std``, ``sac`` and the
  low-fidelity input; field data ``out_of_distribution``;
- ``DIR/prediction.json``: sac-level hemodynamics, the OOD verdict with its distances, the inputs and which were
  population defaults, the model's provenance and timing;
- ``DIR/prediction.png``: TAWSS and OSI maps; ``DIR/geometry/`` as for meshing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyvista as pv
import torch

from cfdgen import registry
from cfdgen.atomic import atomic_dir, write_json
from cfdgen.errors import IahemoError
from cfdgen.pointcloud import dataset_name
from surrogate import ood, sac_level, spread
from surrogate.artifact import SurrogateModel, load_model
from surrogate.data import (
    CONTEXT,
    LOFI,
    MIRROR,
    TAWSS,
    Cloud,
    canonical_rotation,
    channel3_fields,
    input_vector,
    reference_pressure,
    rotate_targets,
    split_targets,
)
from surrogate.metrics import parent_diameter

if TYPE_CHECKING:
    from cfdgen.wall_inputs import WallInputs

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "hemodynamics.pt"
# the accurate one (--accurate): channel 3 a steady simpleFoam solve of the surface, ~30 s instead of ~0.2 s
ACCURATE_MODEL = DEFAULT_MODEL.with_name("hemodynamics_steady.pt")
OSI = registry.FIELDS["osi"].key
WSS_MEAN = registry.FIELDS["wss_mean"].key


@dataclass(frozen=True, eq=False)
class Prediction:
    mean: dict[str, np.ndarray]  # registry key → (n,) or (n, 3), physical units
    std: dict[str, np.ndarray]  # ensemble spread, same shapes
    latent: np.ndarray  # first member's whole-cloud feature
    seconds: float  # network time (all members)


def compose_outside_sac(mean: dict[str, np.ndarray], lofi: np.ndarray, sac: np.ndarray) -> dict[str, np.ndarray]:
    """The network's fields on the sac, channel 3's own answer (``channel3_fields``) elsewhere. In the parent
    vessels, where the low-fidelity model's assumptions hold, it was closer to the CFD than the network trained on
    the draft dataset (held-out TAWSS ε outside the sac 30 % against 45 %, README); in the sac it is far off
    (280 % against 99 %), and there the network decides. The ensemble spread is left as it is: a proxy there."""
    inside = np.asarray(sac, dtype=bool)
    out = dict(mean)
    for key, v in channel3_fields(lofi).items():
        if key in out:
            mask = inside if v.ndim == 1 else inside[:, None]
            out[key] = np.where(mask, out[key], v)
    return out


def compose_direction(mean: dict[str, np.ndarray], lofi: np.ndarray) -> dict[str, np.ndarray]:
    """The mean WSS vector as channel 3's direction × TAWSS × (1 − 2·OSI): OSI = (1 − |mean τ| / TAWSS) / 2 by
    definition, so the predicted TAWSS and OSI fix its length, and a steady CFD field its direction (where the
    flow does not reverse, the mean shear points as the steady one). Where channel 3 vanishes the network's own
    vector stays."""
    lofi = np.asarray(lofi, dtype=np.float64)
    length = np.linalg.norm(lofi, axis=1, keepdims=True)
    osi = np.clip(mean[OSI], 0.0, 0.5)
    composed = lofi / np.maximum(length, 1e-12) * (mean[TAWSS] * (1.0 - 2.0 * osi))[:, None]
    return {**mean, WSS_MEAN: np.where(length > 0, composed, mean[WSS_MEAN])}


@torch.no_grad()
def predict_arrays(
    model: SurrogateModel,
    points: np.ndarray,
    normals: np.ndarray,
    lofi: np.ndarray,
    globals_: np.ndarray,
    global_names,
    sac: np.ndarray | None = None,
    context: np.ndarray | None = None,
) -> Prediction:
    """The ensemble's fields at the given wall points (mm, unit normals, low-fidelity WSS in Pa; the sac mask for
    a model that composes with channel 3 outside the sac; the wall context for a model that reads it)."""
    if model.lofi_outside_sac and (sac is None or len(sac) != len(points)):
        raise IahemoError("this surrogate uses channel 3 outside the sac: pass the sac mask of the points")
    norm = model.normalisation
    targets = tuple(norm.targets)
    # the network works in the model's frame (and, with mirror views, in its mirror image too); the vector outputs
    # are turned back below
    rot = canonical_rotation(points, lofi) if norm.frame == "pca" else np.eye(3)
    views = [rot, rot @ MIRROR] if model.mirror_views else [rot]
    inputs = []
    for v in views:
        x = torch.as_tensor(norm.coords(points @ v), dtype=torch.float32)[None]
        f = norm.point_features(normals @ v, lofi @ v, model.use_lofi, context)
        inputs.append((x, torch.as_tensor(f, dtype=torch.float32)[None]))
    g = torch.as_tensor(norm.globals_(globals_, global_names), dtype=torch.float32)[None]
    started = time.perf_counter()
    outs, z0 = [], None
    # the members share one config and a mirror keeps every distance: the neighbour searches are done once
    plan = model.members[0].plan(inputs[0][0])
    p_ref = reference_pressure(globals_, global_names)
    for net in model.members:
        answers = []
        for v, (x, f) in zip(views, inputs, strict=True):
            y, z = net(x, f, g, return_latent=True, plan=plan)
            answers.append(rotate_targets(norm.decode_targets(y[0].numpy(), p_ref, lofi), targets, v.T))
            if z0 is None:
                z0 = z[0].numpy()
        outs.append(np.mean(answers, axis=0))
    stack = np.stack(outs)
    mean = split_targets(stack.mean(0), targets)
    std = split_targets(stack.std(0), targets)
    if model.lofi_direction:
        mean = compose_direction(mean, lofi)
    if model.lofi_outside_sac:
        mean = compose_outside_sac(mean, lofi, sac)
    if model.sac_level is not None and sac is not None:
        d = parent_diameter(globals_, global_names)
        mean, factor = sac_level.rescale_sac(mean, points, sac, d, model.sac_level.log_ratio(globals_, global_names))
        std = sac_level.scale_on_sac(std, sac, factor)  # the members' spread scales with its field
    std = spread.scaled(std, model.spread_scale)
    seconds = time.perf_counter() - started
    return Prediction(mean, std, z0, seconds)


def predict_cloud(model: SurrogateModel, c: Cloud) -> Prediction:
    """``predict_arrays`` on a dataset cloud: its points, normals, channel 3, inputs, sac mask and wall context."""
    return predict_arrays(model, c.points, c.normals, c.lofi, c.globals_, c.global_names, c.sac, c.context)


def predict_wall(
    model: SurrogateModel, inp: WallInputs, bc: np.ndarray | None = None, lofi: np.ndarray | None = None
) -> Prediction:
    """``predict_arrays`` on a prepared surface (``cfdgen.wall_inputs.WallInputs``); ``bc`` and ``lofi`` (channel 3
    for that BC vector) replace the case's own for a boundary-condition sample."""
    c = inp.cloud
    g, names = input_vector(inp.inputs, bc)
    lofi = c.fields[LOFI] if lofi is None else lofi
    return predict_arrays(model, c.points, c.normals, lofi, g, names, c.sac, c.fields.get(CONTEXT))


def ood_verdict(model: SurrogateModel, globals_: np.ndarray, global_names, latent: np.ndarray) -> dict:
    g = model.normalisation.globals_(globals_, global_names)
    refs = {k: v for k, v in model.ood.items() if k in ("inputs", "latent")}
    verdict = ood.assess(refs, {"inputs": g, "latent": latent})
    # An unmeasured input enters the network as the training mean, which no distance can notice: a vessel
    # without a detected sac (NaN morphology) looks like an average training aneurysm (C0015: flag off before).
    measured = model.normalisation.global_measured or [False] * len(global_names)
    values = np.asarray(globals_, dtype=float)
    unknown = [n for n, v, m in zip(global_names, values, measured) if m and not np.isfinite(v)]
    verdict["unmeasured_inputs"] = unknown
    verdict["out_of_distribution"] = bool(verdict["out_of_distribution"] or unknown)
    return verdict


def _magnitude(v: np.ndarray) -> np.ndarray:
    return np.linalg.norm(v, axis=1) if v.ndim == 2 else np.abs(v)


def _on_surface(surface: pv.PolyData, points: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Inverse-distance interpolation of cloud values onto the surface's vertices (3 nearest points)."""
    from scipy.spatial import cKDTree

    d, idx = cKDTree(points).query(np.asarray(surface.points), k=3)
    w = 1.0 / np.maximum(d, 1e-9)
    w /= w.sum(axis=1, keepdims=True)
    v = np.asarray(values)
    return np.einsum("nk,nk...->n...", w, v[idx])


def channel3_inputs(model: SurrogateModel, surface: str | Path, case, inp: WallInputs) -> tuple[np.ndarray, dict]:
    """Channel 3 as the model was trained with it, and what was done to get it: the closed-form estimate that
    ``inp`` carries, or a steady solve of the surface under the inputs' BCs with the training samples' mesh level
    and interpolation (~30 s of one core: the inputs' geometry remeshed and meshed, simpleFoam for at most
    cfdgen.steady.CHANNEL_ITERATIONS iterations)."""
    import tempfile

    from cfdgen import lofi, steady

    source = model.channel3
    if source["model"] == lofi.LOFI_MODEL:
        return inp.cloud.fields[LOFI], dict(source)
    if source["model"] != steady.LOFI_MODEL:
        raise IahemoError(f"the model reads channel 3 from {source['model']!r}, which this code cannot compute")
    settings = steady.ChannelSettings.from_dict(source)
    with tempfile.TemporaryDirectory(prefix="iahemo-steady-") as work:
        shear = steady.steady_channel(surface, case, inp.bc, inp.cloud.points, work, settings, inp.prep)
    return shear.wss, {**source, **shear.record()}


def draw_channel3(base: np.ndarray, closed_nominal: np.ndarray, closed_draw: np.ndarray, channel3: dict) -> np.ndarray:
    """Channel 3 under another BC draw (``assess``'s grade distribution): the closed form computed for the draw;
    a steady field (one solve, at the nominal BCs: a solve per draw would cost ~1 min each) scaled point by point
    as the closed form scales between the two (its wall shear goes as viscosity × branch flow)."""
    from cfdgen.lofi import LOFI_MODEL

    if channel3["model"] == LOFI_MODEL:
        return closed_draw
    ratio = np.linalg.norm(closed_draw, axis=1) / np.maximum(np.linalg.norm(closed_nominal, axis=1), 1e-12)
    return base * ratio[:, None]


def predict_surface(
    surface: str | Path,
    case=None,
    out_dir: str | Path = "prediction",
    model: SurrogateModel | str | Path | None = None,
    n_points: int = 16384,
    figure: bool = True,
) -> dict:
    """``iahemo predict``: prepare the surface, predict the wall fields, write the outputs; returns the JSON."""
    from cfdgen.wall_inputs import surface_inputs
    from surrogate.metrics import sac_quantities

    model = load_model(model or DEFAULT_MODEL) if not isinstance(model, SurrogateModel) else model
    out_dir = Path(out_dir)
    started = time.perf_counter()
    with atomic_dir(out_dir) as tmp:
        inp = surface_inputs(surface, case, tmp, n_points=n_points)
        prep_s = time.perf_counter() - started
        c = inp.cloud
        g, names = input_vector(inp.inputs)
        lofi, channel3 = channel3_inputs(model, surface, case, inp)
        channel3_s = time.perf_counter() - started - prep_s
        pred = predict_wall(model, inp, lofi=lofi)
        verdict = ood_verdict(model, g, names, pred.latent)

        wall = pv.read(tmp / "geometry" / "surface.vtp")
        for key, v in pred.mean.items():
            wall.point_data[dataset_name(key)] = _on_surface(wall, c.points, v)
            wall.point_data[f"{dataset_name(key)}_std"] = _on_surface(wall, c.points, pred.std[key])
        wall.point_data[dataset_name(LOFI)] = _on_surface(wall, c.points, lofi)
        wall.field_data["out_of_distribution"] = np.array([int(verdict["out_of_distribution"])])
        wall.save(tmp / "prediction.vtp")
        d_parent = inp.morphology.get("parent_diameter", float("nan"))
        sac = sac_quantities(c.points, c.sac, pred.mean["tawss"], pred.mean["osi"], d_parent)
        result = {
            "surface": str(surface),
            "case_id": Path(surface).stem if case is None else case.id,
            "n_points": int(len(c.points)),
            "fields": {k: {"unit": registry.FIELDS[k].unit, "array": dataset_name(k)} for k in pred.mean},
            "sac": sac,
            "out_of_distribution": verdict["out_of_distribution"],
            "ood": verdict,
            "morphology": inp.morphology,
            "bc": dict(zip(inp.inputs.bc_names, map(float, inp.inputs.bc))),
            "notes": list(inp.notes),
            "channel3": channel3,
            "model": {
                "members": len(model.members),
                "uses_lofi": model.use_lofi,
                "lofi_outside_sac": model.lofi_outside_sac,
                "lofi_direction": model.lofi_direction,
                "sac_level": model.sac_level is not None,
                "frame": model.normalisation.frame,
                "registry_version": registry.REGISTRY_VERSION,
                "training_manifest_sha256": model.training.get("manifest_sha256"),
                "trained_on": model.training.get("data_description", ""),
                "test_metrics": model.metrics.get("summary", {}),
            },
            "timing_s": {
                "prepare": round(prep_s, 2),
                "channel3": round(channel3_s, 2),
                "network": round(pred.seconds, 3),
            },
            "spread_mean": {k: float(np.mean(_magnitude(v))) for k, v in pred.std.items()},
        }
        if figure:
            from cfdgen.post import tawss_osi_figure

            view = wall.copy()
            view.point_data[registry.FIELDS["tawss"].key] = wall.point_data[dataset_name("tawss")]
            view.point_data[registry.FIELDS["osi"].key] = wall.point_data[dataset_name("osi")]
            tawss_osi_figure(view, tmp / "prediction.png", title=f"surrogate: {result['case_id']}")
        write_json(tmp / "prediction.json", result)
    result["out_dir"] = str(out_dir)
    return result
