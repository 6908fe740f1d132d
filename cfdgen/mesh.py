"""Volume meshing of a capped lumen surface: gmsh prisms at the wall + tetrahedra inside, then OpenFOAM polyMesh.

Input: a closed, consistently oriented triangle surface in mm with the cell array ``registry.REGION_ID`` (0 wall,
1 inlet cap, 2 + k outlet k cap), as ``cfdgen.openings.cap`` returns it. The wall is re-parametrised and remeshed by
gmsh with a size of ``size_factor × local radius``; prism layers are extruded inwards from the wall mesh; the core
is filled with tetrahedra (Netgen optimisation on). The caps of the input only name the openings: the inlet/outlet
patches are rebuilt from the layers' lateral rings plus plane surfaces spanning the inner rims.

Output folder (written atomically, so a folder that exists is complete)::

    out_dir/mesh.msh               MSH 2.2 ASCII, metres, physical groups inlet, outlet_k, wall, fluid
    out_dir/surface.vtp            the surface meshed (mm): the input, or its crease-rounded copy (qc crease_smoothing)
    out_dir/system/controlDict     minimal, so OpenFOAM utilities run on the folder
    out_dir/constant/polyMesh/     from gmshToFoam; the wall patch has type ``wall``
    out_dir/qc.json                counts, cell types, layers, checkMesh quality and verdict, parameters, timings
    out_dir/log.gmshToFoam, log.checkMesh

gmsh is not thread-safe: calls are serialised by a module-level lock.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree

from cfdgen import registry
from cfdgen.atomic import atomic_dir
from cfdgen.errors import ConfigError, GeometryError, IahemoError
from cfdgen.foam_run import fatal_message, require, run_utility
from cfdgen.surface import _edges, triangles

MM_TO_M = 1e-3
QC_VERSION = "1"
_GMSH_LOCK = threading.Lock()
_TRI, _PRISM = 2, 6  # gmsh element types


@dataclass(frozen=True)
class MeshLevel:
    """Resolution of a mesh: sizes relative to the local vessel radius R."""

    name: str
    size_factor: float  # target edge length / local R in the core
    layers: int  # prism layers at the wall (0: pure tetrahedra)
    first_layer: float  # first prism layer thickness / reference R
    growth: float  # thickness ratio of consecutive layers
    # Edge length / R on the wall (default: size_factor). The wall polygon's chords cut the lumen's area by about
    # (h/R)²/6 (+3 % Poiseuille WSS at h = 0.35 R), so the wall wants a finer size than the core.
    wall_factor: float | None = None

    def __post_init__(self):
        if self.wall_factor is None:
            object.__setattr__(self, "wall_factor", self.size_factor)
        if not 0.01 <= self.wall_factor <= 2.0:
            raise ConfigError(f"mesh level {self.name}: wall_factor must be in [0.01, 2] (got {self.wall_factor})")
        if not 0.01 <= self.size_factor <= 2.0:
            raise ConfigError(f"mesh level {self.name}: size_factor must be in [0.01, 2] (got {self.size_factor})")
        if not 0 <= self.layers <= 20:
            raise ConfigError(f"mesh level {self.name}: layers must be in [0, 20] (got {self.layers})")
        if self.layers and not 0.0 < self.first_layer < 0.5:
            raise ConfigError(f"mesh level {self.name}: first_layer must be in (0, 0.5) (got {self.first_layer})")
        if not 1.0 <= self.growth <= 3.0:
            raise ConfigError(f"mesh level {self.name}: growth must be in [1, 3] (got {self.growth})")
        if self.total_layer_fraction() >= 0.5:
            raise ConfigError(
                f"mesh level {self.name}: the prism layers are {self.total_layer_fraction():.2f} R thick (need < 0.5 R)"
            )

    def layer_fractions(self) -> list[float]:
        """Cumulative heights of the layers' tops, in units of the reference radius."""
        h = [self.first_layer * self.growth**i for i in range(self.layers)]
        return list(np.cumsum(h)) if h else []

    def total_layer_fraction(self) -> float:
        f = self.layer_fractions()
        return float(f[-1]) if f else 0.0


