"""Surface intake: formats, units, repairs and one-line refusals, on inputs made here from exact primitives."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

from cfdgen.errors import ConfigError, GeometryError
from cfdgen.intake import IntakeConfig, SurfaceIntake, read_surface
from cfdgen.surface import topology

REPO = Path(__file__).resolve().parents[1]
R, L, NT, NZ = 3.0, 20.0, 48, 40  # tube radius and length (mm), segments around and along
TUBE_AREA = NT * 2 * R * np.sin(np.pi / NT) * L  # the polygonal prism's exact area


def tube_arrays(radius=R, length=L, n_theta=NT, n_z=NZ, closed_end=False):
    """Points and outward-wound triangles of an open tube along z (planar rectangles split in two)."""
    theta = 2 * np.pi * np.arange(n_theta) / n_theta
    z = np.linspace(0.0, length, n_z + 1)
    points = np.array([[radius * np.cos(t), radius * np.sin(t), zz] for zz in z for t in theta])
    tri = []
    for j in range(n_z):
        for k in range(n_theta):
            a, b = j * n_theta + k, j * n_theta + (k + 1) % n_theta
            tri += [(a, b, b + n_theta), (a, b + n_theta, a + n_theta)]
    if closed_end:
        points = np.vstack([points, [0.0, 0.0, 0.0]])
        c = len(points) - 1
        tri += [(c, (k + 1) % n_theta, k) for k in range(n_theta)]
    return points, np.array(tri, np.int64)


def mesh(points, tri) -> pv.PolyData:
    return pv.PolyData.from_regular_faces(np.asarray(points, float), np.asarray(tri, np.int64))


def tube(**kw) -> pv.PolyData:
    return mesh(*tube_arrays(**kw))


def save(m: pv.PolyData, path: Path, **kw) -> Path:
    m.save(path, **kw)
    return path


def radial_outward_fraction(s: pv.PolyData) -> float:
    n = s.compute_normals(cell_normals=True, point_normals=False, auto_orient_normals=False).cell_data["Normals"]
    c = s.cell_centers().points
    return float(np.mean(np.einsum("ij,ij->i", n[:, :2], c[:, :2]) > 0))


def hole_area(repairs) -> float:
    (text,) = [r for r in repairs if r.startswith("filled")]
    return float(re.search(r"\(([\d.e+-]+) mm²\)", text).group(1))


# --------------------------------------------------------------------------------------------- good inputs


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("tube.stl", {"binary": False}),
        ("tube_bin.stl", {"binary": True}),
        ("tube.vtp", {}),
        ("tube.vtk", {}),
        ("tube.obj", {}),
        ("tube.ply", {}),
        ("tube_ascii.ply", {"binary": False}),
    ],
)
def test_round_trip_formats(tmp_path, name, kw):
    res = read_surface(save(tube(), tmp_path / name, **kw))
    assert isinstance(res, SurfaceIntake)
    assert res.surface.area == pytest.approx(TUBE_AREA, rel=1e-3)
    assert res.n_openings == 2
    assert (res.source_units, res.scale_to_mm, res.units_detected) == ("mm", 1.0, True)
    assert res.surface.is_all_triangles and res.surface.n_cells == 2 * NT * NZ
    assert res.surface.n_points == NT * (NZ + 1)  # STL's per-triangle vertices welded back together
    topo = topology(res.surface)
    assert topo.manifold and topo.n_components == 1 and topo.n_loops == 2
    assert radial_outward_fraction(res.surface) == 1.0
    assert res.repairs == ()  # VTK's STL reader welds points itself


def test_vtu_surface_extracted(tmp_path):
    grid = tube().cast_to_unstructured_grid()
    grid.save(tmp_path / "tube.vtu")
    res = read_surface(tmp_path / "tube.vtu")
    assert res.n_openings == 2 and res.repairs == ()
    assert res.surface.n_cells == 2 * NT * NZ
    assert res.surface.area == pytest.approx(TUBE_AREA, rel=1e-9)


def test_synthetic_case_surfaces_pass_unchanged():
    for case, openings in (("syn1_000", 2), ("syn1_001", 3)):
        path = REPO / "cases" / case / "surface.vtp"
        raw = pv.read(path)
        res = read_surface(path, IntakeConfig(units="mm"))
        assert res.n_openings == openings
        assert res.repairs == ()
        assert res.surface.n_cells == raw.n_cells
        assert res.surface.area == pytest.approx(raw.area, rel=1e-9)


def test_metres_detected_and_converted(tmp_path):
    p, t = tube_arrays()
    path = save(mesh(p * 1e-3, t), tmp_path / "tube_m.vtp")
    raw_area = pv.read(path).area
    res = read_surface(path)
    assert (res.source_units, res.scale_to_mm, res.units_detected) == ("m", 1000.0, True)
    assert res.surface.area == pytest.approx(raw_area * 1e6, rel=1e-9)
    assert res.surface.area == pytest.approx(TUBE_AREA, rel=1e-6)
    assert res.surface.bounds.z_max == pytest.approx(L)

    explicit = read_surface(path, IntakeConfig(units="m"))
    assert (explicit.source_units, explicit.units_detected) == ("m", False)
    assert explicit.surface.area == pytest.approx(TUBE_AREA, rel=1e-6)


def test_micrometres_detected_and_centimetres_explicit(tmp_path):
    p, t = tube_arrays()
    res = read_surface(save(mesh(p * 1e3, t), tmp_path / "tube_um.vtp"))
    assert (res.source_units, res.scale_to_mm) == ("um", 1e-3)
    assert res.surface.area == pytest.approx(TUBE_AREA, rel=1e-6)
    cm = read_surface(save(mesh(p * 0.1, t), tmp_path / "tube_cm.vtp"), IntakeConfig(units="cm"))
    assert (cm.source_units, cm.scale_to_mm, cm.units_detected) == ("cm", 10.0, False)
    assert cm.surface.area == pytest.approx(TUBE_AREA, rel=1e-6)


def test_small_hole_filled_and_reported(tmp_path):
    p, t = tube_arrays()
    j, k = NZ // 2, 5
    q = 2 * (j * NT + k)
    holed = np.delete(t, [q, q + 1], axis=0)  # one wall rectangle: 0.39 × 0.5 mm, perimeter 9 % of an end
    res = read_surface(save(mesh(p, holed), tmp_path / "holed.vtp"))
    assert res.n_openings == 2
    quad = 2 * R * np.sin(np.pi / NT) * (L / NZ)
    assert any(r.startswith("filled 1 small hole") for r in res.repairs)
    assert hole_area(res.repairs) == pytest.approx(quad, rel=2e-3)
    assert res.surface.area == pytest.approx(TUBE_AREA, rel=1e-9)  # planar rectangle: the fan restores it exactly
    topo = topology(res.surface)
    assert topo.n_loops == 2 and topo.manifold
    assert radial_outward_fraction(res.surface) == 1.0


def test_hole_threshold_separates_holes_from_openings(tmp_path):
    # A side branch-sized loop (a third of the end's perimeter) must stay an opening, never be patched over.
    p, t = tube_arrays()
    cells = [2 * (j * NT + k) + d for j in range(18, 22) for k in range(0, 4) for d in (0, 1)]
    res = read_surface(save(mesh(p, np.delete(t, cells, axis=0)), tmp_path / "branch.vtp"))
    assert res.n_openings == 3 and not any("hole" in r for r in res.repairs)
    # A loose threshold turns it into a hole.
    res = read_surface(tmp_path / "branch.vtp", IntakeConfig(hole_fraction=0.5))
    assert res.n_openings == 2 and hole_area(res.repairs) > 0


def test_inside_out_and_mixed_orientation_repaired(tmp_path):
    p, t = tube_arrays()
    res = read_surface(save(mesh(p, t[:, ::-1]), tmp_path / "inward.vtp"))
    assert res.repairs == ("flipped all triangles so normals point out of the lumen",)
    assert radial_outward_fraction(res.surface) == 1.0
    mixed = t.copy()
    flipped = np.random.default_rng(3).choice(len(t), 37, replace=False)
    mixed[flipped] = mixed[flipped, ::-1]
    res = read_surface(save(mesh(p, mixed), tmp_path / "mixed.vtp"))
    assert "flipped 37 triangles to a consistent orientation" in res.repairs
    assert radial_outward_fraction(res.surface) == 1.0


def test_triangle_soup_welded(tmp_path):
    # Every triangle with its own three vertices, jittered by ~1e-7 mm (float32 rounding of coordinates ~ 10 mm).
    p, t = tube_arrays()
    soup = p[t.ravel()] + np.random.default_rng(5).normal(0.0, 1e-7, (t.size, 3))
    res = read_surface(save(mesh(soup, np.arange(t.size).reshape(-1, 3)), tmp_path / "soup.vtp"))
    assert res.repairs == (f"merged {t.size - len(p)} duplicate points",)
    assert res.surface.n_points == len(p) and res.n_openings == 2
    assert res.surface.area == pytest.approx(TUBE_AREA, rel=1e-6)


def test_degenerate_and_duplicate_triangles_dropped(tmp_path):
    p, t = tube_arrays()
    extra = np.array([[0, 0, 1], [5, 7, 7], *t[:3]])
    res = read_surface(save(mesh(p, np.vstack([t, extra])), tmp_path / "dirty.vtk"))
    assert "dropped 2 degenerate triangles" in res.repairs
    assert "dropped 3 duplicate triangles" in res.repairs
    assert res.surface.n_cells == len(t) and res.n_openings == 2


def test_nonmanifold_fin_dropped(tmp_path):
    p, t = tube_arrays()
    a, b = NZ // 2 * NT, NZ // 2 * NT + 1  # a ring edge in the middle of the wall
    tip = (p[a] + p[b]) / 2 * [1.2, 1.2, 1.0]
    fin = mesh(np.vstack([p, tip]), np.vstack([t, [a, b, len(p)]]))
    res = read_surface(save(fin, tmp_path / "fin.vtp"))
    assert "dropped 1 triangles of small flaps on 1 non-manifold edges" in res.repairs
    assert res.surface.n_cells == len(t) and res.n_openings == 2
    assert topology(res.surface).manifold


def test_small_pieces_dropped_and_hint_chooses(tmp_path):
    p, t = tube_arrays()
    sp, st = tube_arrays(radius=0.3, length=1.0, n_theta=8, n_z=2)
    junk = mesh(np.vstack([p, sp + [10.0, 0, 0]]), np.vstack([t, st + len(p)]))
    res = read_surface(save(junk, tmp_path / "junk.vtp"))
    assert res.n_openings == 2 and res.surface.area == pytest.approx(TUBE_AREA, rel=1e-9)
    small_area = 8 * 2 * 0.3 * np.sin(np.pi / 8) * 1.0
    assert f"dropped 1 small disconnected pieces ({small_area:.3g} mm²)" in res.repairs
    p_m = np.vstack([p, sp + [10.0, 0, 0]]) * 1e-3  # the same in metres: the area is still reported in mm²
    res = read_surface(save(mesh(p_m, np.vstack([t, st + len(p)])), tmp_path / "junk_m.vtp"))
    assert f"dropped 1 small disconnected pieces ({small_area:.3g} mm²)" in res.repairs

    q, u = tube_arrays(radius=2.0, n_theta=32)
    two = mesh(np.vstack([p, q + [15.0, 0, 0]]), np.vstack([t, u + len(p)]))
    path = save(two, tmp_path / "two.vtp")
    small = read_surface(path, hint_point=[15.0, 0.0, 10.0])
    assert small.surface.area == pytest.approx(32 * 4.0 * np.sin(np.pi / 32) * L, rel=1e-9)
    assert small.surface.bounds.x_min == pytest.approx(13.0)
    big = read_surface(path, hint_point=(0.0, 0.0, 10.0))
    assert big.surface.area == pytest.approx(TUBE_AREA, rel=1e-9)
    with pytest.raises(GeometryError, match=r"two\.vtp: hint point .* mm from the surface"):
        read_surface(path, hint_point=[1000.0, 0.0, 1010.0])
    with pytest.raises(GeometryError, match=r"two\.vtp: hint point must be three finite numbers in mm"):
        read_surface(path, hint_point=["a", 1])


def test_config_is_validated():
    with pytest.raises(ConfigError, match="units"):
        IntakeConfig(units="inch")
    with pytest.raises(ConfigError, match="hole_fraction"):
        IntakeConfig(hole_fraction=1.5)


# --------------------------------------------------------------------------------------------- malformed inputs


def _tube_bytes(tmp_path, suffix, **kw) -> bytes:
    return save(tube(), tmp_path / f"src{suffix}", **kw).read_bytes()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def make_empty(tmp_path):
    return _write(tmp_path / "empty.stl", b"")


def make_truncated_stl(tmp_path):
    data = _tube_bytes(tmp_path, ".stl")
    return _write(tmp_path / "cut.stl", data[: int(len(data) * 0.6)])


def make_truncated_ascii_stl(tmp_path):
    data = _tube_bytes(tmp_path, ".stl", binary=False)
    return _write(tmp_path / "cut_ascii.stl", data[: len(data) // 2])


def make_garbage_stl(tmp_path):
    return _write(tmp_path / "noise.stl", np.random.default_rng(7).bytes(1000))


def make_garbage_vtk(tmp_path):
    return _write(tmp_path / "noise.vtk", np.random.default_rng(8).bytes(2000))


def make_truncated_vtp(tmp_path):
    data = _tube_bytes(tmp_path, ".vtp")
    return _write(tmp_path / "cut.vtp", data[: len(data) // 2])


def make_truncated_ply(tmp_path):  # VTK's own PLY reader segfaults on this one
    data = _tube_bytes(tmp_path, ".ply")
    return _write(tmp_path / "cut.ply", data[: len(data) * 3 // 4])


def make_ply_bad_index(tmp_path):  # ... and on this one
    p, t = tube_arrays()
    t = t.copy()
    t[10, 2] = 99999
    lines = ["ply", "format ascii 1.0", f"element vertex {len(p)}", "property float x", "property float y"]
    lines += ["property float z", f"element face {len(t)}", "property list uchar int vertex_indices", "end_header"]
    lines += [" ".join(map(str, q)) for q in p] + ["3 " + " ".join(map(str, f)) for f in t]
    return _write(tmp_path / "badid.ply", ("\n".join(lines) + "\n").encode())


def make_obj_bad_index(tmp_path):
    p, t = tube_arrays()
    text = "".join(f"v {x} {y} {z}\n" for x, y, z in p) + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in t)
    return _write(tmp_path / "badid.obj", (text + "f 1 2 99999\n").encode())


def make_nan(tmp_path):
    p, t = tube_arrays()
    p[17] = np.nan
    return save(mesh(p, t), tmp_path / "nan.vtp")


def make_sphere(tmp_path):
    return save(pv.Sphere(radius=5.0), tmp_path / "sphere.stl")


def make_one_opening(tmp_path):
    return save(tube(closed_end=True), tmp_path / "blind.vtp")


def make_two_tubes(tmp_path):
    p, t = tube_arrays()
    q, u = tube_arrays(radius=2.0, n_theta=32)
    return save(mesh(np.vstack([p, q + [15.0, 0, 0]]), np.vstack([t, u + len(p)])), tmp_path / "pair.vtp")


def make_metres_as_mm(tmp_path):
    p, t = tube_arrays()
    return save(mesh(p * 1e-3, t), tmp_path / "tube_in_metres.stl")


def make_implausible(tmp_path):
    p, t = tube_arrays()
    return save(mesh(p * 1e-7, t), tmp_path / "speck.vtp")


def make_fan(tmp_path):
    ang = np.linspace(0, 2 * np.pi, 4, endpoint=False)
    p = np.vstack([[0, 0, 0], [0, 0, 5], np.column_stack([5 * np.cos(ang), 5 * np.sin(ang), np.full(4, 2.5)])])
    return save(mesh(p, [[0, 1, 2 + i] for i in range(4)]), tmp_path / "fan.vtp")


def make_touching_tubes(tmp_path):
    # The second tube is the first mirrored in the plane x = R: both share the wall line at θ = 0.
    p, t = tube_arrays()
    q = p.copy()
    q[:, 0] = 2 * R - q[:, 0]
    return save(mesh(np.vstack([p, q]), np.vstack([t, t + len(p)])), tmp_path / "kissing.stl")


def make_pinched(tmp_path):
    # Mirrored and stacked on top, the second tube's bottom rim meets the first's top rim in one vertex.
    p, t = tube_arrays()
    q = p.copy()
    q[:, 0] = 2 * R - q[:, 0]
    q[:, 2] += L
    return save(mesh(np.vstack([p, q]), np.vstack([t, t + len(p)])), tmp_path / "pinched.vtp")


def make_moebius(tmp_path):
    n, w = 60, 2.0
    u = 2 * np.pi * np.arange(n) / n
    radial = np.column_stack([np.cos(u), np.sin(u), np.zeros(n)])
    across = np.cos(u / 2)[:, None] * radial + np.sin(u / 2)[:, None] * [0, 0, 1]
    p = np.vstack([10 * radial - w * across, 10 * radial + w * across])  # ids i (inner edge) and n + i
    tri = []
    for i in range(n):
        j = (i + 1) % n
        a, b, c, d = (i, j, n + j, n + i) if j else (i, n, 0, n + i)  # the half twist swaps the edges
        tri += [(a, b, c), (a, c, d)]
    return save(mesh(p, tri), tmp_path / "moebius.vtp")


def make_unsupported(tmp_path):
    return _write(tmp_path / "points.xyz", b"0 0 0\n1 0 0\n")


def make_missing(tmp_path):
    return tmp_path / "nowhere.vtp"


def make_vtu_no_cells(tmp_path):
    grid = pv.UnstructuredGrid()
    grid.points = np.random.default_rng(1).random((10, 3)) * 10
    return save(grid, tmp_path / "nocells.vtu")


MALFORMED = [
    (make_empty, IntakeConfig(), "empty file"),
    (make_truncated_stl, IntakeConfig(), "truncated binary STL: header announces 3840 triangles, file holds 2303"),
    (make_truncated_ascii_stl, IntakeConfig(), "unreadable or truncated STL file (VTK:"),
    (make_garbage_stl, IntakeConfig(), "not an STL file"),
    (make_garbage_vtk, IntakeConfig(), "unreadable or truncated VTK file (VTK: Unrecognized file type"),
    (make_truncated_vtp, IntakeConfig(), "unreadable or truncated VTP file (VTK: Error parsing XML"),
    (make_truncated_ply, IntakeConfig(), "truncated PLY file"),
    (make_ply_bad_index, IntakeConfig(), "a PLY face refers to vertex 99999 but the file has only 1968 vertices"),
    (make_obj_bad_index, IntakeConfig(), "a cell refers to point 99998 but the file has only 1968 points"),
    (make_nan, IntakeConfig(), "1 point(s) have NaN or infinite coordinates"),
    (make_sphere, IntakeConfig(), "closed surface, no inlet/outlet openings found"),
    (make_one_opening, IntakeConfig(), "only 1 opening found"),
    (make_two_tubes, IntakeConfig(), "several disjoint vessels (2 pieces; the second largest has 67 %"),
    (
        make_metres_as_mm,
        IntakeConfig(units="mm"),
        "surface extent 0.0217 looks like metres but units: mm was given; fix units in case.yaml",
    ),
    (make_implausible, IntakeConfig(), "surface extent 2.17e-06 is implausible for a vessel"),
    (make_fan, IntakeConfig(), "non-manifold surface: 1 edge(s) are shared by more than two triangles"),
    (make_touching_tubes, IntakeConfig(), f"non-manifold surface: {NZ} edge(s) are shared"),
    (make_pinched, IntakeConfig(), "1 boundary vertex/vertices join several openings"),
    (make_moebius, IntakeConfig(), "non-orientable surface"),
    (make_unsupported, IntakeConfig(), "unsupported surface format '.xyz'"),
    (make_missing, IntakeConfig(), "file not found"),
    (make_vtu_no_cells, IntakeConfig(), "no cells in the file"),
]


@pytest.mark.parametrize(("make", "config", "fragment"), MALFORMED, ids=[m[0].__name__[5:] for m in MALFORMED])
def test_malformed_inputs_refused_in_one_line(tmp_path, capfd, caplog, make, config, fragment):
    from vtkmodules.vtkCommonCore import vtkOutputWindow

    path = make(tmp_path)
    window = vtkOutputWindow.GetInstance()
    capfd.readouterr()
    with pytest.raises(GeometryError) as info:
        read_surface(path, config)
    assert vtkOutputWindow.GetInstance() is window  # VTK's message routing is handed back as it was
    message = str(info.value)
    assert "\n" not in message  # the CLI prints it as one line
    assert message.startswith(f"{path}: ")
    assert fragment in message
    out = capfd.readouterr()
    assert out.err == "" and out.out == ""  # VTK said nothing on its own
    assert not caplog.records  # nor through pyvista's logging bridge


# --------------------------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_surfaces(realdata):
    carotid = realdata / "gmsh_carotid" / "carotid.stl"
    res = read_surface(carotid)
    assert (res.source_units, res.scale_to_mm, res.units_detected) == ("m", 1000.0, True)
    assert res.n_openings == 3
    assert res.surface.area == pytest.approx(pv.read(carotid).area * 1e6, rel=1e-6)
    assert 50.0 < res.surface.length < 100.0  # a carotid bifurcation with flow extension, in mm

    artery = realdata / "vampy_aneurisk_C0015" / "artery.vtp"
    res = read_surface(artery)
    assert (res.source_units, res.scale_to_mm) == ("mm", 1.0)
    assert res.n_openings == 3
    assert res.surface.area == pytest.approx(pv.read(artery).area, rel=1e-6)
    assert topology(res.surface).manifold

    anxplore = realdata / "anxplore178_semisynthetic" / "AnXplore178_FSI_00045_surface.vtu"
    res = read_surface(anxplore)  # a VTU wall surface of a sidewall aneurysm
    assert (res.source_units, res.n_openings) == ("mm", 2)
    assert res.surface.n_cells == 15795
