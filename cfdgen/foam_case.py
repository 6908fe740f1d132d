"""Render an OpenFOAM case from ``templates/``: placeholders ``{{name}}`` filled from typed settings.

Only what differs per run is generated here (patch entries, numbers); the dictionaries' structure lives in the
template so an engineer can read and change it as OpenFOAM files. Pressures are given in Pa and written as
kinematic pressure (p/ρ), which is what incompressible solvers use.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from cfdgen import registry
from cfdgen.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def template_root() -> Path:
    """``templates/`` of the repository (or ``$IAHEMO_TEMPLATES``)."""
    env = os.environ.get("IAHEMO_TEMPLATES")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "templates"


def num(x: float) -> str:
    """A float as OpenFOAM reads it back exactly enough (10 significant digits)."""
    return f"{float(x):.10g}"


def render_text(text: str, values: dict[str, str], source: str) -> str:
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise ConfigError(f"template {source}: no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def render_template(name: str, case_dir: str | Path, values: dict[str, str]) -> Path:
    """Copy ``templates/<name>`` into ``case_dir`` with every placeholder filled."""
    src = template_root() / name
    if not src.is_dir():
        raise ConfigError(f"OpenFOAM template {src} does not exist")
    dst = Path(case_dir)
    for path in sorted(src.rglob("*")):
        if path.is_dir() or path.name.startswith("."):
            continue
        rel = path.relative_to(src)
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_text(path.read_text(), values, str(rel)))
    return dst


# ---------------------------------------------------------------------------------------------------------------
# Patch entries


@dataclass(frozen=True)
class TimeTable:
    """A prescribed periodic-in-spirit time series, written as an OpenFOAM ``table`` Function1."""

    times: np.ndarray
    values: np.ndarray

    def foam(self, scale: float = 1.0) -> str:
        rows = " ".join(f"({num(t)} {num(v * scale)})" for t, v in zip(self.times, self.values, strict=True))
        return f"table ({rows})"


@dataclass(frozen=True)
class OutletSpec:
    """What an outlet prescribes: a pressure (constant or table, Pa) or a flow rate table (m³/s)."""

    patch: str
    kind: Literal["pressure", "flow"]
    pressure: float = 0.0  # Pa, when kind == "pressure" and no table
    pressure_table: TimeTable | None = None  # Pa (e.g. an open-loop Windkessel)
    flow_table: TimeTable | None = None  # m³/s, when kind == "flow"

    def __post_init__(self):
        if registry.patch_kind(self.patch) != "outlet":
            raise ConfigError(f"{self.patch!r} is not an outlet patch")
        if self.kind == "flow" and self.flow_table is None:
            raise ConfigError(f"outlet {self.patch}: a flow-rate outlet needs a flow table")


def _entry(patch: str, body: str) -> str:
    lines = "\n".join(f"        {ln}" for ln in body.strip().splitlines())
    return f"    {patch}\n    {{\n{lines}\n    }}"


def boundary_u(outlets: Sequence[OutletSpec]) -> str:
    """U entries: mapped Womersley/parabolic inlet data, no-slip wall, outlets by kind."""
    parts = [
        _entry(
            registry.INLET,
            # Per-face velocities written by Python under constant/boundaryData: no compiled BC needed. The data
            # points are the patch's own face centres, so nearest mapping is exact (v1912's planar interpolation
            # misplaced values on regular point grids).
            "type            timeVaryingMappedFixedValue;\noffset          (0 0 0);\nsetAverage      off;\n"
            "mapMethod       nearest;\nvalue           uniform (0 0 0);",
        ),
        _entry(registry.WALL, "type            noSlip;"),
    ]
    for o in outlets:
        if o.kind == "flow":
            assert o.flow_table is not None
            body = (
                f"type            flowRateOutletVelocity;\nvolumetricFlowRate {o.flow_table.foam()};\n"
                "value           uniform (0 0 0);"
            )
        else:
            # Backflow at a pressure outlet enters with zero velocity instead of an unbounded extrapolation.
            body = "type            inletOutlet;\ninletValue      uniform (0 0 0);\nvalue           uniform (0 0 0);"
        parts.append(_entry(o.patch, body))
    return "\n".join(parts)


def boundary_p(outlets: Sequence[OutletSpec], rho: float) -> str:
    parts = [
        _entry(registry.INLET, "type            zeroGradient;"),
        _entry(registry.WALL, "type            zeroGradient;"),
    ]
    for o in outlets:
        if o.kind == "flow":
            body = "type            zeroGradient;"
        elif o.pressure_table is not None:
            body = f"type            uniformFixedValue;\nuniformValue    {o.pressure_table.foam(1.0 / rho)};"
        else:
            body = f"type            fixedValue;\nvalue           uniform {num(o.pressure / rho)};"
        parts.append(_entry(o.patch, body))
    return "\n".join(parts)


def flow_rate_functions(patches: Sequence[str]) -> str:
    """One surfaceFieldValue per patch: the flux through it at every step (postProcessing/<name>/)."""
    blocks = []
    for p in patches:
        blocks.append(
            f"    flowRate_{p}\n    {{\n        type            surfaceFieldValue;\n"
            '        libs            ("libfieldFunctionObjects.so");\n'
            "        regionType      patch;\n"
            f"        name            {p};\n"
            "        operation       sum;\n        fields          (phi);\n        writeFields     false;\n"
            "        log             false;\n        writeControl    timeStep;\n        writeInterval   1;\n    }"
        )
    return "\n".join(blocks)


def decomposition(n_procs: int) -> str:
    """Hierarchical split along x only: at 1–64 ranks on vessel-shaped domains this is a sane default."""
    if n_procs < 1:
        raise ConfigError(f"number of MPI ranks must be >= 1 (got {n_procs})")
    return f"{n_procs} 1 1"


def copy_mesh(mesh_dir: str | Path, case_dir: str | Path) -> None:
    src = Path(mesh_dir) / "constant" / "polyMesh"
    if not (src / "boundary").is_file():
        raise ConfigError(f"{mesh_dir} holds no OpenFOAM mesh (constant/polyMesh/boundary missing)")
    dst = Path(case_dir) / "constant" / "polyMesh"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
