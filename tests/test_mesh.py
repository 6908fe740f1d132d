"""Volume meshing (cfdgen.mesh): gmsh prisms + tets → OpenFOAM polyMesh, on a pipe and a synthetic aneurysm."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

from cfdgen import registry
from cfdgen.errors import ConfigError, GeometryError
from cfdgen.mesh import MESH_LEVELS, MeshConfig, MeshLevel, mesh_surface, parse_checkmesh
from cfdgen.openings import cap, find_openings

REPO = Path(__file__).resolve().parents[1]
R, L = 2.0, 40.0

openfoam = pytest.mark.skipif(shutil.which("gmshToFoam") is None, reason="OpenFOAM (gmshToFoam) is not installed")


def open_pipe(radius: float = R, length: float = L, nt: int = 64, nz: int = 161) -> pv.PolyData:
    theta = np.linspace(0.0, 2.0 * np.pi, nt, endpoint=False)
    z = np.linspace(0.0, length, nz)
    tt, zz = np.meshgrid(theta, z)
    points = np.column_stack([radius * np.cos(tt).ravel(), radius * np.sin(tt).ravel(), zz.ravel()])
    i, j = np.meshgrid(np.arange(nz - 1), np.arange(nt), indexing="ij")
    a = (i * nt + j).ravel()
    b = (i * nt + (j + 1) % nt).ravel()
    tris = np.vstack([np.column_stack([a, b, b + nt]), np.column_stack([a, b + nt, a + nt])])
    return pv.PolyData(points, np.hstack([np.full((len(tris), 1), 3), tris]).ravel())


def capped(surface: pv.PolyData) -> pv.PolyData:
    return cap(surface, find_openings(surface))


@pytest.fixture(scope="module")
def pipe_mesh(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipe") / "mesh"
    qc = mesh_surface(capped(open_pipe()), out, "tiny")
    return out, qc


@pytest.mark.openfoam
@openfoam
def test_pipe_tiny_patches_layers_and_quality(pipe_mesh):
    out, qc = pipe_mesh
    assert qc.checkmesh_ok and qc.checkmesh_verdict == "Mesh OK."
    assert set(qc.patches) == {registry.INLET, registry.outlet(0), registry.WALL}
    assert all(p["faces"] > 0 for p in qc.patches.values())
    assert qc.patches[registry.WALL]["type"] == "wall"
    assert qc.patches[registry.INLET]["type"] == qc.patches[registry.outlet(0)]["type"] == "patch"
    # the polyMesh on disk agrees: the wall patch is of type wall, the openings stay patches
    boundary = (out / "constant" / "polyMesh" / "boundary").read_text()
    types = dict(re.findall(r"\n\s*(\w+)\s*\{[^{}]*?\btype\s+(\w+);", boundary))
    assert types == {"inlet": "patch", "outlet_0": "patch", "wall": "wall"}
    assert qc.layers_present and qc.layer_count == MESH_LEVELS["tiny"].layers
    assert qc.cell_types["prisms"] == qc.layer_count * qc.patches[registry.WALL]["faces"]
    assert qc.cell_types["tetrahedra"] > 0 and qc.cell_types["polyhedra"] == 0
    assert 5_000 <= qc.cells <= 40_000  # tiny: 4 layers on a 0.25 R wall mesh, 30.6k cells measured
    # The wall is remeshed at h = 0.35 R with nodes on the input cylinder: flat facets cut chords off the circle,
    # losing up to ~h²/(6R²) ≈ 2 % of the cross-section (1.6 % measured), never adding volume.
    volume = math.pi * R**2 * L * 1e-9  # m³: points are written in metres
    assert 0.98 * volume <= qc.total_volume_m3 <= 1.001 * volume
    saved = json.loads((out / "qc.json").read_text())
    assert saved["cells"] == qc.cells and saved["level"] == "tiny"
    for name in ("mesh.msh", "surface.vtp", "system/controlDict", "constant/polyMesh/owner"):
        assert (out / name).is_file(), name
    assert (out / "mesh.msh").read_text()[:40].split()[:2] == ["$MeshFormat", "2.2"]
    assert not list(out.parent.glob(".mesh.*")), "no temporary folder is left behind"


@pytest.mark.openfoam
@openfoam
def test_synthetic_aneurysm_tiny(tmp_path):
    from cfdgen.intake import read_surface

    case = REPO / "cases" / "syn1_000"
    surface = read_surface(case / "surface.vtp").surface
    qc = mesh_surface(capped(surface), tmp_path / "mesh", "tiny")
    print(f"syn1_000 tiny: {qc.cells} cells, {qc.wall_time_s:.1f} s")
    assert qc.checkmesh_ok, qc.checkmesh_verdict
    assert qc.layers_present and qc.layer_count == MESH_LEVELS["tiny"].layers
    assert set(qc.patches) == {registry.INLET, registry.outlet(0), registry.WALL}
    assert qc.cells < 50_000


def test_open_surface_without_region_id_is_refused(tmp_path):
    with pytest.raises(GeometryError, match="region_id"):
        mesh_surface(open_pipe(nt=16, nz=11), tmp_path / "mesh", "tiny")
    assert not (tmp_path / "mesh").exists()


def test_surface_with_a_hole_is_refused(tmp_path):
    closed = capped(open_pipe(nt=16, nz=11))
    holed = closed.extract_cells(np.arange(1, closed.n_cells)).extract_surface(algorithm="dataset_surface")
    with pytest.raises(GeometryError, match="not closed"):
        mesh_surface(holed, tmp_path / "mesh", "tiny")
    assert not (tmp_path / "mesh").exists()


def test_levels_and_bad_level():
    assert list(MESH_LEVELS) == ["draft", "tiny", "coarse", "medium", "fine"]  # coarsest first
    factors = [lvl.size_factor for lvl in MESH_LEVELS.values()]
    assert factors == sorted(factors, reverse=True)
    with pytest.raises(ConfigError, match="unknown mesh level"):
        mesh_surface(capped(open_pipe(nt=16, nz=11)), "/nonexistent/never", "huge")
    with pytest.raises(ConfigError, match="thick"):
        MeshLevel("bad", size_factor=0.2, layers=10, first_layer=0.1, growth=1.5)


def test_parse_checkmesh_failed_log():
    log = """
    points:           100
    faces:            300
    cells:            50
    prisms:           10
    tetrahedra:       40
    Min volume = 1.5e-12. Max volume = 2e-10.  Total volume = 5.02e-07.  Cell volumes OK.
    Mesh non-orthogonality Max: 72.5 average: 12.1
 ***Max skewness = 5.2, 3 highly skew faces detected which may impair the quality of the results