# On a 4 mm × 40 mm pipe tiny gives ≈ 12k cells (tests, CI smoke runs); fine is near production resolution.
# Thick layers on a fine wall mesh can cross each other in concave regions (the aneurysm neck; gmsh stops with "A
# segment and a facet intersect"): mesh_surface then retries with thinner layers (MeshConfig.layer_fallback).
MESH_LEVELS: dict[str, MeshLevel] = {
    # Dataset generation on small machines (2 cores): ~8k cells and ~1 min per cardiac cycle on one core for a
    # synthetic case; the surrogate's committed training set is built at this level (a cluster regenerates it at
    # coarse or finer with the same command). Its verification numbers are in the README.
    "draft": MeshLevel("draft", size_factor=0.8, wall_factor=0.5, layers=2, first_layer=0.12, growth=1.3),
    # Measured on a steady Poiseuille pipe (R = 2 mm): WSS error falls from 5-8 % to 2 % when the layers cover a
    # third of the radius instead of a tenth, and the wall size sets the polygon's area loss ((h/R)²/6).
    "tiny": MeshLevel("tiny", size_factor=0.4, wall_factor=0.25, layers=4, first_layer=0.06, growth=1.25),
    "coarse": MeshLevel("coarse", size_factor=0.3, wall_factor=0.18, layers=5, first_layer=0.045, growth=1.2),
    "medium": MeshLevel("medium", size_factor=0.2, wall_factor=0.12, layers=6, first_layer=0.03, growth=1.2),
    "fine": MeshLevel("fine", size_factor=0.12, wall_factor=0.08, layers=8, first_layer=0.015, growth=1.2),
}


@dataclass(frozen=True)
class MeshConfig:
    """Meshing choices besides the level."""

    # The prism layers have one thickness everywhere: first_layer × this quantile of the wall's local radius (a low
    # quantile, so the parent artery, not the dome, sets it, and thin branches are not filled by layers).
    layer_radius_quantile: float = 0.2
    # Points closer than this fraction of the smaller of the smallest target cell size and the input's median edge
    # are merged before meshing (see _merge_short_edges); 0 disables it. Larger values fold marching-cubes
    # surfaces into non-manifold ones.
    merge_fraction: float = 0.1
    min_size_mm: float = 0.02  # clamp of the size field (guards against a radius of ~0 from a bad callable)
    algorithm_2d: int = 6  # gmsh Mesh.Algorithm: 6 Frontal-Delaunay, 1 MeshAdapt, 5 Delaunay
    algorithm_3d: int = 1  # gmsh Mesh.Algorithm3D: 1 Delaunay, 10 HXT
    optimize_netgen: bool = True  # without it gmsh leaves slivers that cut the CFD time step ~2.4× (notes)
    threads: int = 1
    timeout_s: float = 1800.0  # per OpenFOAM utility
    # checkMesh failures tolerated without raising (they are recorded in qc.json): v1912 flags a few highly skewed
    # faces on any tetrahedral mesh of a curved wall. Anything else (open cells, negative volumes, ...) raises.
    tolerated_failures: tuple[str, ...] = ("skew", "non-orthogonal", "aspect ratio", "concave", "warp")
    max_non_orthogonality: float = 85.0  # degrees; above it the mesh is unusable and meshing fails
    layer_fallback: tuple[float, ...] = (0.6, 0.35)  # layer thickness scales tried when the level's layers fold
    # When every layer scale folds, the wall is Taubin-smoothed (caps and rims fixed) and meshed again, with each
    # (iterations, pass band) in turn: the layers fold at a sharp neck crease, and rounding it moves the wall by
    # < 0.1 mm there and ~0.01 mm elsewhere (measured on the dataset's refused cases). Empty: no retry.
    crease_smoothing: tuple[tuple[int, float], ...] = ((20, 0.05), (60, 0.02))

    def __post_init__(self):
        if not 0.0 <= self.layer_radius_quantile <= 1.0:
            raise ConfigError(f"layer_radius_quantile must be in [0, 1] (got {self.layer_radius_quantile})")
        if self.min_size_mm <= 0:
            raise ConfigError(f"min_size_mm must be > 0 (got {self.min_size_mm})")
        for iterations, pass_band in self.crease_smoothing:
            if iterations < 1 or not 0.0 < pass_band <= 2.0:
                raise ConfigError(
                    f"crease_smoothing needs iterations >= 1 and a pass band in (0, 2] (got {iterations}, {pass_band})"
                )
        if self.algorithm_3d not in (1, 4, 7, 10):
            raise ConfigError(f"algorithm_3d must be 1, 4, 7 or 10 (got {self.algorithm_3d})")


