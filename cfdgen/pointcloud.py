"""Dense, evenly spaced wall point clouds and the point-cloud sample file (DESIGN.md "Point-cloud sample").

Sampling: area-weighted stratified candidates (``OVERSAMPLE`` × n, deterministic for a seed) thinned to exactly
n points by farthest-point sampling, which spaces them evenly in 3D. Each point keeps the triangle and
barycentric coordinates it was drawn with, so every wall field is interpolated linearly (exactly, no probing)
and the normals are the interpolated, renormalised point normals (winding orientation of the wall: outward
from the lumen for an OpenFOAM wall patch).

File (HDF5, written atomically)::

    /points            (n, 3) float32  mm
    /normals           (n, 3) float32  unit (float16 in a compact copy)
    /sac               (n,)   uint8    1 on the aneurysm sac
    /fields/<NAME>     (n,) or (n, 3) float32, or (n, k) float16 for a descriptor array (registry kind "array");
                       a compact copy stores every field float16 but those the registry marks full_precision;
                       NAME = dataset_name(registry key), attrs key, unit, label
    /inputs/morphology (k,)   float64, attr names (registry MORPHOLOGY order; NaN when unknown)
    /inputs/bc         (j,)   float64, attr names
    attrs: provenance (case_id, geometry_hash, bc_sample, mesh_level, openfoam_version, code_version, ...),
           registry_version, units (JSON), n_points, seed

Shared geometry (a packed copy): the arrays that depend on the wall alone — points, normals, sac and the fields the
registry marks ``geometric`` — are the same for every run of a geometry (~53 % of a compact sample's bytes), so a
copy may keep them once in a sibling file (``geometry.h5``, same layout, no inputs) whose attribute
``geometry_digest`` (sha256 of the stored arrays) the run's file repeats beside ``shared_geometry`` (the sibling's
name). :func:`read_sample` puts them back together and refuses a sibling with another digest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree

from cfdgen import registry
from cfdgen.atomic import atomic_path
from cfdgen.errors import IahemoError
from cfdgen.wall_indices import fan_triangles

SAC = registry.FIELDS["sac"].key
OVERSAMPLE = 4  # candidates per output point: enough for even spacing, cheap to thin
# Attribute listing the provenance attributes stored as JSON text (HDF5 attributes hold no nested mappings).
JSON_ATTRS = "json_attrs"
SHARED_GEOMETRY = "shared_geometry"  # attribute: the sibling file holding the geometry arrays
GEOMETRY_DIGEST = "geometry_digest"
# gzip after the shuffle filter, which groups the float bytes: roughly doubles gzip's gain on smooth fields
GZIP = {"compression": "gzip", "compression_opts": 9, "shuffle": True}


def dataset_name(key: str) -> str:
    """HDF5 dataset name of a registry field (``tawss`` → ``TAWSS``): the one place the mapping is made."""
    return registry.field(key).key.upper()


def key_from_dataset(name: str) -> str:
    key = name.lower()
    registry.field(key)  # unknown names fail with the registry's message
    return key


@dataclass(frozen=True, eq=False)
class PointCloud:
    points: np.ndarray  # (n, 3) mm
    normals: np.ndarray  # (n, 3) unit
    sac: np.ndarray  # (n,) uint8
    fields: dict[str, np.ndarray]  # registry key → (n,) or (n, 3)


@dataclass(frozen=True, eq=False)
class SampleInputs:
    morphology: np.ndarray
    morphology_names: list[str]
    bc: np.ndarray
    bc_names: list[str]


@dataclass(frozen=True, eq=False)
class Sample:
    cloud: PointCloud
    inputs: SampleInputs
    provenance: dict[str, Any] = field(default_factory=dict)


def morphology_vector(values: dict[str, float]) -> tuple[np.ndarray, list[str]]:
    """All registry morphology parameters in registry order (NaN where ``values`` lacks one): same length for
    every sample, so a dataset can stack them."""
    names = list(registry.MORPHOLOGY)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise IahemoError(f"morphology has keys the registry does not know: {', '.join(unknown)}")
    return np.array([float(values.get(k, np.nan)) for k in names]), names


# ---------------------------------------------------------------- sampling


def farthest_point_sampling(points: np.ndarray, k: int, start: int = 0) -> np.ndarray:
    """Indices of ``k`` points chosen greedily farthest from those already chosen.

    Only candidates within the current largest gap of the new point can get closer to the chosen set, so each
    step updates a KD-tree ball instead of all points: O(m log m + k · ball) rather than O(m · k).
    """
    m = len(points)
    if k > m:
        raise ValueError(f"cannot pick {k} of {m} points")
    tree = cKDTree(points)
    dist = np.full(m, np.inf)
    chosen = np.empty(k, dtype=np.int64)
    cur, gap = start, np.inf
    for i in range(k):
        chosen[i] = cur
        if np.isfinite(gap):
            idx = np.asarray(tree.query_ball_point(points[cur], gap), dtype=np.int64)
        else:
            idx = np.arange(m)
        d = np.linalg.norm(points[idx] - points[cur], axis=1)
        dist[idx] = np.minimum(dist[idx], d)
        cur = int(np.argmax(dist))
        gap = float(dist[cur])
    return chosen


def _point_normals(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    cross = np.cross(points[tri[:, 1]] - points[tri[:, 0]], points[tri[:, 2]] - points[tri[:, 0]])
    acc = np.zeros_like(points)
    for k in range(3):  # area-weighted (|cross| = 2A) average of the adjacent triangles' normals
        np.add.at(acc, tri[:, k], cross)
    return acc / np.maximum(np.linalg.norm(acc, axis=1), 1e-300)[:, None]


def sample_wall(wall: pv.PolyData, n_points: int = 16384, seed: int = 0, oversample: int = OVERSAMPLE) -> PointCloud:
    """``n_points`` evenly spaced points on ``wall`` (units kept) with normals, sac mask and every registry field
    the wall carries (point data preferred, cell data used as piecewise constant)."""
    pts = np.asarray(wall.points, dtype=np.float64)
    tri, parent = fan_triangles(np.asarray(wall.faces))
    if len(tri) == 0:
        raise IahemoError("the wall has no faces to sample")
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    area = np.linalg.norm(np.cross(b - a, c - a), axis=1) / 2
    rng = np.random.default_rng(seed)
    m = max(oversample * n_points, n_points)
    # stratified in cumulative area: every triangle gets its share, with less clumping than i.i.d. draws
    cum = np.cumsum(area)
    u = (np.arange(m) + rng.random(m)) / m * cum[-1]
    t_id = np.minimum(np.searchsorted(cum, u, side="right"), len(tri) - 1)
    r1, r2 = np.sqrt(rng.random(m)), rng.random(m)
    bary = np.column_stack([1 - r1, r1 * (1 - r2), r1 * r2])
    cand = np.einsum("mk,mkj->mj", bary, pts[tri[t_id]])
    keep = farthest_point_sampling(cand, n_points, start=int(rng.integers(m)))
    t_id, bary, xyz = t_id[keep], bary[keep], cand[keep]

    def at_points(values: np.ndarray) -> np.ndarray:
        return _linear(values, tri[t_id], bary)

    normals = at_points(_point_normals(pts, tri))
    normals /= np.maximum(np.linalg.norm(normals, axis=1), 1e-300)[:, None]
    fields: dict[str, np.ndarray] = {}
    for key in registry.FIELDS:
        if key in wall.point_data:
            fields[key] = at_points(wall.point_data[key])
        elif key in wall.cell_data:
            fields[key] = np.asarray(wall.cell_data[key], dtype=np.float64)[parent[t_id]]
    sac_values = fields.pop(SAC, np.zeros(n_points))
    return PointCloud(xyz, normals, (sac_values >= 0.5).astype(np.uint8), fields)


def _linear(values, corners: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Point values at positions given by barycentric weights ``bary`` (n, 3) in triangles ``corners`` (n, 3)."""
    return np.einsum("nk,nk...->n...", bary, np.asarray(values, dtype=np.float64)[corners])


