"""Surface intake: read a vessel lumen surface in any common format and hand on one clean, open tube in mm.

Every refusal is a ``GeometryError`` with one line that names the file; VTK's own error output is captured and
folded into that line instead of reaching the terminal. VTK's PLY reader crashes the interpreter on truncated
files and out-of-range vertex ids, so PLY is parsed here, and every other reader's connectivity is range-checked
before any VTK filter touches it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.spatial import cKDTree

from cfdgen.errors import ConfigError, GeometryError
from cfdgen.selfintersect import self_intersecting_pairs
from cfdgen.surface import boundary_loops
from cfdgen.units import length_to_mm

UNIT_CHOICES = ("auto", "mm", "m", "cm", "um")
SUFFIXES = (".stl", ".vtp", ".vtk", ".vtu", ".obj", ".ply")
_UNIT_WORDS = {"mm": "millimetres", "m": "metres", "cm": "centimetres", "um": "micrometres"}


@dataclass(frozen=True)
class IntakeConfig:
    units: str = "auto"  # unit of the file's coordinates; "auto" guesses mm, m or um from the extent
    # A second disjoint piece above this fraction of the largest one's area could be the vessel the user meant
    # (two vessels exported together), so without a hint point we refuse rather than guess.
    min_component_fraction: float = 0.2
    # A boundary loop shorter than this fraction of the longest loop is a defect, not a cut vessel end: real
    # side branches are >= ~25 % of the parent's perimeter (an ophthalmic off the ICA), segmentation pinholes
    # and dropped triangles are far smaller.
    hole_fraction: float = 0.15
    # Bounding-box diagonal (mm) a vessel surface can plausibly have: a clipped aneurysm piece is a few mm, a
    # whole aorta a few hundred. Outside it the declared or guessed unit is wrong.
    min_extent_mm: float = 0.5
    max_extent_mm: float = 1000.0
    # Only sheets (pieces bounded by non-manifold edges) below this fraction of the largest sheet's area may be
    # dropped to repair a non-manifold edge: small flaps and fins are export debris, big sheets are anatomy.
    flap_fraction: float = 0.05
    # Points closer than this fraction of the median edge length are one point: STL repeats every vertex per
    # triangle and sloppy exporters round copies differently in the last float32 digits (a few 1e-6 of a typical
    # edge for coordinates far from the origin). Marching-cubes meshes have genuine edges down to ~4e-5 of the
    # median, so the radius stays below that. Relative to the median edge, not the extent, so one corrupt far-away
    # vertex cannot make the radius swallow the mesh.
    merge_tolerance: float = 1e-5
    # Crossing triangles (a wall pushed through another, two vessels fused without a junction) give the mesher and
    # the solver a volume that is not a lumen; off only for callers that check or repair this themselves.
    check_self_intersections: bool = True

    def __post_init__(self):
        if self.units not in UNIT_CHOICES:
            raise ConfigError(f"intake units must be one of {', '.join(UNIT_CHOICES)} (got {self.units!r})")
        for name in ("min_component_fraction", "hole_fraction", "flap_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(f"intake {name} must be in (0, 1) (got {getattr(self, name)})")
        if not 0.0 < self.min_extent_mm < self.max_extent_mm:
            raise ConfigError("intake extent range must satisfy 0 < min_extent_mm < max_extent_mm")
        if not 0.0 <= self.merge_tolerance < 0.1:
            raise ConfigError(f"intake merge_tolerance must be in [0, 0.1) (got {self.merge_tolerance})")


@dataclass(frozen=True)
class SurfaceIntake:
    surface: pv.PolyData  # triangles only, mm, one component, manifold, normals out of the lumen when decidable
    source_units: str  # unit of the file's coordinates (given or detected)
    scale_to_mm: float
    units_detected: bool
    repairs: tuple[str, ...]
    n_openings: int


class _Reject(Exception):
    """A refusal without the file name; ``read_surface`` prefixes it."""


def read_surface(path, config: IntakeConfig = IntakeConfig(), hint_point=None) -> SurfaceIntake:
    """Read, repair and check a lumen surface; ``hint_point`` (mm) picks the vessel when the file holds several."""
    path = Path(path)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return _intake(path, config, hint_point)
    except _Reject as exc:
        raise GeometryError(_one_line(f"{path}: {exc}")) from None


def _one_line(text: str, limit: int = 400) -> str:
    line = "".join(c if c.isprintable() else " " for c in str(text))
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _intake(path: Path, config: IntakeConfig, hint_point) -> SurfaceIntake:
    points, tri = _load(path)
    if not np.isfinite(points).all():
        bad = int((~np.isfinite(points).all(axis=1)).sum())
        raise _Reject(f"{bad} point(s) have NaN or infinite coordinates")
    repairs: list[str] = []
    points, tri = _merge_points(points, tri, config.merge_tolerance, repairs)
    tri = _drop_bad_triangles(tri, repairs)
    if len(tri) == 0:
        raise _Reject("no non-degenerate triangles")
    tri = _repair_nonmanifold(points, tri, config.flap_fraction, repairs)

    # Units are judged on the largest piece so that stray debris cannot stretch the extent.
    labels = _components(tri, len(points))
    areas = np.bincount(labels, weights=_areas(points, tri))
    largest = points[np.unique(tri[labels == np.argmax(areas)])]
    unit, detected = _decide_units(_diagonal(largest), config)
    scale = length_to_mm(unit)
    points, areas = points * scale, areas * scale**2

    keep = _choose_component(points, tri, labels, areas, config, hint_point, repairs)
    points, tri = _compact(points, tri[labels == keep])
    tri = _orient_consistently(tri, repairs)

    loops = _loops(tri)
    perimeters = np.array([_perimeter(points, loop) for loop in loops])
    is_hole = perimeters < config.hole_fraction * perimeters.max() if len(loops) else np.zeros(0, bool)
    if is_hole.any():
        points, tri = _fill_holes(points, tri, [lp for lp, h in zip(loops, is_hole) if h], repairs)
    n_openings = int((~is_hole).sum())
    if n_openings == 0:
        raise _Reject("closed surface, no inlet/outlet openings found (cut the vessel ends open)")
    if n_openings == 1:
        raise _Reject("only 1 opening found; a vessel segment needs an inlet and at least one outlet")
    tri = _orient_outward(points, tri, [lp for lp, h in zip(loops, is_hole) if not h], repairs)
    if config.check_self_intersections:
        crossing = self_intersecting_pairs(points, tri, max_pairs=None)
        if len(crossing):
            x, y, z = points[tri[crossing[0]]].reshape(-1, 3).mean(axis=0)
            raise _Reject(
                f"self-intersecting surface: {len(crossing)} triangle pairs cross (e.g. near {x:.2f}, {y:.2f}, "
                f"{z:.2f} mm); fix the segmentation or remesh"
            )

    # the surface owns its arrays (no views into our temporaries)
    surface = pv.PolyData.from_regular_faces(np.asarray(points, np.float64), np.asarray(tri, np.int64), deep=True)
    return SurfaceIntake(surface, unit, scale, detected, tuple(repairs), n_openings)


# --------------------------------------------------------------------------------------------- reading


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Points (float64) and triangles of the file, every vertex id checked to lie in range."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        shown = path.suffix or "(none)"
        raise _Reject(f"unsupported surface format '{shown}' (use {', '.join(SUFFIXES)})")
    if not path.exists():
        raise _Reject("file not found")
    if not path.is_file():
        raise _Reject("not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _Reject(f"cannot read file ({exc.strerror or exc})") from None
    if not data.strip():
        raise _Reject("empty file")
    if suffix == ".ply":
        poly = _read_ply(data)
    else:
        if suffix == ".stl":
            _check_stl(data)
        poly = _as_polydata(_read_with_vtk(path, suffix))
    with _vtk_messages() as said:
        tri_mesh = poly.triangulate()
    if said:
        raise _Reject(f"cannot triangulate the surface (VTK: {said[0]})")
    points = np.asarray(tri_mesh.points, dtype=np.float64)
    if tri_mesh.n_cells == 0 or len(points) == 0:
        raise _Reject("no surface triangles in the file")
    faces = np.asarray(tri_mesh.faces)
    if len(faces) != 4 * tri_mesh.n_cells:
        raise _Reject("triangulation left non-triangle cells")  # not expected from vtkTriangleFilter
    return points, faces.reshape(-1, 4)[:, 1:].astype(np.int64)


@contextmanager
def _vtk_messages() -> Iterator[list[str]]:
    """Collect what VTK says (errors and warnings) instead of letting it reach stderr or Python logging.

    pyvista routes VTK output to ``logging`` and VTK's own logger prints to stderr; both are swapped out here and
    restored afterwards, so the caller can fold the first message into its one-line refusal.
    """
    from vtkmodules.vtkCommonCore import vtkLogger, vtkOutputWindow, vtkStringOutputWindow

    messages: list[str] = []
    window = vtkStringOutputWindow()
    previous = vtkOutputWindow.GetInstance()
    cutoff = vtkLogger.GetCurrentVerbosityCutoff()
    vtkOutputWindow.SetInstance(window)
    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_OFF)
    try:
        yield messages
    finally:
        vtkOutputWindow.SetInstance(previous)
        vtkLogger.SetStderrVerbosity(cutoff)
        messages.extend(_vtk_alerts(window.GetOutput()))


def _vtk_alerts(text: str | bytes | None) -> list[str]:
    """The message line of each VTK report, without its 'ERROR: In file, line n' and 'vtkClass (0x...):' prefixes."""
    if isinstance(text, bytes):  # VTK hands back bytes when a message quotes undecodable file content
        text = text.decode("utf-8", "replace")
    alerts = []
    for chunk in re.split(r"\n\s*\n", text or ""):
        lines = [line.strip() for line in chunk.splitlines() if line.strip()]
        if len(lines) > 1 and re.match(r"^[\w ]+: In .*, line \d+$", lines[0]):
            lines = lines[1:]
        if lines:
            alert = re.sub(r"^\w+ \(0x[0-9a-fA-F]+\): ", "", lines[0])
            # Readers quote the offending bytes ("Unrecognized file type: <binary>"): keep the line printable.
            alert = re.sub(r"[^\x20-\x7e]+", "?", alert)
            alerts.append(alert if len(alert) <= 160 else alert[:157] + "...")
    return alerts


def _vtk_reader(suffix: str):
    # VTK's readers directly rather than pyvista.read: pyvista attaches its own observer that sends reader
    # errors to Python logging, which bypasses the capture above and prints them after the fact.
    from vtkmodules.vtkIOGeometry import vtkOBJReader, vtkSTLReader
    from vtkmodules.vtkIOLegacy import vtkDataSetReader
    from vtkmodules.vtkIOXML import vtkXMLPolyDataReader, vtkXMLUnstructuredGridReader

    return {
        ".stl": vtkSTLReader,
        ".vtp": vtkXMLPolyDataReader,
        ".vtu": vtkXMLUnstructuredGridReader,
        ".vtk": vtkDataSetReader,
        ".obj": vtkOBJReader,
    }[suffix]()


def _read_with_vtk(path: Path, suffix: str) -> pv.DataSet:
    kind = suffix[1:].upper()
    with _vtk_messages() as said:
        reader = _vtk_reader(suffix)
        reader.SetFileName(str(path))
        reader.Update()
        output = reader.GetOutputDataObject(0)
        mesh = None
        if output is not None:
            mesh = output.NewInstance()
            mesh.DeepCopy(output)  # detach from the reader, whose teardown could otherwise report more
        del reader, output
    if said:
        # A clean file makes VTK say nothing; anything it says during a read means the data are suspect.
        raise _Reject(f"unreadable or truncated {kind} file (VTK: {said[0]})")
    if mesh is None:
        raise _Reject(f"unreadable {kind} file (no data)")
    mesh = pv.wrap(mesh)
    for where, arrays, n in (("point", mesh.point_data, mesh.n_points), ("cell", mesh.cell_data, mesh.n_cells)):
        for name in arrays.keys():
            if len(arrays[name]) != n:
                # e.g. an OBJ cut short keeps every normal it read but loses faces: the geometry is incomplete.
                raise _Reject(
                    f"inconsistent {kind} file, probably truncated ({where} array {name!r} has {len(arrays[name])} "
                    f"values for {n} {where}s)"
                )
    return mesh


def _check_stl(data: bytes) -> None:
    """Binary STL states its triangle count; VTK reads a short file as garbage or fails with a vague message."""
    if len(data) >= 84:
        n = int(np.frombuffer(data, "<u4", 1, 80)[0])
        if len(data) == 84 + 50 * n:
            return
    if data.lstrip()[:5].lower() == b"solid":
        return  # ASCII: VTK's parser reports truncation itself
    if len(data) < 84:
        raise _Reject(f"not an STL file (no 'solid' keyword and {len(data)} bytes is too short for binary STL)")
    if n > len(data):
        raise _Reject("not an STL file (neither ASCII 'solid' text nor a binary header with a plausible count)")
    if len(data) < 84 + 50 * n:
        have = (len(data) - 84) // 50
        raise _Reject(f"truncated binary STL: header announces {n} triangles, file holds {have}")


def _as_polydata(mesh) -> pv.PolyData:
    """The polygons of any dataset (the boundary surface for volume or unstructured grids), ids checked."""
    if isinstance(mesh, pv.MultiBlock):
        raise _Reject("multi-block files are not supported (save the one vessel surface)")
    if not isinstance(mesh, pv.DataSet) or mesh.n_cells == 0:
        raise _Reject("no cells in the file")
    if isinstance(mesh, pv.PolyData):
        _check_ids([mesh.GetVerts(), mesh.GetLines(), mesh.GetPolys(), mesh.GetStrips()], mesh.n_points)
        poly = pv.PolyData()
        poly.points = mesh.points
        poly.SetPolys(mesh.GetPolys())
        poly.SetStrips(mesh.GetStrips())
    else:
        if isinstance(mesh, pv.UnstructuredGrid):
            _check_ids([mesh.GetCells()], mesh.n_points)
        from vtkmodules.vtkFiltersGeometry import vtkDataSetSurfaceFilter

        with _vtk_messages() as said:
            surf = vtkDataSetSurfaceFilter()
            surf.SetInputData(mesh)
            surf.Update()
            extracted = pv.wrap(surf.GetOutput())
        if said:
            raise _Reject(f"cannot extract the surface (VTK: {said[0]})")
        poly = pv.PolyData()
        poly.points = extracted.points
        poly.SetPolys(extracted.GetPolys())
        poly.SetStrips(extracted.GetStrips())
    if poly.n_cells == 0:
        raise _Reject("no surface polygons in the file")
    return poly


def _check_ids(cell_arrays, n_points: int) -> None:
    from vtkmodules.util.numpy_support import vtk_to_numpy

    for cells in cell_arrays:
        if cells is None or cells.GetNumberOfCells() == 0:
            continue
        ids = vtk_to_numpy(cells.GetConnectivityArray())
        if len(ids) and (ids.min() < 0 or ids.max() >= n_points):
            raise _Reject(f"a cell refers to point {int(ids.max())} but the file has only {n_points} points")


# PLY type names -> numpy codes (both spellings of the spec).
_PLY_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}


def _read_ply(data: bytes) -> pv.PolyData:
    """Vertices x, y, z and faces vertex_indices of an ASCII or binary PLY file, checked against its header."""
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise _Reject("not a PLY file (no 'ply ... end_header' header)")
    newline = data.find(b"\n", end)
    if newline < 0:
        raise _Reject("truncated PLY file (nothing after the header)")
    fmt, elements = _ply_header(data[:end].decode("latin-1"))
    body = data[newline + 1 :]
    parsed = _ply_ascii(body, elements) if fmt == "ascii" else _ply_binary(body, elements, fmt)
    vertex, face = parsed.get("vertex"), parsed.get("face")
    if vertex is None or not {"x", "y", "z"} <= vertex.keys():
        raise _Reject("PLY file has no vertex element with x, y, z")
    if face is None or not ({"vertex_indices", "vertex_index"} & face.keys()):
        raise _Reject("PLY file has no faces (a point cloud is not a surface)")
    points = np.column_stack([np.asarray(vertex[k], np.float64) for k in "xyz"])
    polys = face.get("vertex_indices", face.get("vertex_index"))
    sizes = np.array([len(p) for p in polys], np.int64)
    ids = np.concatenate(polys).astype(np.int64) if len(polys) else np.zeros(0, np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(points)):
        raise _Reject(f"a PLY face refers to vertex {int(ids.max())} but the file has only {len(points)} vertices")
    starts = np.concatenate([[0], np.cumsum(sizes + 1)[:-1]]).astype(np.int64)
    faces = np.empty(int(sizes.sum() + len(sizes)), np.int64)
    faces[starts] = sizes
    mask = np.ones(len(faces), bool)
    mask[starts] = False
    faces[mask] = ids
    return pv.PolyData(points, faces) if len(sizes) else pv.PolyData(points)


def _ply_header(text: str):
    fmt, elements = None, []
    for line in text.splitlines()[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        try:
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                elements.append((words[1], int(words[2]), []))
            elif words[0] == "property" and words[1] == "list":
                elements[-1][2].append((words[4], (_PLY_TYPES[words[2]], _PLY_TYPES[words[3]])))
            elif words[0] == "property":
                elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
        except (IndexError, KeyError, ValueError):
            raise _Reject(f"malformed PLY header line {line.strip()!r}") from None
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise _Reject(f"unknown PLY format {fmt!r}")
    if any(count < 0 for _, count, _ in elements):
        raise _Reject("malformed PLY header (negative element count)")
    return fmt, elements


def _ply_binary(body: bytes, elements, fmt: str) -> dict[str, dict[str, list]]:
    endian = "<" if fmt == "binary_little_endian" else ">"
    out, offset = {}, 0
    for name, count, props in elements:
        lists = [p for p in props if isinstance(p[1], tuple)]
        if not lists:
            dtype = np.dtype([(p, endian + code) for p, code in props])
            if offset + count * dtype.itemsize > len(body):
                raise _Reject(f"truncated PLY file (element '{name}' needs more data than the file holds)")
            arr = np.frombuffer(body, dtype, count, offset)
            out[name] = {p: arr[p] for p, _ in props}
            offset += count * dtype.itemsize
            continue
        values, offset = _ply_binary_lists(body, offset, name, count, props, endian)
        out[name] = values
    return out


def _ply_binary_lists(body: bytes, offset: int, name: str, count: int, props, endian: str):
    # Fast path: one list property of constant length (an all-triangle face element, the usual case).
    if len(props) == 1 and count > 0 and offset < len(body):
        pname, (cnt_code, item_code) = props[0]
        cnt_dt = np.dtype(endian + cnt_code)
        if offset + cnt_dt.itemsize <= len(body):
            k = int(np.frombuffer(body, cnt_dt, 1, offset)[0])
            dtype = np.dtype([("n", cnt_dt), ("v", endian + item_code, (k,))])
            if offset + count * dtype.itemsize <= len(body):
                arr = np.frombuffer(body, dtype, count, offset)
                if (arr["n"] == k).all():
                    return {pname: list(arr["v"].reshape(count, k))}, offset + count * dtype.itemsize
    values: dict[str, list] = {p: [] for p, _ in props}
    for _ in range(count):
        for pname, code in props:
            if isinstance(code, tuple):
                cnt_dt, item_dt = np.dtype(endian + code[0]), np.dtype(endian + code[1])
                if offset + cnt_dt.itemsize > len(body):
                    raise _Reject(f"truncated PLY file (element '{name}' is cut short)")
                k = int(np.frombuffer(body, cnt_dt, 1, offset)[0])
                offset += cnt_dt.itemsize
                if offset + k * item_dt.itemsize > len(body):
                    raise _Reject(f"truncated PLY file (element '{name}' is cut short)")
                values[pname].append(np.frombuffer(body, item_dt, k, offset))
                offset += k * item_dt.itemsize
            else:
                dt = np.dtype(endian + code)
                if offset + dt.itemsize > len(body):
                    raise _Reject(f"truncated PLY file (element '{name}' is cut short)")
                values[pname].append(np.frombuffer(body, dt, 1, offset)[0])
                offset += dt.itemsize
    return values, offset


def _ply_ascii(body: bytes, elements) -> dict[str, dict[str, list]]:
    tokens = body.split()
    out, pos = {}, 0
    try:
        for name, count, props in elements:
            values: dict[str, list] = {p: [] for p, _ in props}
            if not any(isinstance(code, tuple) for _, code in props):
                k = len(props)
                if pos + count * k > len(tokens):
                    raise _Reject(f"truncated PLY file (element '{name}' needs more values than the file holds)")
                block = np.array(tokens[pos : pos + count * k], dtype=np.float64).reshape(count, k)
                out[name] = {p: block[:, j] for j, (p, _) in enumerate(props)}
                pos += count * k
                continue
            for _ in range(count):
                for pname, code in props:
                    if isinstance(code, tuple):
                        k = int(tokens[pos])
                        item = np.array(tokens[pos + 1 : pos + 1 + k], dtype=np.float64)
                        if len(item) != k:
                            raise IndexError
                        values[pname].append(item.astype(np.int64))
                        pos += 1 + k
                    else:
                        values[pname].append(float(tokens[pos]))
                        pos += 1
            out[name] = values
    except IndexError:
        raise _Reject("truncated PLY file (fewer values than the header announces)") from None
    except ValueError:
        raise _Reject("malformed PLY file (a value is not a number)") from None
    return out


# --------------------------------------------------------------------------------------------- cleaning


def _diagonal(points: np.ndarray) -> float:
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0))) if len(points) else 0.0


def _areas(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    p = points[tri]
    return 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)


def _compact(points: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    used, inverse = np.unique(tri, return_inverse=True)
    return points[used], inverse.reshape(tri.shape).astype(np.int64)


def _merge_points(points, tri, tolerance: float, repairs: list[str]):
    """Weld coincident points so triangles share vertices; unused points vanish without comment."""
    points, tri = _compact(points, tri)
    n = len(points)
    p = points[tri]
    edges = np.linalg.norm(p - np.roll(p, 1, axis=1), axis=2)
    radius = tolerance * float(np.median(edges)) if edges.size else 0.0
    if radius > 0:
        pairs = cKDTree(points).query_pairs(radius, output_type="ndarray")
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        n_groups, group = connected_components(graph, directed=False)
    else:
        _, group = np.unique(points, axis=0, return_inverse=True)
        group = group.ravel()
        n_groups = int(group.max()) + 1
    if n_groups == n:
        return points, tri
    # Keep the first point of each group rather than an average: exact coordinates survive a round trip.
    first = np.full(n_groups, n, np.int64)
    np.minimum.at(first, group, np.arange(n))
    repairs.append(f"merged {n - n_groups} duplicate points")
    return points[first], group[tri].astype(np.int64)


def _drop_bad_triangles(tri: np.ndarray, repairs: list[str]) -> np.ndarray:
    """Drop triangles that repeat a vertex (zero-length edge) and repeated copies of the same triangle.

    Triangles with three distinct but collinear vertices are kept: removing one inside a closed patch opens a
    zero-area crack that only the same sliver could close again.
    """
    ok = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 2] != tri[:, 0])
    if (~ok).any():
        repairs.append(f"dropped {int((~ok).sum())} degenerate triangles")
        tri = tri[ok]
    key = np.sort(tri, axis=1)
    order = np.lexsort(key.T[::-1])
    repeat = np.zeros(len(tri), bool)
    repeat[order[1:]] = (key[order[1:]] == key[order[:-1]]).all(axis=1)
    if repeat.any():
        repairs.append(f"dropped {int(repeat.sum())} duplicate triangles")
        tri = tri[~repeat]
    return tri


def _edge_table(tri: np.ndarray):
    """Undirected edge id of each triangle side (m, 3), and how many triangles use each edge."""
    sides = np.stack([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]], axis=1).reshape(-1, 2)
    n = int(tri.max()) + 1 if len(tri) else 1
    keys = np.minimum(sides[:, 0], sides[:, 1]) * n + np.maximum(sides[:, 0], sides[:, 1])  # 1-D: sorts fast
    _, edge_id, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return edge_id.reshape(-1, 3), counts


def _repair_nonmanifold(points, tri, flap_fraction: float, repairs: list[str]) -> np.ndarray:
    """Drop the smallest flaps that make edges non-manifold; refuse when only large sheets meet there."""
    edge_id, counts = _edge_table(tri)
    bad = counts > 2
    if not bad.any():
        return tri
    n_bad = int(bad.sum())
    sheet = _sheets(edge_id, counts)
    area = np.bincount(sheet, weights=_areas(points, tri))
    touches = np.zeros(len(area), bool)
    touches[sheet[bad[edge_id].any(axis=1)]] = True
    candidates = [s for s in np.argsort(area) if touches[s] and area[s] < flap_fraction * area.max()]
    counts = counts.copy()
    drop = np.zeros(len(tri), bool)
    for s in candidates:
        members = np.flatnonzero(sheet == s)
        if (counts[edge_id[members]] > 2).any():
            np.subtract.at(counts, edge_id[members].ravel(), 1)
            drop[members] = True
    left = int((counts > 2).sum())
    if left:
        raise _Reject(
            f"non-manifold surface: {left} edge(s) are shared by more than two triangles between large sheets "
            "(touching or overlapping vessels?); repair the mesh before intake"
        )
    repairs.append(f"dropped {int(drop.sum())} triangles of small flaps on {n_bad} non-manifold edges")
    return tri[~drop]


def _sheets(edge_id: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Label triangles joined through manifold (two-triangle) edges."""
    a, b = _manifold_pairs(edge_id, counts)
    m = len(edge_id)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(m, m))
    return connected_components(graph, directed=False)[1]