@dataclass(frozen=True)
class MeshQC:
    """Summary of a volume mesh; written as ``qc.json``."""

    level: str
    level_parameters: dict
    cells: int
    points: int
    faces: int
    cell_types: dict  # tetrahedra, prisms, pyramids, hexahedra, polyhedra (+ others checkMesh lists)
    layers_present: bool
    layer_count: int
    layer_thickness_mm: float  # total thickness of the prism layers
    first_layer_mm: float
    reference_radius_mm: float
    patches: dict  # patch name -> {"type": ..., "faces": ...}
    total_volume_m3: float
    max_non_orthogonality: float
    max_skewness: float
    min_volume_m3: float
    checkmesh_ok: bool
    checkmesh_verdict: str  # "Mesh OK." or the failed checks joined by "; "
    gmsh_version: str
    openfoam: str
    wall_time_s: float
    timings_s: dict = field(default_factory=dict)
    layer_scale: float = 1.0  # < 1 when the level's layers folded and thinner ones were used
    # set when the wall was smoothed before meshing: iterations, pass band, max and 99th-percentile displacement (mm)
    crease_smoothing: dict | None = None
    qc_version: str = QC_VERSION

    def to_dict(self) -> dict:
        return asdict(self)


Radius = None | float | str | np.ndarray | Callable[[np.ndarray], np.ndarray]


def resolve_level(level: MeshLevel | str) -> MeshLevel:
    if isinstance(level, MeshLevel):
        return level
    try:
        return MESH_LEVELS[level]
    except KeyError:
        raise ConfigError(f"unknown mesh level {level!r}; choose one of {', '.join(MESH_LEVELS)}") from None


def mesh_surface(
    closed: pv.PolyData,
    out_dir: str | Path,
    level: MeshLevel | str = "coarse",
    radius: Radius = None,
    config: MeshConfig = MeshConfig(),
) -> MeshQC:
    """Mesh the lumen bounded by ``closed`` (mm, ``REGION_ID`` cells) into the OpenFOAM case folder ``out_dir``.

    ``radius`` gives the local vessel radius (mm) that sets the mesh size:

    - ``None``: the radius of the inlet cap everywhere;
    - a float: that radius everywhere;
    - a str: the name of a point array of ``closed``;
    - an array with one value per point of ``closed``;
    - a callable mapping an (n, 3) array of positions (mm) to n radii, e.g. the MaximumInscribedSphereRadius of
      the nearest centerline point. It is evaluated at the surface points; inside the lumen the size follows the
      nearest surface point.

    Raises ``GeometryError`` for unusable surfaces and meshing failures, ``IahemoError`` when OpenFOAM is missing
    or a utility fails; nothing is left at ``out_dir`` then.
    """
    t0 = time.perf_counter()
    lvl = resolve_level(level)
    points0, tri0, region0 = _checked_surface(closed)
    radii0 = _point_radii(closed, points0, tri0, region0, radius)
    _openfoam_tools()
    edge = np.linalg.norm(points0[tri0] - points0[np.roll(tri0, 1, axis=1)], axis=2)
    smallest = min(lvl.size_factor, lvl.wall_factor) * float(np.min(radii0[np.unique(tri0)]))
    merge_mm = config.merge_fraction * min(smallest, float(np.median(edge)))
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    smoothings = [None, *config.crease_smoothing]
    with atomic_dir(out_dir) as tmp:
        for attempt, smoothing in enumerate(smoothings):
            wall_points = points0 if smoothing is None else _round_creases(points0, tri0, region0, *smoothing)
            try:
                surf = _Surface(*_merge_short_edges(wall_points, tri0, region0, radii0, merge_mm))
                wall_ids = np.unique(surf.tri[surf.region == 0])
                r_ref = float(np.quantile(surf.radii[wall_ids], config.layer_radius_quantile))
                heights = [f * r_ref for f in lvl.layer_fractions()]
                stats, patches, gmsh_version, scale = _attempt_scales(tmp, surf, heights, lvl, config, timings)
                break
            except GeometryError as exc:
                if attempt == len(smoothings) - 1:
                    if smoothing is None:
                        raise
                    raise GeometryError(f"{exc} (also after smoothing the wall's creases)") from None
                _empty(tmp)
        crease = None
        if smoothing is not None:
            moved = np.linalg.norm(wall_points - points0, axis=1)
            crease = {
                "iterations": smoothing[0],
                "pass_band": smoothing[1],
                "max_displacement_mm": round(float(moved.max()), 4),
                "p99_displacement_mm": round(float(np.quantile(moved, 0.99)), 4),
            }
            closed = closed.copy()
            closed.points = wall_points
        heights = [h * scale for h in heights]
        closed.save(tmp / "surface.vtp")
        n_prisms = int(stats["cell_types"].get("prisms", 0))
        wall_faces = patches[registry.WALL]["faces"]
        # every wall triangle carries one prism per layer
        if n_prisms and wall_faces and n_prisms % wall_faces == 0:
            layer_count = n_prisms // wall_faces
        else:
            layer_count = lvl.layers if n_prisms else 0
        qc = MeshQC(
            level=lvl.name,
            level_parameters=asdict(lvl),
            cells=stats["cells"],
            points=stats["points"],
            faces=stats["faces"],
            cell_types=stats["cell_types"],
            layers_present=n_prisms > 0,
            layer_count=layer_count,
            layer_thickness_mm=float(heights[-1]) if heights else 0.0,
            first_layer_mm=float(heights[0]) if heights else 0.0,
            reference_radius_mm=r_ref,
            patches=patches,
            total_volume_m3=stats["total_volume"],
            max_non_orthogonality=stats["max_non_orthogonality"],
            max_skewness=stats["max_skewness"],
            min_volume_m3=stats["min_volume"],
            checkmesh_ok=stats["ok"],
            checkmesh_verdict=stats["verdict"],
            gmsh_version=gmsh_version,
            openfoam=stats.get("build", ""),
            wall_time_s=round(time.perf_counter() - t0, 3),
            timings_s={k: round(v, 3) for k, v in timings.items()},
            layer_scale=scale,
            crease_smoothing=crease,
        )
        (tmp / "qc.json").write_text(json.dumps(qc.to_dict(), indent=2) + "\n")
    return qc