def fields_at(wall: pv.PolyData, points: np.ndarray, keys) -> dict[str, np.ndarray]:
    """The point fields ``keys`` of ``wall`` at the closest wall point to each of ``points`` (n, 3), interpolated
    linearly in that point's triangle: another mesh's wall field where this one's samples lie (mesh comparisons)."""
    missing = [k for k in keys if k not in wall.point_data]
    if missing:
        raise IahemoError(f"the wall has no point field {', '.join(missing)} (it has: {', '.join(wall.point_data)})")
    pts = np.asarray(wall.points, dtype=np.float64)
    tri, _ = fan_triangles(np.asarray(wall.faces))
    if len(tri) == 0:
        raise IahemoError("the wall has no faces to read fields from")
    surface = pv.PolyData.from_regular_faces(pts, tri)
    cell, closest = surface.find_closest_cell(np.asarray(points, dtype=np.float64), return_closest_point=True)
    corners = pts[tri[cell]]
    e1, e2, d = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], closest - corners[:, 0]
    g11, g12, g22 = (e1 * e1).sum(1), (e1 * e2).sum(1), (e2 * e2).sum(1)
    b1, b2 = (d * e1).sum(1), (d * e2).sum(1)
    det = np.maximum(g11 * g22 - g12**2, 1e-300)
    u, v = (g22 * b1 - g12 * b2) / det, (g11 * b2 - g12 * b1) / det
    bary = np.column_stack([1 - u - v, u, v])
    return {k: _linear(wall.point_data[k], tri[cell], bary) for k in keys}


