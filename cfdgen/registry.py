"""The one registry of names: wall fields, patches and morphology parameters, with units.

Every reader and writer (VTP arrays, HDF5 samples, JSON outputs, OpenFOAM function objects, plots) takes
names from here; no other module spells a field or patch name. Bump ``REGISTRY_VERSION`` whenever a key,
unit or meaning changes, because model artifacts record the version they were trained against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

REGISTRY_VERSION = "1"

Kind = Literal["scalar", "vector", "array"]


@dataclass(frozen=True)
class Field:
    """A field on the vessel wall."""

    key: str  # snake_case name used in files and arrays
    label: str  # short label for plots and reports
    unit: str
    kind: Kind
    description: str
    target: bool = False  # predicted by the hemodynamics surrogate
    positive: bool = False  # strictly positive: the surrogate learns it in log space
    components: tuple[str, ...] = ()  # column names of an "array" field
    # Carries an absolute level far above its variation (TAP: ~13 kPa gauge, varying by tens of Pa): compact
    # sample copies keep it in single precision, where half precision would round it by ±4 Pa.
    full_precision: bool = False
    # Depends on the wall alone, not on the run (its BCs): every run of a geometry carries the same values, so a
    # packed copy stores it once per geometry (cfdgen.pointcloud "shared geometry").
    geometric: bool = False

    @property
    def ncomp(self) -> int:
        return {"scalar": 1, "vector": 3}.get(self.kind, len(self.components))


@dataclass(frozen=True)
class Parameter:
    """A scalar case-level quantity (morphology, sac-level hemodynamics)."""

    key: str
    label: str
    unit: str
    description: str


_FIELDS = (
    Field("tawss", "TAWSS", "Pa", "scalar", "time-averaged WSS magnitude (1/T)∫|τ|dt", target=True, positive=True),
    Field("osi", "OSI", "1", "scalar", "oscillatory shear index ½(1 − |∫τdt| / ∫|τ|dt), in [0, 0.5]", target=True),
    Field("rrt", "RRT", "1/Pa", "scalar", "relative residence time 1/((1 − 2·OSI)·TAWSS)", positive=True),
    Field("ecap", "ECAP", "1/Pa", "scalar", "endothelial cell activation potential OSI/TAWSS"),
    Field("twssg", "TWSSG", "Pa/s", "scalar", "temporal WSS gradient (1/T)∫|∂τ/∂t|dt"),
    Field("wssg", "WSSG", "Pa/m", "scalar", "in-surface spatial gradient magnitude of the time-averaged WSS"),
    Field(
        "tap",
        "TAP",
        "Pa",
        "scalar",
        "time-averaged pressure (1/T)∫p dt, relative to the reference pressure",
        target=True,
        full_precision=True,
    ),
    Field("ntawss", "nTAWSS", "1", "scalar", "TAWSS divided by the mean parent-artery TAWSS near the neck"),
    Field("wss_mean", "mean WSS", "Pa", "vector", "time-averaged WSS vector (1/T)∫τ dt", target=True),
    Field("wss", "WSS", "Pa", "vector", "instantaneous WSS vector"),
    Field("pressure", "p", "Pa", "scalar", "instantaneous pressure"),
    # Inputs and masks carried on the same wall point clouds.
    Field("sac", "sac", "1", "scalar", "1 on the aneurysm sac, 0 elsewhere"),
    Field("wss_lofi", "low-fidelity WSS", "Pa", "vector", "Poiseuille/Womersley WSS estimate before CFD (channel 3)"),
    Field(
        "tube_deviation",
        "tube deviation",
        "1",
        "scalar",
        "distance to the centerline / local tube radius (1 on the tube)",
        geometric=True,
    ),
    Field(
        "wall_context",
        "wall context",
        "1",
        "array",
        "where the point sits in the vessel tree: distances along the centerline to junctions and ends, bend "
        "curvature and side, sac distance, taper (cfdgen.wall_context)",
        components=(
            "branch_start",
            "branch_end",
            "curvature",
            "upstream_curvature",
            "outer_wall",
            "upstream_outer_wall",
            "tube_deviation",
            "sac_distance",
            "taper",
        ),
        geometric=True,
    ),
)
FIELDS: dict[str, Field] = {f.key: f for f in _FIELDS}

_MORPHOLOGY = (
    Parameter(
        "size", "size", "mm", "maximum sac diameter: largest distance between two points of the sac (incl. neck)"
    ),
    Parameter("height", "H", "mm", "maximum perpendicular distance from the neck plane to the dome"),
    Parameter("height_max", "Hmax", "mm", "maximum distance from the neck centre to any sac point"),
    Parameter("width", "W", "mm", "maximum sac diameter within planes perpendicular to the height axis"),
    Parameter("neck_diameter", "N", "mm", "2 × mean distance from the neck centroid to the neck contour"),
    Parameter("aspect_ratio", "AR", "1", "H / N"),
    Parameter("size_ratio", "SR", "1", "Hmax / D_vessel, D_vessel = (D1 + D2)/2"),
    Parameter("bottleneck_factor", "BF", "1", "W / N"),
    Parameter("height_width_ratio", "H/W", "1", "H / W"),
    Parameter("nsi", "NSI", "1", "non-sphericity index 1 − (18π)^(1/3) V^(2/3) / S (S without the neck)"),
    Parameter("ei", "EI", "1", "ellipticity index: NSI of the convex hull (hull area without the neck)"),
    Parameter("ui", "UI", "1", "undulation index 1 − V / V_hull"),
    Parameter("sac_volume", "V", "mm^3", "volume enclosed by the sac and the neck surface"),
    Parameter("sac_area", "S", "mm^2", "sac wall area, neck surface excluded"),
    Parameter("neck_area", "A_neck", "mm^2", "area of the surface spanning the neck contour"),
    Parameter("parent_diameter", "D_vessel", "mm", "(D1 + D2)/2 of the parent vessel(s) at the neck"),
    Parameter(
        "inflow_angle",
        "inflow angle",
        "deg",
        "angle between the parent flow direction at the neck and the neck→dome axis",
    ),
    Parameter(
        "outflow_angle", "outflow angle", "deg", "angle between the outflow vessel direction and the neck→dome axis"
    ),
    Parameter("parent_curvature", "κ parent", "1/mm", "parent centerline curvature at the neck"),
)
MORPHOLOGY: dict[str, Parameter] = {p.key: p for p in _MORPHOLOGY}

# Patches of the CFD domain (OpenFOAM boundary names, labelled surface regions).
INLET = "inlet"
WALL = "wall"
_OUTLET_RE = re.compile(r"^outlet_(\d+)$")


def outlet(k: int) -> str:
    """Name of the k-th outlet patch (0-based)."""
    if k < 0:
        raise ValueError(f"outlet index must be >= 0, got {k}")
    return f"outlet_{k}"


def patch_kind(name: str) -> Literal["inlet", "outlet", "wall"]:
    """Classify a patch name; unknown names are an error so typos never pass silently."""
    if name == INLET:
        return "inlet"
    if name == WALL:
        return "wall"
    if _OUTLET_RE.match(name):
        return "outlet"
    raise ValueError(f"unknown patch name {name!r}: expected 'inlet', 'wall' or 'outlet_<k>'")


def outlet_index(name: str) -> int:
    m = _OUTLET_RE.match(name)
    if not m:
        raise ValueError(f"{name!r} is not an outlet patch name")
    return int(m.group(1))


def field(key: str) -> Field:
    try:
        return FIELDS[key]
    except KeyError:
        raise KeyError(f"unknown field {key!r}; registry has: {', '.join(FIELDS)}") from None


def target_fields() -> list[Field]:
    return [f for f in _FIELDS if f.target]


# Point arrays that label surfaces (openings, regions) in VTP files.
OPENING_PATCH = "opening_patch"  # field data: patch name of each opening, indexed by opening_id
OPENING_ID = "opening_id"  # per boundary-loop point: -1 wall, k for opening k
REGION_ID = "region_id"  # per cell: 0 wall, 1 inlet cap, 2+k outlet k cap