# ---------------------------------------------------------------------------------------------------------------
# input checks


def _empty(folder: Path) -> None:
    for item in folder.iterdir():
        shutil.rmtree(item) if item.is_dir() else item.unlink()


@dataclass(frozen=True, eq=False)
class _Surface:
    """A checked, merged surface ready for gmsh: points (mm), outward triangles, region labels, local radii."""

    points: np.ndarray
    tri: np.ndarray
    region: np.ndarray
    radii: np.ndarray

    @property
    def openings(self) -> list[_Opening]:
        return _openings(self.points, self.tri, self.region)


def _attempt_scales(tmp: Path, surf: _Surface, heights: list[float], lvl, config, timings):
    """Mesh with the level's layers, then with the fallback thicknesses until one passes; the last error otherwise."""
    openings = surf.openings
    expected = {registry.INLET, registry.WALL} | {registry.outlet(k) for k in range(len(openings) - 1)}
    scales = (1.0, *config.layer_fallback) if heights else (1.0,)
    for attempt, scale in enumerate(scales):
        # Layers as thick as a third of the radius resolve the near-wall profile (Poiseuille WSS within 2 % at the
        # tiny level, 5-8 % with a tenth), but can meet across a tight neck: then thinner ones.
        try:
            layers = [h * scale for h in heights]
            stats, patches, gmsh_version = _attempt(
                tmp, surf.points, surf.tri, surf.region, surf.radii, openings, layers, lvl, config, timings
            )
            if set(patches) != expected:
                raise GeometryError(
                    f"the polyMesh has patches {sorted(patches)}, expected {sorted(expected)}: gmsh lost a surface"
                )
            return stats, patches, gmsh_version, scale
        except GeometryError:
            if attempt == len(scales) - 1:
                raise
            _empty(tmp)


def _round_creases(points, tri, region, iterations: int, pass_band: float) -> np.ndarray:
    """The points with the wall (region 0) Taubin-smoothed; cap points and the rims they share stay fixed.

    Taubin's low-pass filter hardly shrinks the lumen, unlike Laplacian smoothing; it rounds the crease where a sac
    meets its parent vessel, where prism layers extruded from both sides would cross.
    """
    wall = tri[region == 0]
    ids = np.unique(wall)
    local = np.full(len(points), -1)
    local[ids] = np.arange(len(ids))
    poly = pv.PolyData(points[ids], np.hstack([np.full((len(wall), 1), 3), local[wall]]).ravel())
    smooth = poly.smooth_taubin(
        n_iter=iterations,
        pass_band=pass_band,
        boundary_smoothing=False,
        feature_smoothing=False,
        non_manifold_smoothing=False,
    )
    out = points.copy()
    moved = np.asarray(smooth.points, dtype=np.float64)
    on_cap = np.zeros(len(points), dtype=bool)
    on_cap[tri[region != 0].ravel()] = True
    keep = ~on_cap[ids]
    out[ids[keep]] = moved[keep]
    return out