# ---------------------------------------------------------------- file


def _half_if_fits(values: np.ndarray) -> np.ndarray:
    """float16 unless a value would overflow it (|x| > 65504, e.g. a spatial gradient in Pa/m): then float32."""
    v = np.asarray(values)
    fits = np.all(np.abs(v[np.isfinite(v)]) < np.finfo(np.float16).max)
    return v.astype(np.float16) if fits else v.astype(np.float32)


def _stored_arrays(cloud: PointCloud, compact: bool) -> dict[str, np.ndarray]:
    """Every array of a sample file by its HDF5 path, in the dtype it is stored with."""
    arrays = {
        "points": cloud.points.astype(np.float32),
        "normals": _half_if_fits(cloud.normals) if compact else cloud.normals.astype(np.float32),
        "sac": np.asarray(cloud.sac, dtype=np.uint8),
    }
    for key, values in cloud.fields.items():
        spec = registry.field(key)
        # descriptor arrays (the wall context) need no more than half precision: half the bytes
        half = spec.kind == "array" or (compact and not spec.full_precision)
        arrays[f"fields/{dataset_name(key)}"] = _half_if_fits(values) if half else np.asarray(values, np.float32)
    return arrays


def _field_spec(name: str) -> registry.Field | None:
    """The registry field stored at HDF5 path ``name`` (``fields/TAWSS``); None for points, normals, sac."""
    return registry.field(key_from_dataset(name.removeprefix("fields/"))) if name.startswith("fields/") else None


def _is_geometric(name: str) -> bool:
    spec = _field_spec(name)
    return spec is None or spec.geometric  # points, normals and sac are the wall itself


