"""``iahemo morph``: surface file → openings → vmtk centerlines → sac → morphology JSON, VTP and figure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyvista as pv

from cfdgen import __version__, registry
from cfdgen.atomic import write_json
from cfdgen.case import Case
from cfdgen.clip_ends import ClipConfig, clip_ragged_ends
from cfdgen.intake import IntakeConfig, SurfaceIntake, read_surface
from cfdgen.morphology import public, sac_shape, vessel_terms
from cfdgen.openings import OpeningLoop, find_openings
from cfdgen.sac_detect import DEVIATION, SacConfig, SacDetection, detect_sac, vessel_context
from cfdgen.surface import write_atomic
from cfdgen.vmtk_centerlines import CenterlineSet, compute_centerlines


@dataclass(frozen=True)
class MorphConfig:
    sac: SacConfig = field(default_factory=SacConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    centerline_step: float = 0.1  # mm between resampled centerline points


@dataclass(frozen=True, eq=False)
class MorphResult:
    values: dict  # registry morphology keys -> float
    kind: str
    intake: SurfaceIntake
    surface: pv.PolyData  # the measured surface (mm, ends cut square where they were ragged)
    clip_messages: tuple[str, ...]
    centerlines: CenterlineSet
    detection: SacDetection
    shape: dict  # sac_shape output incl. the private neck and dome point


def _point(hint) -> np.ndarray | None:
    return None if hint is None else np.asarray(hint, float)


@dataclass(frozen=True, eq=False)
class Vessel:
    """A lumen surface ready for measurement and meshing: mm, ends square, openings named, centerlines."""

    intake: SurfaceIntake
    surface: pv.PolyData
    openings: list[OpeningLoop]
    centerlines: CenterlineSet
    clip_messages: tuple[str, ...]


def prepare_vessel(surface_path: str | Path, case: Case | None = None, cfg: MorphConfig = MorphConfig()) -> Vessel:
    hints = case.hints if case is not None else None
    intake = read_surface(surface_path, IntakeConfig(units=case.units if case is not None else "auto"))
    surface = intake.surface
    openings = find_openings(surface, inlet_hint=_point(hints.inlet) if hints else None)
    centerlines = compute_centerlines(surface, openings, resampling=cfg.centerline_step)
    clipped = clip_ragged_ends(surface, openings, centerlines.paths, cfg.clip)
    if clipped.clipped:  # ragged or oblique ends were cut square: centerlines must follow the new ends
        surface, openings = clipped.surface, list(clipped.openings)
        centerlines = compute_centerlines(surface, openings, resampling=cfg.centerline_step)
    return Vessel(intake, surface, list(openings), centerlines, clipped.messages)


def measure_vessel(vessel: Vessel, case: Case | None = None, cfg: MorphConfig = MorphConfig()) -> MorphResult:
    hints = case.hints if case is not None else None
    surface, centerlines = vessel.surface, vessel.centerlines
    det = detect_sac(
        surface,
        centerlines.paths,
        cfg.sac,
        dome_point=_point(hints.dome_point) if hints else None,
        neck_point=_point(hints.neck_point) if hints else None,
    )
    shape = sac_shape(det.sac)
    kind, ctx = vessel_context(
        centerlines.paths, shape["_neck"].centroid, det.sac.neck_segments, hints.kind if hints else None, cfg.sac
    )
    values = {**shape, **vessel_terms(shape, ctx)}
    values = {k: values[k] for k in registry.MORPHOLOGY}
    return MorphResult(public(values), kind, vessel.intake, surface, vessel.clip_messages, centerlines, det, shape)


def measure(surface_path: str | Path, case: Case | None = None, cfg: MorphConfig = MorphConfig()) -> MorphResult:
    return measure_vessel(prepare_vessel(surface_path, case, cfg), case, cfg)


def write_outputs(result: MorphResult, out_dir: str | Path, source: str) -> dict[str, Path]:
    """morphology.json (registry keys, mm/deg), surface.vtp (point array ``sac``), centerlines.vtp, PNG."""
    from cfdgen.plots import morphology_figure

    out = Path(out_dir)
    neck, dome = result.shape["_neck"], result.shape["_dome_point"]
    surface = result.surface.copy()
    surface.point_data[registry.FIELDS["sac"].key] = result.detection.point_mask
    surface.point_data[DEVIATION] = result.detection.deviation
    paths = {
        "json": out / "morphology.json",
        "surface": out / "surface.vtp",
        "centerlines": out / "centerlines.vtp",
        "figure": out / "morphology.png",
    }
    write_atomic(surface, paths["surface"])
    write_atomic(result.centerlines.polydata, paths["centerlines"])
    morphology_figure(
        surface,
        result.detection.sac.neck_segments,
        result.centerlines.paths,
        neck,
        dome,
        result.values,
        paths["figure"],
    )
    write_json(
        paths["json"],
        {
            **result.values,
            "units": {k: p.unit for k, p in registry.MORPHOLOGY.items()},
            "kind": result.kind,
            "neck_centroid": neck.centroid.tolist(),
            "neck_normal": neck.normal.tolist(),
            "dome_point": np.asarray(dome).tolist(),
            "neck_threshold": float(np.median(result.detection.threshold[result.detection.point_mask > 0])),
            "source": source,
            "source_units": result.intake.source_units,
            "units_detected": result.intake.units_detected,
            "repairs": list(result.intake.repairs) + list(result.clip_messages),
            "code_version": __version__,
        },
    )
    return paths