def _attempt(tmp: Path, points, tri, region, radii, openings, heights, lvl, config, timings):
    """One meshing try into ``tmp``: gmsh volume, gmshToFoam, wall type, checkMesh and its verdict."""
    t = time.perf_counter()
    gmsh_version = _gmsh_volume(points, tri, region, radii, openings, heights, lvl, config, tmp / "mesh.msh")
    timings["gmsh"] = time.perf_counter() - t
    _write_system(tmp)
    t = time.perf_counter()
    run_utility(["gmshToFoam", str(tmp / "mesh.msh")], tmp, tmp / "log.gmshToFoam", config.timeout_s)
    patches = _set_wall_type(tmp / "constant" / "polyMesh" / "boundary")
    timings["gmshToFoam"] = time.perf_counter() - t
    t = time.perf_counter()
    log = run_utility(["checkMesh"], tmp, tmp / "log.checkMesh", config.timeout_s, check=False)
    timings["checkMesh"] = time.perf_counter() - t
    stats = parse_checkmesh(log)
    _judge(stats, config, log)
    return stats, patches, gmsh_version


def _checked_surface(closed, cell_array: str = registry.REGION_ID) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points, outward-oriented triangles and region labels of a closed labelled surface, or a GeometryError."""
    if not isinstance(closed, pv.PolyData) or closed.n_cells == 0:
        raise GeometryError("the surface to mesh is empty or not a PolyData")
    if cell_array not in closed.cell_data:
        raise GeometryError(
            f"the surface to mesh has no '{registry.REGION_ID}' cell array: cap it with cfdgen.openings.cap first"
        )
    if not closed.is_all_triangles:
        raise GeometryError("the surface to mesh must hold triangles only")
    tri = triangles(closed)
    points = np.asarray(closed.points, dtype=np.float64)
    region = np.asarray(closed.cell_data[cell_array]).astype(np.int64).ravel()
    edges, counts = _edges(tri)
    if (counts == 1).any():
        raise GeometryError(
            f"the surface to mesh is not closed: {int((counts == 1).sum())} boundary edges (a hole or an uncapped end)"
        )
    if (counts > 2).any():
        raise GeometryError(f"the surface to mesh has {int((counts > 2).sum())} non-manifold edges")
    directed = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    if len(np.unique(directed, axis=0)) != len(directed):
        raise GeometryError("the surface to mesh is not consistently oriented")
    labels = set(np.unique(region).tolist())
    n_out = len(labels - {0, 1})
    if 0 not in labels or 1 not in labels or n_out == 0 or labels != set(range(2 + n_out)):
        raise GeometryError(
            f"'{registry.REGION_ID}' must label the wall 0, the inlet cap 1 and outlet caps 2, 3, ... "
            f"(found {sorted(labels)})"
        )
    a, b, c = points[tri[:, 0]], points[tri[:, 1]], points[tri[:, 2]]
    volume = float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)
    if abs(volume) < 1e-9:
        raise GeometryError("the surface to mesh encloses no volume")
    if volume < 0:  # inward normals: flip so that the wall's normals point out of the lumen
        tri = tri[:, ::-1].copy()
    return points, tri, region


def _merge_short_edges(points, tri, region, radii, tol: float, retries: int = 2):
    """Merge points closer than ``tol`` (mm) and drop the triangles that collapse.

    Marching-cubes surfaces carry edges of ~1e-5 mm; gmsh's re-parametrisation of such a surface partitions
    forever. The merge moves the wall by at most ``tol``, a small fraction of the target cell size. Where merging
    pinches the surface into a non-manifold edge, a quarter of the tolerance is tried (``retries`` times).
    """
    poly = pv.PolyData(points, np.hstack([np.full((len(tri), 1), 3), tri]).ravel())
    poly.cell_data["region"] = region
    poly.point_data["radius"] = radii
    for attempt in range(retries + 1):
        merged = poly.clean(tolerance=tol, absolute=True, lines_to_points=True, polys_to_lines=True)
        kinds = merged.cast_to_unstructured_grid().celltypes
        merged = merged.extract_cells(np.flatnonzero(kinds == pv.CellType.TRIANGLE))
        merged = merged.extract_surface(algorithm="dataset_surface").clean(tolerance=0.0)
        try:
            points, tri, region = _checked_surface(merged, cell_array="region")
            return points, tri, region, np.asarray(merged.point_data["radius"], dtype=np.float64)
        except GeometryError as exc:
            if attempt == retries:
                raise GeometryError(f"{exc} after merging points closer than {tol:.3g} mm") from None
            tol /= 4.0


def _point_radii(closed, points, tri, region, radius: Radius) -> np.ndarray:
    n = len(points)
    if radius is None:
        cap_pts = points[np.unique(tri[region == 1])]
        centre = cap_pts.mean(axis=0)
        value = float(np.max(np.linalg.norm(cap_pts - centre, axis=1)))
        radii = np.full(n, value)
    elif isinstance(radius, int | float):
        radii = np.full(n, float(radius))
    elif isinstance(radius, str):
        if radius not in closed.point_data:
            raise GeometryError(f"the surface to mesh has no point array {radius!r} for the local radius")
        radii = np.asarray(closed.point_data[radius], dtype=np.float64).ravel()
    elif callable(radius):
        radii = np.asarray(radius(points), dtype=np.float64).ravel()
    else:
        radii = np.asarray(radius, dtype=np.float64).ravel()
    if radii.shape != (n,):
        raise GeometryError(f"the local radius has {radii.size} values for {n} surface points")
    used = np.unique(tri)
    if not np.all(np.isfinite(radii[used])) or np.any(radii[used] <= 0):
        raise GeometryError("the local radius must be finite and > 0 at every surface point")
    return radii


@dataclass(frozen=True)
class _Opening:
    patch: str
    center: np.ndarray
    radius: float


def _openings(points, tri, region) -> list[_Opening]:
    out = []
    for r in sorted(set(np.unique(region).tolist()) - {0}):
        ids = np.unique(tri[region == r])
        center = points[ids].mean(axis=0)
        patch = registry.INLET if r == 1 else registry.outlet(r - 2)
        out.append(_Opening(patch, center, float(np.max(np.linalg.norm(points[ids] - center, axis=1)))))
    return out


# ---------------------------------------------------------------------------------------------------------------
# gmsh


class _SizeGrid:
    """Mesh size factor × radius of the nearest surface point, tabulated on a voxel grid: a cheap size callback.

    The radius varies over lengths of the order of itself, so a grid step of a quarter of the smallest radius
    resolves it while keeping the table small even for the finest level.
    """

    def __init__(self, points: np.ndarray, radii: np.ndarray, factor: float, wall_factor: float, min_size: float):
        lo, hi = points.min(axis=0), points.max(axis=0)
        self.step = max(float(np.min(radii)) / 4.0, float(np.max(hi - lo)) / 150.0)
        self.lo = lo - self.step
        shape = np.ceil((hi - lo) / self.step).astype(int) + 3
        axes = [self.lo[i] + self.step * (np.arange(shape[i]) + 0.5) for i in range(3)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        _, nearest = cKDTree(points).query(grid)
        self.radii = radii[nearest].reshape(shape).tolist()
        self.factor, self.wall_factor, self.min_size = factor, wall_factor, min_size
        self.shape = tuple(int(s) - 1 for s in shape)

    def __call__(self, dim, tag, x, y, z, lc):
        s, lo, (nx, ny, nz) = self.step, self.lo, self.shape
        i = min(max(int((x - lo[0]) / s), 0), nx)
        j = min(max(int((y - lo[1]) / s), 0), ny)
        k = min(max(int((z - lo[2]) / s), 0), nz)
        # curves and surfaces (the wall, copied by the layers onto their top) take the wall size
        return max((self.wall_factor if dim < 3 else self.factor) * self.radii[i][j][k], self.min_size)


def _gmsh_error(gmsh, what: str, exc: Exception | None = None) -> GeometryError:
    msgs = [m for m in gmsh.logger.get() if m.startswith("Error")]
    last = gmsh.logger.getLastError() or (msgs[-1] if msgs else "") or (str(exc) if exc else "")
    last = re.sub(r"\s+", " ", str(last)).strip()
    return GeometryError(f"gmsh could not {what}: {last or 'no message'}")


def _gmsh_volume(points, tri, region, radii, openings, heights, lvl: MeshLevel, config: MeshConfig, msh: Path) -> str:
    import gmsh

    wall_tri = tri[region == 0]
    used = np.unique(wall_tri)
    local = np.searchsorted(used, wall_tri)
    sizes = _SizeGrid(points[used], radii[used], lvl.size_factor, lvl.wall_factor, config.min_size_mm)
    with _GMSH_LOCK:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
        try:
            gmsh.option.setNumber("General.Terminal", 0)
            gmsh.option.setNumber("General.NumThreads", config.threads)
            gmsh.logger.start()
            gmsh.model.add("lumen")
            version = gmsh.__version__
            step = "re-parametrise the wall"
            try:
                s = gmsh.model.addDiscreteEntity(2)
                gmsh.model.mesh.addNodes(2, s, (used + 1).tolist(), points[used].ravel().tolist())
                gmsh.model.mesh.addElementsByType(s, _TRI, [], (used[local] + 1).ravel().tolist())
                gmsh.model.mesh.classifySurfaces(math.pi, True, True, math.pi)
                gmsh.model.mesh.createGeometry()
                walls = [t for _, t in gmsh.model.getEntities(2)]
                step = "extrude the prism layers"
                if heights:
                    gmsh.option.setNumber("Geometry.ExtrudeReturnLateralEntities", 0)
                    ext = gmsh.model.geo.extrudeBoundaryLayer(
                        [(2, t) for t in walls], [1] * len(heights), [-h for h in heights], True
                    )
                    inner = [t for d, t in ext if d == 2]
                    layer_vols = [t for d, t in ext if d == 3]
                else:
                    inner, layer_vols = list(walls), []
                gmsh.model.geo.synchronize()
                step = "close the core volume"
                rims = gmsh.model.getBoundary([(2, t) for t in inner], combined=True, oriented=False)
                loops = gmsh.model.geo.addCurveLoops([abs(t) for _, t in rims])
                caps = [gmsh.model.geo.addPlaneSurface([lp]) for lp in loops]
                core = gmsh.model.geo.addVolume([gmsh.model.geo.addSurfaceLoop(inner + caps)])
                gmsh.model.geo.synchronize()
                step = "mesh the volume"
                for name, value in (
                    ("Mesh.MeshSizeFromPoints", 0),
                    ("Mesh.MeshSizeFromCurvature", 0),
                    ("Mesh.MeshSizeExtendFromBoundary", 0),
                    ("Mesh.Algorithm", config.algorithm_2d),
                    ("Mesh.Algorithm3D", config.algorithm_3d),
                    ("Mesh.Optimize", 1),
                    ("Mesh.OptimizeNetgen", int(config.optimize_netgen)),
                ):
                    gmsh.option.setNumber(name, value)
                gmsh.model.mesh.setSizeCallback(sizes)
                gmsh.model.mesh.generate(3)
            except Exception as exc:
                raise _gmsh_error(gmsh, step, exc) from None
            # Name the boundary: the input wall is the wall patch; every other boundary surface (lateral rings of
            # the layers, plane caps) belongs to the nearest opening.
            boundary = {t for _, t in gmsh.model.getBoundary([(3, v) for v in [core, *layer_vols]], oriented=False)}
            groups: dict[str, list[int]] = {o.patch: [] for o in openings}
            centers = np.array([o.center for o in openings])
            for t in sorted(boundary - set(walls)):
                _, coords, _ = gmsh.model.mesh.getNodes(2, t, includeBoundary=True)
                if len(coords) == 0:
                    raise GeometryError(f"gmsh left boundary surface {t} without a mesh")
                c = np.asarray(coords).reshape(-1, 3).mean(axis=0)
                groups[openings[int(np.argmin(np.linalg.norm(centers - c, axis=1)))].patch].append(t)
            empty = [p for p, ts in groups.items() if not ts]
            if empty:
                raise GeometryError(f"gmsh made no surface for {', '.join(empty)}: an opening is too small to mesh")
            gmsh.model.addPhysicalGroup(2, walls, name=registry.WALL)
            for patch, ts in groups.items():
                gmsh.model.addPhysicalGroup(2, ts, name=patch)
            gmsh.model.addPhysicalGroup(3, [core, *layer_vols], name="fluid")
            gmsh.option.setNumber("Mesh.MshFileVersion", 2.2)
            gmsh.option.setNumber("Mesh.Binary", 0)
            gmsh.option.setNumber("Mesh.SaveAll", 0)
            gmsh.option.setNumber("Mesh.ScalingFactor", MM_TO_M)
            gmsh.write(str(msh))
            return version
        finally:
            try:
                gmsh.logger.stop()
            finally:
                gmsh.finalize()


# ---------------------------------------------------------------------------------------------------------------
# OpenFOAM


def _openfoam_tools() -> None:
    for name in ("gmshToFoam", "checkMesh"):
        require(name)


_CONTROL_DICT = """\
FoamFile
{
    version     2.0;
    format      ascii;
    class       dictionary;
    object      controlDict;
}