def _digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the geometry arrays as stored (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for name in sorted(a for a in arrays if _is_geometric(a)):
        v = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{v.dtype.str}:{v.shape}".encode())
        h.update(v.tobytes())
    return h.hexdigest()


def geometry_digest(cloud: PointCloud, compact: bool = True) -> str:
    """The digest of ``cloud``'s geometry arrays as a sample file stores them (``compact`` as in write_sample)."""
    return _digest(_stored_arrays(cloud, compact))


def _open(path: str | Path) -> h5py.File:
    """A sample or shared-geometry file opened for reading; a missing, truncated or non-HDF5 file is named in one
    line instead of h5py's traceback."""
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise IahemoError(f"{path}: not a readable HDF5 file ({exc})") from None


def shares_geometry(path: str | Path) -> bool:
    """Whether a sample file keeps its geometry arrays in a shared-geometry file."""
    with _open(path) as f:
        return SHARED_GEOMETRY in f.attrs


def _write_arrays(f: h5py.File, arrays: dict[str, np.ndarray], opts: dict) -> None:
    for name, data in arrays.items():
        d = f.create_dataset(name, data=data, **opts)
        if (spec := _field_spec(name)) is not None:
            d.attrs.update({"key": spec.key, "unit": spec.unit, "label": spec.label})


def write_geometry(path: str | Path, cloud: PointCloud, compact: bool = True) -> str:
    """Write the geometry arrays of ``cloud`` as a shared-geometry file (module doc) atomically; returns their
    digest."""
    arrays = {k: v for k, v in _stored_arrays(cloud, compact).items() if _is_geometric(k)}
    digest = _digest(arrays)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            _write_arrays(f, arrays, GZIP)
            f.attrs.update({GEOMETRY_DIGEST: digest, "registry_version": registry.REGISTRY_VERSION})
    return digest


def read_geometry_digest(path: str | Path) -> str | None:
    """The digest of a shared-geometry file, None when there is none."""
    if not Path(path).is_file():
        return None
    with _open(path) as f:
        return _attr(f.attrs.get(GEOMETRY_DIGEST))


def write_sample(
    path: str | Path,
    cloud: PointCloud,
    inputs: SampleInputs,
    provenance: dict[str, Any],
    compress: bool = False,
    compact: bool = False,
    shared_geometry: str | None = None,
) -> Path:
    """Write one point-cloud sample (layout in the module doc) atomically; ``compress`` gzips the arrays (``GZIP``);
    ``compact`` stores normals and fields in half precision (3 significant digits, far below the CFD's own error)
    except fields marked ``full_precision``: the committed dataset copy, ~30 % fewer bytes per sample (measured).
    ``shared_geometry``: the name of a sibling shared-geometry file holding exactly this cloud's geometry arrays
    (checked: a mismatch raises); they are then not written here."""
    opts = GZIP if compress else {}
    units = {"points": "mm", "normals": "1", SAC: registry.FIELDS[SAC].unit}
    units.update({dataset_name(k): registry.FIELDS[k].unit for k in cloud.fields})
    arrays = _stored_arrays(cloud, compact)
    attrs = {k: v for k, v in provenance.items() if v is not None and k not in (SHARED_GEOMETRY, GEOMETRY_DIGEST)}
    if shared_geometry is not None:
        digest = _digest(arrays)
        sibling = Path(path).parent / shared_geometry
        if read_geometry_digest(sibling) != digest:
            raise IahemoError(f"{sibling}: not this sample's geometry (another digest, or no such file)")
        arrays = {k: v for k, v in arrays.items() if not _is_geometric(k)}
        attrs.update({SHARED_GEOMETRY: shared_geometry, GEOMETRY_DIGEST: digest})
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            _write_arrays(f, arrays, opts)
            f.require_group("fields")
            gi = f.create_group("inputs")
            gi.create_dataset("morphology", data=np.asarray(inputs.morphology, dtype=np.float64))
            gi["morphology"].attrs["names"] = list(inputs.morphology_names)
            gi.create_dataset("bc", data=np.asarray(inputs.bc, dtype=np.float64))
            gi["bc"].attrs["names"] = list(inputs.bc_names)
            attrs.update({"registry_version": registry.REGISTRY_VERSION, "units": units})
            attrs["n_points"] = len(cloud.points)
            encoded = sorted(k for k, v in attrs.items() if isinstance(v, dict | list | tuple))
            for k, v in attrs.items():
                f.attrs[k] = json.dumps(v) if k in encoded else v
            f.attrs[JSON_ATTRS] = json.dumps(encoded)
    return Path(path)


def _attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _widened(key: str, d: h5py.Dataset) -> np.ndarray:
    """A field as stored, but a compact copy's half-precision scalar or vector as float32: sums of squares of
    8k half-precision values overflow it."""
    return np.asarray(d) if registry.field(key).kind == "array" else np.asarray(d, dtype=np.float32)


def _read_arrays(f: h5py.File, into: dict[str, np.ndarray]) -> None:
    for name in ("points", "normals", "sac"):
        if name in f:
            into[name] = np.asarray(f[name])
    for name, d in f.get("fields", {}).items():
        key = key_from_dataset(name)
        into[key] = _widened(key, d)


def read_sample(path: str | Path) -> Sample:
    """Read a sample (with its shared geometry, if any); a file from another field-registry version is refused
    (its names or units may differ)."""
    arrays: dict[str, np.ndarray] = {}
    with _open(path) as f:
        prov = {k: _attr(v) for k, v in f.attrs.items()}
        version = str(prov.get("registry_version"))
        if version != registry.REGISTRY_VERSION:
            raise IahemoError(
                f"{path}: written with field-registry version {version}, this code reads version "
                f"{registry.REGISTRY_VERSION}; regenerate the sample"
            )
        for k in json.loads(prov.pop(JSON_ATTRS, "[]")):
            prov[k] = json.loads(prov[k])
        _read_arrays(f, arrays)
        m, b = f["inputs/morphology"], f["inputs/bc"]
        inputs = SampleInputs(
            np.asarray(m), [_attr(n) for n in m.attrs["names"]], np.asarray(b), [_attr(n) for n in b.attrs["names"]]
        )
    shared, digest = prov.pop(SHARED_GEOMETRY, None), prov.pop(GEOMETRY_DIGEST, None)
    if shared is not None:
        sibling = Path(path).parent / shared
        found = read_geometry_digest(sibling)
        if found != digest:
            what = "is missing" if found is None else f"holds other geometry (digest {found[:12]}, not {digest[:12]})"
            raise IahemoError(f"{path}: its shared geometry file {sibling} {what}")
        with _open(sibling) as g:
            _read_arrays(g, arrays)
    points, normals, sac = arrays.pop("points"), arrays.pop("normals"), arrays.pop("sac")
    cloud = PointCloud(points, np.asarray(normals, dtype=np.float32), sac, arrays)
    return Sample(cloud, inputs, prov)