def _manifold_sides(edge_id: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat side indices (3 * triangle + side) of the two triangles on each two-triangle edge."""
    flat = edge_id.ravel()
    order = np.argsort(flat, kind="stable")
    sorted_edges = flat[order]
    starts = np.flatnonzero(np.r_[True, sorted_edges[1:] != sorted_edges[:-1]])
    starts = starts[counts[sorted_edges[starts]] == 2]
    return order[starts], order[starts + 1]


def _manifold_pairs(edge_id: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangle pairs sharing each two-triangle edge."""
    sa, sb = _manifold_sides(edge_id, counts)
    return sa // 3, sb // 3


def _components(tri: np.ndarray, n_points: int) -> np.ndarray:
    """Component label of each triangle (triangles touching at a vertex belong together)."""
    a = np.concatenate([tri[:, 0], tri[:, 1]])
    b = np.concatenate([tri[:, 1], tri[:, 2]])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n_points, n_points))
    return connected_components(graph, directed=False)[1][tri[:, 0]]


# --------------------------------------------------------------------------------------------- units, pieces


def _decide_units(diagonal: float, config: IntakeConfig) -> tuple[str, bool]:
    """The file's length unit: the given one if its extent is plausible, else the first plausible of mm, m, um."""

    def plausible(unit: str) -> bool:
        return config.min_extent_mm <= diagonal * length_to_mm(unit) <= config.max_extent_mm

    guess = next((u for u in ("mm", "m", "um") if plausible(u)), None)
    if config.units == "auto":
        if guess is None:
            raise _Reject(f"surface extent {diagonal:.3g} is implausible for a vessel in mm, m or um")
        return guess, True
    if plausible(config.units):
        return config.units, False
    looks = f"looks like {_UNIT_WORDS[guess]}" if guess else "is implausible for a vessel in mm, m or um"
    raise _Reject(f"surface extent {diagonal:.3g} {looks} but units: {config.units} was given; fix units in case.yaml")