application     icoFoam;
startFrom       startTime;
startTime       0;
stopAt          endTime;
endTime         0;
deltaT          1;
writeControl    timeStep;
writeInterval   1;
"""


_MINIMAL_DICTS = {
    "fvSchemes": """\
FoamFile
{
    version     2.0;
    format      ascii;
    class       dictionary;
    object      fvSchemes;
}

ddtSchemes { default Euler; }
gradSchemes { default Gauss linear; }
divSchemes { default none; }
laplacianSchemes { default Gauss linear corrected; }
interpolationSchemes { default linear; }
snGradSchemes { default corrected; }
""",
    "fvSolution": """\
FoamFile
{
    version     2.0;
    format      ascii;
    class       dictionary;
    object      fvSolution;
}

solvers {}
""",
}


def _write_system(case: Path) -> None:
    """Minimal system/ dictionaries: enough for gmshToFoam and checkMesh (a solver case brings its own)."""
    (case / "system").mkdir(exist_ok=True)
    (case / "system" / "controlDict").write_text(_CONTROL_DICT)
    for name, text in _MINIMAL_DICTS.items():
        (case / "system" / name).write_text(text)


_PATCH_RE = re.compile(r"(\n\s*)(\w+)(\s*\{)([^{}]*)(\})")


def _set_wall_type(boundary: Path) -> dict[str, dict]:
    """Make the wall patch ``type wall``; return {patch: {"type", "faces"}} of the polyMesh."""
    if not boundary.is_file():
        raise IahemoError(f"gmshToFoam wrote no {boundary.name} file")
    text = boundary.read_text()
    patches: dict[str, dict] = {}

    def edit(m: re.Match) -> str:
        name, body = m.group(2), m.group(4)
        if name == "FoamFile":
            return m.group(0)
        if name == registry.WALL:
            body = re.sub(r"(\n\s*)type\s+\w+;", r"\1type            wall;", body, count=1)
            body = re.sub(r"\n\s*physicalType\s+\w+;", "", body)
            if "inGroups" not in body:
                body = re.sub(r"(\n\s*)type(\s+)wall;", r"\1type\2wall;\1inGroups        List<word> 1(wall);", body)
        ptype = re.search(r"\btype\s+(\w+);", body)
        faces = re.search(r"\bnFaces\s+(\d+);", body)
        patches[name] = {"type": ptype.group(1) if ptype else "", "faces": int(faces.group(1)) if faces else 0}
        return m.group(1) + name + m.group(3) + body + m.group(5)

    new = _PATCH_RE.sub(edit, text)
    if patches.get(registry.WALL, {}).get("type") != "wall":
        raise IahemoError(f"could not set the wall patch type in {boundary}")
    boundary.write_text(new)
    return patches


_F = r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
_CELL_TYPES = ("hexahedra", "prisms", "wedges", "pyramids", "tet wedges", "tetrahedra", "polyhedra")


def _num(pattern: str, text: str, default=float("nan")) -> float:
    m = re.search(pattern, text)
    return float(m.group(1)) if m else default


def parse_checkmesh(log: str) -> dict:
    """Counts, cell types, quality figures and the verdict of a checkMesh log."""
    stats: dict = {
        "points": int(_num(r"\n\s*points:\s+(\d+)", log, -1)),
        "faces": int(_num(r"\n\s*faces:\s+(\d+)", log, -1)),
        "cells": int(_num(r"\n\s*cells:\s+(\d+)", log, -1)),
        "cell_types": {t: int(_num(rf"\n\s*{t}:\s+(\d+)", log, 0)) for t in _CELL_TYPES},
        "max_non_orthogonality": _num(rf"non-orthogonality Max:\s*({_F})", log),
        "max_skewness": _num(rf"Max skewness\s*=\s*({_F})", log),
        "min_volume": _num(rf"Min volume\s*=\s*({_F})", log),
        "total_volume": _num(rf"Total volume\s*=\s*({_F})", log),
    }
    build = re.search(r"Build\s*:\s*(\S+)", log)
    stats["build"] = build.group(1) if build else ""
    failed = [re.sub(r"\s+", " ", line.strip(" *")) for line in log.splitlines() if line.lstrip().startswith("***")]
    stats["failed"] = failed
    stats["ok"] = "Mesh OK." in log
    if stats["ok"]:
        stats["verdict"] = "Mesh OK."
    else:
        m = re.search(r"Failed (\d+) mesh checks", log)
        head = f"Failed {m.group(1)} mesh checks" if m else "checkMesh did not finish"
        stats["verdict"] = "; ".join([head, *failed]) if failed else head
    return stats


def _judge(stats: dict, config: MeshConfig, log: str) -> None:
    if stats["cells"] <= 0:
        raise IahemoError(f"checkMesh could not read the mesh: {fatal_message(log)}")
    if stats["ok"]:
        return
    bad = [f for f in stats["failed"] if not any(t in f.lower() for t in config.tolerated_failures)]
    if bad or not stats["failed"]:
        hint = ""
        if stats["cell_types"].get("prisms") and re.search(r"negative|incorrectly oriented", stats["verdict"]):
            hint = " (the prism layers fold: too thick for the vessel or a too sharp wall; use fewer/thinner layers)"
        raise GeometryError(f"checkMesh rejects the volume mesh{hint}: {stats['verdict'][:400]}")
    if stats["max_non_orthogonality"] > config.max_non_orthogonality:
        raise GeometryError(
            f"checkMesh: max non-orthogonality {stats['max_non_orthogonality']:.1f}° exceeds "
            f"{config.max_non_orthogonality:.0f}°: {stats['verdict']}"
        )