Failed 1 mesh checks.
"""
    stats = parse_checkmesh(log)
    assert stats["cells"] == 50 and stats["cell_types"]["prisms"] == 10
    assert stats["min_volume"] == 1.5e-12 and stats["total_volume"] == 5.02e-07
    assert stats["max_non_orthogonality"] == 72.5 and stats["max_skewness"] == 5.2
    assert not stats["ok"] and stats["verdict"].startswith("Failed 1 mesh checks; Max skewness = 5.2")


def test_bad_radius_is_refused(tmp_path):
    closed = capped(open_pipe(nt=16, nz=11))
    with pytest.raises(GeometryError, match="local radius"):
        mesh_surface(closed, tmp_path / "mesh", "tiny", radius=lambda p: -np.ones(len(p)))
    with pytest.raises(GeometryError, match="local radius has 3 values"):
        mesh_surface(closed, tmp_path / "mesh", "tiny", radius=np.ones(3))


@pytest.mark.openfoam
@openfoam
def test_layers_thicker_than_the_vessel_fail_clearly(tmp_path):
    # 0.43 × a claimed 6 mm radius = 2.6 mm of layers in a 2 mm pipe: the extruded wall crosses itself
    thick = MeshLevel("thick", size_factor=0.35, layers=5, first_layer=0.07, growth=1.1)
    with pytest.raises(GeometryError, match="prism layers fold") as err:
        mesh_surface(
            capped(open_pipe()),
            tmp_path / "mesh",
            thick,
            radius=6.0,
            config=MeshConfig(layer_fallback=(), crease_smoothing=()),
        )
    assert "\n" not in str(err.value)
    assert not (tmp_path / "mesh").exists()
    # by default thinner layers are tried, and the QC says how much thinner
    qc = mesh_surface(capped(open_pipe()), tmp_path / "mesh", thick, radius=6.0)
    assert qc.layers_present and qc.layer_scale < 1.0 and qc.checkmesh_ok


def test_crease_rounding_moves_only_the_crease():
    from cfdgen.mesh import _checked_surface, _round_creases

    # a pipe whose radius steps from 2 to 1.4 mm at z = 20: a sharp ring crease, smooth wall elsewhere
    pipe = open_pipe()
    z = pipe.points[:, 2].copy()
    pipe.points[:, :2] *= np.where(z < 20.0, 1.0, 0.7)[:, None]
    points, tri, region = _checked_surface(capped(pipe))
    moved = _round_creases(points, tri, region, 20, 0.05)
    shift = np.linalg.norm(moved - points, axis=1)
    assert shift[np.unique(tri[region != 0])].max() == 0.0  # caps and rims stay where the openings were found
    z = points[:, 2]
    assert 0.1 < shift[np.abs(z - 20.0) < 0.5].max() < 0.3  # the crease is rounded (0.18 mm measured)
    assert shift[np.abs(z - 20.0) > 2.0].max() < 0.01  # one radius away the wall stays (0.003 mm measured)

    def volume(p):
        a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
        return abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0

    assert abs(volume(moved) / volume(points) - 1.0) < 0.002  # Taubin, unlike Laplacian smoothing, keeps the lumen


@pytest.mark.openfoam
@openfoam
def test_folding_neck_meshes_after_crease_rounding(tmp_path):
    """The shipped syn1_001's bifurcation neck folds the draft level's prism layers (open and negative cells at the
    crease); rounding the crease meshes it with full layers."""
    from cfdgen.case import load_case
    from cfdgen.prepare import RADIUS_ARRAY, prepare_geometry

    case = REPO / "cases" / "syn1_001"
    closed = prepare_geometry(case / "surface.vtp", load_case(case / "case.yaml")).closed
    raw = MeshConfig(layer_fallback=(), crease_smoothing=())
    with pytest.raises(GeometryError, match="prism layers fold"):
        mesh_surface(closed, tmp_path / "raw", "draft", radius=RADIUS_ARRAY, config=raw)
    assert not (tmp_path / "raw").exists()
    qc = mesh_surface(closed, tmp_path / "mesh", "draft", radius=RADIUS_ARRAY, config=MeshConfig(layer_fallback=()))
    assert qc.checkmesh_ok and qc.layer_scale == 1.0
    assert qc.layer_count == MESH_LEVELS["draft"].layers
    assert qc.crease_smoothing is not None and qc.crease_smoothing["max_displacement_mm"] < 0.15
    saved = pv.read(tmp_path / "mesh" / "surface.vtp")  # the surface that was meshed, not the raw one
    assert not np.allclose(saved.points, closed.points)