def _choose_component(points, tri, labels, areas, config: IntakeConfig, hint_point, repairs: list[str]) -> int:
    """The vessel's component: nearest the hint when given, else the largest unless another rivals it."""
    order = np.argsort(areas)[::-1]
    if hint_point is not None:
        try:
            hint = np.asarray(hint_point, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            hint = np.full(1, np.nan)
        if hint.shape != (3,) or not np.isfinite(hint).all():
            raise _Reject(f"hint point must be three finite numbers in mm (got {hint_point!r})")
        cell, closest = pv.PolyData.from_regular_faces(points, tri).find_closest_cell(hint, return_closest_point=True)
        distance = float(np.linalg.norm(closest - hint))
        if distance > _diagonal(points):
            raise _Reject(
                f"hint point {hint.round(3).tolist()} mm is {distance:.3g} mm from the surface; is it in mm and in the "
                "surface's coordinate frame?"
            )
        keep = int(labels[cell])
        if len(areas) > 1:
            repairs.append(f"kept the piece nearest the hint point, dropped {len(areas) - 1} other piece(s)")
        return keep
    keep = int(order[0])
    if len(order) > 1 and areas[order[1]] > config.min_component_fraction * areas[keep]:
        raise _Reject(
            f"several disjoint vessels ({len(order)} pieces; the second largest has "
            f"{100 * areas[order[1]] / areas[keep]:.0f} % of the largest's area) and no hint point to choose one; "
            "give hints: inlet in case.yaml or keep one vessel"
        )
    if len(order) > 1:
        small = float(areas[order[1:]].sum())
        repairs.append(f"dropped {len(order) - 1} small disconnected pieces ({small:.3g} mm²)")
    return keep


# --------------------------------------------------------------------------------------------- orientation, holes


def _orient_consistently(tri: np.ndarray, repairs: list[str]) -> np.ndarray:
    """Flip triangles so that every shared edge is walked in opposite directions by its two triangles."""
    edge_id, counts = _edge_table(tri)
    a, b = _manifold_pairs(edge_id, counts)
    sa, sb = _manifold_sides(edge_id, counts)
    forward = np.stack([tri[:, 0] < tri[:, 1], tri[:, 1] < tri[:, 2], tri[:, 2] < tri[:, 0]], axis=1).ravel()
    same = forward[sa] == forward[sb]  # walked the same way: exactly one of the two triangles must flip
    m = len(tri)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(m, m)).tocsr()
    pred = np.arange(m)
    _, piece = connected_components(graph, directed=False)
    _, roots = np.unique(piece, return_index=True)
    for root in roots.tolist():
        nodes, parents = breadth_first_order(graph, root, directed=False, return_predecessors=True)
        pred[nodes[1:]] = parents[nodes[1:]]
    # Parity of flips along the BFS tree: look up each tree edge's "same" flag, then fold it towards the roots
    # by pointer jumping (log depth vectorised steps instead of a Python walk over every triangle).
    keys = np.concatenate([a * m + b, b * m + a])
    flags = np.concatenate([same, same])
    order = np.argsort(keys)
    keys, flags = keys[order], flags[order]
    child = np.flatnonzero(pred != np.arange(m))
    flip = np.zeros(m, bool)
    flip[child] = flags[np.searchsorted(keys, pred[child] * m + child)]
    jump = pred.copy()
    while (jump != jump[jump]).any():
        flip = flip ^ flip[jump]
        jump = jump[jump]
    flip = flip ^ flip[jump]
    if ((flip[a] ^ flip[b]) != same).any():
        raise _Reject("non-orientable surface (a Möbius-like twist): normals cannot be made consistent")
    if flip.sum() > m // 2:
        flip = ~flip  # the global sense is settled later; report the smaller set as the fix
    if not flip.any():
        return tri
    repairs.append(f"flipped {int(flip.sum())} triangles to a consistent orientation")
    return np.where(flip[:, None], tri[:, ::-1], tri)


