"""The hemodynamics surrogate's model artifact: one file that inference loads and nothing else.

Contents (torch.save of a plain dict, loaded with ``weights_only=True``): format version, the ensemble members'
weights, the network's constructor config, the normalisation, the registry version, the training manifest's
hash, the training configuration, the out-of-distribution reference statistics, the measured test metrics and
a short model card. A model is refused when its registry version differs from the running code's, rather than
silently mislabelling fields.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cfdgen import __version__, registry
from cfdgen.atomic import atomic_path
from cfdgen.errors import IahemoError
from cfdgen.lofi import LOFI_MODEL
from surrogate.data import Normalisation
from surrogate.pointnet import PointNetConfig, PointNetPP
from surrogate.sac_level import SacLevelModel

FORMAT_VERSION = 1
KIND = "iahemo.hemodynamics_surrogate"


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(eq=False)
class SurrogateModel:
    """An ensemble of point networks sharing one configuration and normalisation."""

    config: PointNetConfig
    normalisation: Normalisation
    members: list[PointNetPP]
    use_lofi: bool = True  # False: channel 3 zeroed (the ablation model)
    # True: outside the sac, the fields channel 3 determines (TAWSS, mean WSS vector, OSI) are channel 3's own
    # answer and the network's are used on the sac only (surrogate.predict.compose_outside_sac).
    lofi_outside_sac: bool = False
    # True: the mean WSS vector is channel 3's direction times TAWSS × (1 − 2·OSI), both predicted (the identity
    # that defines OSI), not the network's own vector (surrogate.predict.compose_direction).
    lofi_direction: bool = False
    # The sac's TAWSS level relative to the parent artery, set by a case-level model (surrogate.sac_level); None:
    # the network's own level.
    sac_level: SacLevelModel | None = None
    # True: every member also answers for the vessel's mirror image (the frame's third axis negated) and that
    # answer, mirrored back, is averaged with its own: the flow in a mirrored vessel is the mirrored flow, so the
    # answer is then exactly mirror-consistent. Set for models trained with mirrored clouds (augment_mirror).
    mirror_views: bool = False
    # Factor per field for the ensemble's spread, fitted on the validation split (surrogate.spread: the members
    # agree with each other more than with the CFD); empty: the members' own standard deviation.
    spread_scale: dict[str, float] = field(default_factory=dict)
    ood: dict[str, Any] = field(default_factory=dict)  # reference statistics, see surrogate.ood
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)  # config, manifest hash, curves summary, seeds
    card: str = ""
    # Where channel 3 comes from, as in the training samples (surrogate.data.channel3_source): the closed-form
    # Poiseuille-Dean estimate, or a steady CFD solve ({"model": cfdgen.steady.LOFI_MODEL, "level", "interpolation"}),
    # which inference must then run the same way (surrogate.predict.channel3_inputs)
    channel3: dict = field(default_factory=lambda: {"model": LOFI_MODEL})

    def eval(self) -> SurrogateModel:
        for m in self.members:
            m.eval()
        return self


def write_payload(payload: dict, path: str | Path) -> Path:
    """torch.save of a plain dict, written atomically (a killed job leaves no model that looks finished)."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buf.getvalue())
    return path


def read_payload(path: str | Path, kind: str, what: str) -> dict:
    """The dict of a model file of ``kind``; one readable line for a missing, truncated or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise IahemoError(f"no {what} at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: one line, not a pickle traceback
        raise IahemoError(f"{path}: not a readable iahemo {what} ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        raise IahemoError(f"{path}: not an iahemo {what}")
    return payload


def save_model(model: SurrogateModel, path: str | Path) -> Path:
    payload = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "registry_version": registry.REGISTRY_VERSION,
        "code_version": __version__,
        "config": model.config.to_dict(),
        "normalisation": model.normalisation.to_dict(),
        "use_lofi": model.use_lofi,
        "lofi_outside_sac": model.lofi_outside_sac,
        "lofi_direction": model.lofi_direction,
        "sac_level": model.sac_level.to_dict() if model.sac_level is not None else None,
        "mirror_views": model.mirror_views,
        "spread_scale": model.spread_scale,
        "members": [{k: v.detach().cpu().clone() for k, v in m.state_dict().items()} for m in model.members],
        "ood": model.ood,
        "metrics": model.metrics,
        "training": model.training,
        "card": model.card,
        "channel3": model.channel3,
    }
    return write_payload(payload, path)


def load_model(path: str | Path) -> SurrogateModel:
    payload = read_payload(path, KIND, "hemodynamics surrogate")
    if payload.get("format_version") != FORMAT_VERSION:
        raise IahemoError(f"{path}: model format {payload.get('format_version')} (this code reads {FORMAT_VERSION})")
    if payload.get("registry_version") != registry.REGISTRY_VERSION:
        raise IahemoError(
            f"{path}: trained with field registry {payload.get('registry_version')}, this code has "
            f"{registry.REGISTRY_VERSION}; retrain the model"
        )
    config = PointNetConfig.from_dict(payload["config"])
    members = []
    for state in payload["members"]:
        net = PointNetPP(config)
        net.load_state_dict(state)
        members.append(net.eval())
    return SurrogateModel(
        config=config,
        normalisation=Normalisation.from_dict(payload["normalisation"]),
        members=members,
        use_lofi=bool(payload.get("use_lofi", True)),
        lofi_outside_sac=bool(payload.get("lofi_outside_sac", False)),
        lofi_direction=bool(payload.get("lofi_direction", False)),
        sac_level=SacLevelModel.from_dict(payload["sac_level"]) if payload.get("sac_level") else None,
        mirror_views=bool(payload.get("mirror_views", False)),
        spread_scale={k: float(v) for k, v in (payload.get("spread_scale") or {}).items()},
        ood=payload.get("ood") or {},
        metrics=payload.get("metrics") or {},
        training=payload.get("training") or {},
        card=payload.get("card") or "",
        channel3=payload.get("channel3") or {"model": LOFI_MODEL},
    )