def _loops(tri: np.ndarray) -> list[np.ndarray]:
    edge_id, counts = _edge_table(tri)
    boundary = counts[edge_id] == 1
    sides = np.stack([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]], axis=1)[boundary]
    degree = np.bincount(sides.ravel())
    if (degree > 2).any():
        raise _Reject(
            f"{int((degree > 2).sum())} boundary vertex/vertices join several openings (non-manifold vertex); "
            "cannot tell the openings apart"
        )
    return boundary_loops(tri)


def _perimeter(points: np.ndarray, loop: np.ndarray) -> float:
    p = points[loop]
    return float(np.linalg.norm(p - np.roll(p, 1, axis=0), axis=1).sum())


def _caps(points: np.ndarray, tri: np.ndarray, loops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Fans from each loop's centroid, wound opposite to the boundary triangles so the result stays consistent."""
    loop_of = np.full(len(points), -1, np.int64)
    for k, loop in enumerate(loops):
        loop_of[loop] = k
    edge_id, counts = _edge_table(tri)
    sides = np.stack([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]], axis=1)[counts[edge_id] == 1]
    sides = sides[loop_of[sides[:, 0]] >= 0]
    centroids = np.array([points[loop].mean(axis=0) for loop in loops]).reshape(-1, 3)
    centre_id = len(points) + loop_of[sides[:, 0]]
    return centroids, np.column_stack([sides[:, 1], sides[:, 0], centre_id])


def _fill_holes(points, tri, holes: list[np.ndarray], repairs: list[str]):
    new_points, fans = _caps(points, tri, holes)
    area = float(_areas(np.vstack([points, new_points]), fans).sum())
    repairs.append(f"filled {len(holes)} small hole{'s' if len(holes) > 1 else ''} ({area:.3g} mm²)")
    return np.vstack([points, new_points]), np.vstack([tri, fans])


def _orient_outward(points, tri, openings: list[np.ndarray], repairs: list[str]) -> np.ndarray:
    """Flip everything if the volume closed by capping the openings is negative (normals into the lumen)."""
    centroids, caps = _caps(points, tri, openings)
    allp = np.vstack([points, centroids])
    allp = allp - allp.mean(axis=0)
    closed = np.vstack([tri, caps])
    p = allp[closed]
    volume = float(np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6.0)
    # A flat or self-cancelling surface has no inside to point away from; leave it as it came.
    if volume < -1e-9 * _diagonal(points) ** 3:
        repairs.append("flipped all triangles so normals point out of the lumen")
        return tri[:, ::-1].copy()
    return tri
