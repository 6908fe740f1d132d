"""Post-processing and point-cloud samples on a real tiny OpenFOAM run (a square duct), plus sampling checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from textwrap import dedent

import h5py
import numpy as np
import pytest
import pyvista as pv

from cfdgen import registry
from cfdgen.bc import BoundaryConditions, Waveform
from cfdgen.centerline import RADIUS_ARRAY
from cfdgen.errors import IahemoError
from cfdgen.pointcloud import dataset_name, fields_at, read_sample, sample_wall

# Square duct of side A (mm) and length L (mm), uniform inflow U (m/s). Fully developed laminar flow in a square
# duct has Fanning f·Re = 14.227 (Shah & London 1978) with Re on the hydraulic diameter D_h = A, so the
# perimeter-mean wall shear is τ̄ = f·ρU²/2 = 7.1135·μU/A (1.245 Pa here). The diffusive development time
# A²/(2π²ν) ≈ 15 ms; the run lasts 150 ms and records the last 50 ms (one "period" of 5 writes + repeat).
A, L, U = 1.0, 5.0, 0.05
RHO, MU = 1060.0, 0.0035
TAU_DUCT = 14.227 / 2 * MU * U / (A * 1e-3)
PERIOD, RECORD_START, END = 0.05, 0.10, 0.15
NECK = np.array([2.5, 0.5, 1.0])  # a pretend "sac": a disc on the top wall, so the sac machinery runs
NECK_R = 0.3

_HEADER = "FoamFile {{ version 2.0; format ascii; class {cls}; object {obj}; }}\n"


def _write(root: Path, rel: str, cls: str, body: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_HEADER.format(cls=cls, obj=path.name) + dedent(body))


def _duct_case(root: Path) -> None:
    nx, ny = 30, 12
    grading = "((0.5 0.5 3) (0.5 0.5 0.3333))"  # cells shrink towards both walls
    _write(
        root,
        "system/blockMeshDict",
        "dictionary",
        f"""
        convertToMeters 0.001;
        vertices ((0 0 0) ({L} 0 0) ({L} {A} 0) (0 {A} 0) (0 0 {A}) ({L} 0 {A}) ({L} {A} {A}) (0 {A} {A}));
        blocks (hex (0 1 2 3 4 5 6 7) ({nx} {ny} {ny}) simpleGrading (1 {grading} {grading}));
        edges ();
        boundary (
          {registry.INLET} {{ type patch; faces ((0 4 7 3)); }}
          {registry.outlet(0)} {{ type patch; faces ((1 2 6 5)); }}
          {registry.WALL} {{ type wall; faces ((0 1 5 4) (3 7 6 2) (0 3 2 1) (4 5 6 7)); }}
        );
        """,
    )
    _write(
        root,
        "system/controlDict",
        "dictionary",
        f"""
        application pimpleFoam; startFrom startTime; startTime 0; stopAt endTime; endTime {END}; deltaT 0.001;
        writeControl adjustableRunTime; writeInterval 0.01; writeFormat ascii; writePrecision 8;
        writeCompression off; timeFormat general; timePrecision 6; runTimeModifiable false; adjustTimeStep no;
        functions {{ wallShearStress {{ type wallShearStress; libs ("libfieldFunctionObjects.so");
          patches ({registry.WALL}); writeControl writeTime; log false; }} }}
        """,
    )
    _write(
        root,
        "system/fvSchemes",
        "dictionary",
        """
        ddtSchemes { default backward; } gradSchemes { default Gauss linear; }
        divSchemes { default none; div(phi,U) Gauss linearUpwind grad(U); div((nuEff*dev2(T(grad(U))))) Gauss linear; }
        laplacianSchemes { default Gauss linear corrected; } interpolationSchemes { default linear; }
        snGradSchemes { default corrected; }
        """,
    )
    _write(
        root,
        "system/fvSolution",
        "dictionary",
        """
        solvers { p { solver PCG; preconditioner DIC; tolerance 1e-7; relTol 0.01; } pFinal { $p; relTol 0; }
          U { solver smoothSolver; smoother symGaussSeidel; tolerance 1e-7; relTol 0; } UFinal { $U; } }
        PIMPLE { momentumPredictor yes; nOuterCorrectors 1; nCorrectors 2; nNonOrthogonalCorrectors 0; }
        """,
    )
    _write(root, "constant/transportProperties", "dictionary", f"transportModel Newtonian; nu {MU / RHO:.8e};\n")
    _write(root, "constant/turbulenceProperties", "dictionary", "simulationType laminar;\n")
    _write(
        root,
        "0/U",
        "volVectorField",
        f"""
        dimensions [0 1 -1 0 0 0 0]; internalField uniform (0 0 0);
        boundaryField {{ {registry.INLET} {{ type fixedValue; value uniform ({U} 0 0); }}
          {registry.outlet(0)} {{ type zeroGradient; }} {registry.WALL} {{ type noSlip; }} }}
        """,
    )
    _write(
        root,
        "0/p",
        "volScalarField",
        f"""
        dimensions [0 2 -2 0 0 0 0]; internalField uniform 0;
        boundaryField {{ {registry.INLET} {{ type zeroGradient; }}
          {registry.outlet(0)} {{ type fixedValue; value uniform 0; }} {registry.WALL} {{ type zeroGradient; }} }}
        """,
    )
    env = dict(os.environ, WM_PROJECT_DIR="/usr/share/openfoam")
    for app in ("blockMesh", "pimpleFoam"):
        r = subprocess.run([app, "-case", str(root)], env=env, capture_output=True, text=True, timeout=120)
        (root / f"log.{app}").write_text(r.stdout + r.stderr)
        assert r.returncode == 0, f"{app} failed: {(r.stdout + r.stderr)[-2000:]}"


def _run_records(root: Path) -> None:
    conditions = BoundaryConditions(
        waveform=Waveform(U * (A * 1e-3) ** 2, PERIOD, (1.0,), (0.0,)),
        outlet_fractions=(1.0,),
        outlet_mode="pressure",
        density=RHO,
        viscosity=MU,
    )
    bc = conditions.to_dict()
    run = {
        "case_id": "duct",
        "rho": RHO,
        "mu": MU,
        "p_ref": 1000.0,
        "period": PERIOD,
        "record_start": RECORD_START,
        "end_time": END,
        "mesh_level": "tiny",
        "bc": bc,
        "bc_vector": conditions.to_vector().tolist(),
        "bc_names": list(conditions.names()),
        "morphology": {"size": 0.6, "neck_diameter": 2 * NECK_R},
        "openfoam_version": "v1912",
        "code_version": "test",
        "geometry_hash": "0" * 16,
    }
    (root / "run.json").write_text(json.dumps(run))
    (root / "qc.json").write_text(json.dumps({"status": "converged", "reason": "test"}))
    geo = root / "geometry"
    geo.mkdir()
    box = pv.Box(bounds=(0, L, 0, A, 0, A), level=20, quads=False)
    keep = np.abs(box.cell_normals[:, 0]) < 0.5  # open at the inlet and outlet
    surface = box.extract_cells(np.nonzero(keep)[0]).extract_surface(algorithm=None)
    surface.point_data[registry.FIELDS["sac"].key] = (np.linalg.norm(surface.points - NECK, axis=1) < NECK_R) * 1.0
    surface.save(geo / "surface.vtp")
    (geo / "neck.json").write_text(json.dumps({"neck_centroid": NECK.tolist(), "neck_radius_mm": NECK_R}))
    axis = np.column_stack([np.linspace(-0.5, L + 0.5, 50), np.full(50, A / 2), np.full(50, A / 2)])
    line = pv.PolyData(axis, lines=np.concatenate([[50], np.arange(50)]))  # one polyline cell per path, like vmtk
    line.point_data[RADIUS_ARRAY] = np.full(50, A / 2)
    line.save(geo / "centerlines.vtp")


@pytest.fixture(scope="module")
def duct_run(tmp_path_factory) -> Path:
    if shutil.which("pimpleFoam") is None or shutil.which("blockMesh") is None:
        pytest.skip("OpenFOAM is not installed")
    root = tmp_path_factory.mktemp("runs") / "uq_0"
    root.mkdir()
    _duct_case(root)
    _run_records(root)
    return root


@pytest.mark.openfoam
def test_sample_run_on_a_real_duct(duct_run: Path, tmp_path: Path):
    from cfdgen.post import sample_run

    n = 2048
    path = sample_run(duct_run, tmp_path / "samples", n_points=n)
    assert path == tmp_path / "samples" / "sample.h5" and path.is_file()

    with h5py.File(path) as f:
        names = set(f["fields"])
        assert {dataset_name(k) for k in ("tawss", "osi", "rrt", "ecap", "twssg", "wssg", "tap", "wss_mean")} <= names
        assert {"TAWSS", "OSI", "WSS_MEAN", "WSS_LOFI", "NTAWSS"} <= names
        assert f["points"].shape == (n, 3) and f["fields/WSS_MEAN"].shape == (n, 3)
        assert f.attrs["registry_version"] == registry.REGISTRY_VERSION and f.attrs["case_id"] == "duct"

    s = read_sample(path)
    pts, fields = s.cloud.points, s.cloud.fields
    assert pts.shape == (n, 3) and s.inputs.bc_names == list(BoundaryConditions.names())
    assert s.inputs.morphology_names == list(registry.MORPHOLOGY) and s.inputs.morphology[0] == pytest.approx(0.6)
    assert np.isnan(s.inputs.morphology[1])
    assert s.provenance["bc_sample"]["waveform"]["period"] == PERIOD
    assert pts[:, 0].min() >= -1e-4 and pts[:, 0].max() <= L + 1e-4  # mm
    np.testing.assert_allclose(np.linalg.norm(s.cloud.normals, axis=1), 1.0, atol=1e-5)

    # fully developed part of the duct: perimeter-mean TAWSS against the closed form
    developed = (pts[:, 0] > 2.0) & (pts[:, 0] < 4.5) & (s.cloud.sac == 0)
    tawss = float(fields["tawss"][developed].mean())
    assert tawss == pytest.approx(TAU_DUCT, rel=0.10)
    np.testing.assert_array_less(fields["osi"], 1e-3)  # steady flow: no oscillation
    assert np.all(fields["tawss"] > 0)
    # τ follows the flow (+x) once OpenFOAM's sign is flipped, like the low-fidelity estimate
    assert np.mean(fields["wss_mean"][developed, 0]) == pytest.approx(tawss, rel=0.05)
    q = U * (A * 1e-3) ** 2
    lofi = np.linalg.norm(fields["wss_lofi"], axis=1)
    np.testing.assert_allclose(lofi, 4 * MU * q / (np.pi * (A / 2 * 1e-3) ** 3), rtol=1e-4)  # 1.78 Pa
    assert np.all(fields["wss_lofi"][:, 0] > 0.99 * lofi)
    assert float(np.mean(fields["tube_deviation"])) == pytest.approx(1.13, abs=0.1)  # square vs inscribed circle
    # sac labels came across: a disc of radius 0.3 mm on the top wall
    sac_pts = pts[s.cloud.sac == 1]
    assert 0 < len(sac_pts) < 0.05 * n
    assert np.all(np.linalg.norm(sac_pts - NECK, axis=1) < NECK_R + 0.1)

    summary = json.loads((duct_run / "post" / "summary.json").read_text())
    assert summary["window"]["rule"] == "periodic-rectangle" and summary["window"]["n_times"] == 6
    assert summary["inlet_flow"]["value"] == pytest.approx(q, rel=1e-4)
    # pressure drop ≈ wall friction over the wetted length: Δp ≈ 4τ̄L/A (+ the entrance excess)
    drop = summary["pressure_drop"]["outlet_0"]["value"]
    assert 4 * TAU_DUCT * L / A < drop < 1.5 * 4 * TAU_DUCT * L / A
    assert summary["sac"]["ntawss_mean"]["value"] == pytest.approx(1.0, abs=0.5)
    assert summary["sac"]["lsa"]["value"] == 0.0
    wall = pv.read(duct_run / "post" / "wall.vtp")
    for key in ("tawss", "osi", "wssg", "tap", "ntawss", "wss_mean", "sac"):
        assert key in wall.point_data and key in wall.cell_data
    assert wall.bounds[1] == pytest.approx(L, rel=1e-5)  # mm
    assert (duct_run / "post" / "tawss_osi.png").stat().st_size > 10_000


@pytest.mark.openfoam
def test_diverged_run_is_refused(duct_run: Path, tmp_path: Path):
    from cfdgen.post import postprocess, sample_run

    bad = tmp_path / "uq_1"
    shutil.copytree(duct_run, bad, ignore=shutil.ignore_patterns("post"))
    (bad / "qc.json").write_text(json.dumps({"status": "diverged", "reason": "Courant 40 at t = 0.02 s"}))
    with pytest.raises(IahemoError, match="diverged.*Courant 40"):
        sample_run(bad, tmp_path / "out")
    with pytest.raises(IahemoError, match="only converged"):
        postprocess(bad)
    assert not (tmp_path / "out" / "sample.h5").exists() and not (bad / "post").exists()


def test_sample_wall_even_deterministic_and_exact():
    sphere = pv.Sphere(radius=5.0, theta_resolution=120, phi_resolution=60)
    sphere.point_data["tawss"] = sphere.points[:, 2] + 10.0
    sphere.point_data["sac"] = (sphere.points[:, 2] > 2.5) * 1.0
    sphere.cell_data["osi"] = np.linspace(0, 0.5, sphere.n_cells)
    a, b = sample_wall(sphere, 3000, seed=4), sample_wall(sphere, 3000, seed=4)
    assert len(a.points) == 3000 and np.array_equal(a.points, b.points)
    assert not np.array_equal(a.points, sample_wall(sphere, 3000, seed=5).points)
    np.testing.assert_allclose(a.fields["tawss"], a.points[:, 2] + 10.0, atol=1e-9)  # linear → exact
    assert set(np.unique(a.sac)) == {0, 1} and "sac" not in a.fields
    assert np.all(np.einsum("ij,ij->i", a.normals, a.points) > 0.99 * 5.0)
    from scipy.spatial import cKDTree

    d = cKDTree(a.points).query(a.points, k=2)[0][:, 1]
    assert d.min() > 0.6 * np.median(d)  # evenly spaced: no clumps (i.i.d. sampling gives ~0.05)


def test_fields_at_reads_another_meshs_wall_linearly():
    # Two triangulations of one sphere, as two meshes of one vessel: a field linear in space read from the coarse
    # one at the fine one's samples is exact at the closest points (the polygon sits inside the sphere).
    coarse = pv.Sphere(radius=5.0, theta_resolution=30, phi_resolution=15)
    coarse.point_data["tawss"] = coarse.points @ np.array([1.0, -2.0, 0.5]) + 20.0
    coarse.point_data["wss_mean"] = np.column_stack(
        [coarse.points[:, 0], np.ones(coarse.n_points), np.zeros(coarse.n_points)]
    )
    fine = sample_wall(pv.Sphere(radius=5.0, theta_resolution=90, phi_resolution=45), 500, seed=1)
    got = fields_at(coarse, fine.points, ["tawss", "wss_mean"])
    _, closest = coarse.find_closest_cell(fine.points, return_closest_point=True)
    np.testing.assert_allclose(got["tawss"], closest @ np.array([1.0, -2.0, 0.5]) + 20.0, atol=1e-9)
    assert got["wss_mean"].shape == (500, 3)
    np.testing.assert_allclose(got["wss_mean"][:, 0], closest[:, 0], atol=1e-9)
    assert np.max(np.linalg.norm(closest - fine.points, axis=1)) < 0.1  # the meshes' gap, not a far-off cell


def test_fields_at_names_a_missing_field():
    wall = pv.Sphere(radius=5.0)
    wall.point_data["tawss"] = np.ones(wall.n_points)
    with pytest.raises(IahemoError, match="no point field osi"):
        fields_at(wall, wall.points[:3], ["tawss", "osi"])


def test_read_sample_refuses_other_registry_versions(tmp_path: Path):
    from cfdgen.pointcloud import SampleInputs, write_sample

    cloud = sample_wall(pv.Sphere(), 64)
    path = write_sample(tmp_path / "s.h5", cloud, SampleInputs(np.zeros(2), ["a", "b"], np.ones(1), ["q"]), {})
    assert read_sample(path).inputs.bc_names == ["q"]
    with h5py.File(path, "a") as f:
        f.attrs["registry_version"] = "0"
    with pytest.raises(IahemoError, match="registry version 0"):
        read_sample(path)


def test_shared_geometry_reads_back_exactly_and_refuses_another(tmp_path: Path):
    """Two runs of one wall with their geometry arrays in one shared file read back as written (compact, as the
    packed copy stores them); a sibling holding another wall, or none, is named instead of read."""
    from cfdgen.pointcloud import PointCloud, SampleInputs, shares_geometry, write_geometry, write_sample

    cloud = sample_wall(pv.Sphere(radius=3.0), 256)
    rng = np.random.default_rng(0)
    n = len(cloud.points)
    inputs = SampleInputs(np.zeros(2), ["a", "b"], np.ones(1), ["q"])

    def run(tawss):
        context = np.abs(cloud.points[:, :1]) * np.ones((1, registry.FIELDS["wall_context"].ncomp))
        fields = {"tawss": tawss, "tap": 13000 + rng.normal(size=n), "tube_deviation": np.ones(n)}
        fields["wall_context"] = context
        return PointCloud(cloud.points, cloud.normals, cloud.sac, fields)

    a, b = run(rng.uniform(1, 5, n)), run(rng.uniform(1, 5, n))
    write_geometry(tmp_path / "geometry.h5", a)
    paths = [write_sample(tmp_path / f"s{i}.h5", c, inputs, {"bc_sample": f"s{i}"}, compress=True, compact=True,
                          shared_geometry="geometry.h5") for i, c in enumerate((a, b))]  # fmt: skip
    full = write_sample(tmp_path / "full.h5", b, inputs, {"bc_sample": "s1"}, compress=True, compact=True)
    assert all(shares_geometry(p) for p in paths) and not shares_geometry(full)
    with h5py.File(paths[1]) as f:
        assert "points" not in f and sorted(f["fields"]) == sorted(map(dataset_name, ("tap", "tawss")))
    got, want = read_sample(paths[1]), read_sample(full)
    for k in ("points", "normals", "sac"):
        np.testing.assert_array_equal(getattr(got.cloud, k), getattr(want.cloud, k))
    assert sorted(got.cloud.fields) == sorted(want.cloud.fields)
    for k, v in want.cloud.fields.items():
        np.testing.assert_array_equal(got.cloud.fields[k], v)
        assert got.cloud.fields[k].dtype == v.dtype
    assert got.provenance == want.provenance  # the sharing attributes are the file's business, not provenance
    np.testing.assert_array_equal(read_sample(paths[0]).cloud.fields["tawss"], a.fields["tawss"].astype(np.float16))
    moved = PointCloud(cloud.points + 0.01, cloud.normals, cloud.sac, b.fields)
    with pytest.raises(IahemoError, match="not this sample's geometry"):
        write_sample(tmp_path / "s2.h5", moved, inputs, {}, compact=True, shared_geometry="geometry.h5")
    write_geometry(tmp_path / "geometry.h5", moved)
    with pytest.raises(IahemoError, match="holds other geometry"):
        read_sample(paths[0])
    (tmp_path / "geometry.h5").unlink()
    with pytest.raises(IahemoError, match="geometry file .* is missing"):
        read_sample(paths[0])
    # a truncated geometry file or sample: one line naming the file, not h5py's OSError
    (tmp_path / "geometry.h5").write_bytes((tmp_path / "full.h5").read_bytes()[:300])
    with pytest.raises(IahemoError, match=r"geometry.h5: not a readable HDF5 file"):
        read_sample(paths[0])
    with pytest.raises(IahemoError, match=r"geometry.h5: not a readable HDF5 file"):
        read_sample(tmp_path / "geometry.h5")


def test_lofi_branch_flows_and_poiseuille_wss():
    from cfdgen.centerline import Centerline
    from cfdgen.lofi import branch_flows, lofi_wss, outlet_fractions

    def path(points, radius, name):
        t = np.gradient(points, axis=0)
        t /= np.linalg.norm(t, axis=1, keepdims=True)
        z = np.zeros(len(points))
        return Centerline(points, np.full(len(points), radius), t, z, z, name)

    s = np.linspace(0, 10, 41)[:, None]
    trunk = s * [1.0, 0, 0]
    up = np.vstack([trunk, [10, 0, 0] + s[1:] * [0.8, 0.6, 0]])
    down = np.vstack([trunk, [10, 0, 0] + s[1:] * [0.8, -0.6, 0]])
    fractions = outlet_fractions([1.0, 0.5], exponent=3.0)
    np.testing.assert_allclose(fractions, [8 / 9, 1 / 9])
    q = 4e-6  # m³/s
    cl = branch_flows([path(up, 1.0, "outlet_0"), path(down, 1.0, "outlet_1")], fractions, q)
    np.testing.assert_allclose(cl.flow[:41], q)  # shared trunk carries everything
    np.testing.assert_allclose(cl.flow[45:81], 8 / 9 * q)
    np.testing.assert_allclose(cl.flow[-30:], 1 / 9 * q)
    # a trunk wall point with an outward normal: 4μQ/(πR³) along +x; a branch point gets its branch's share
    wall = np.array([[5.0, 0.0, 1.0], [10 + 8 * 0.8, -8 * 0.6, 1.0]])
    normals = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    r = lofi_wss(wall, normals, cl, mu=0.004, rho=1060.0)  # straight paths: no curvature factor
    expected = 4 * 0.004 * q / (np.pi * 1e-3**3)  # 20.37 Pa
    np.testing.assert_allclose(r.wss[0], [expected, 0, 0], rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(r.wss[1]), expected / 9, rtol=1e-12)
    np.testing.assert_allclose(r.wss[1] / np.linalg.norm(r.wss[1]), [0.8, -0.6, 0], atol=1e-9)
    np.testing.assert_allclose(r.tube_deviation, 1.0)


def test_lofi_curvature_factor_on_a_bend():
    """On a bend (centerline radius 10 mm, tube radius 1 mm: Rκ = 0.1) at Re = 200 the Dean number is 63.2 and the
    wall estimate is Mishra & Gupta's 1 + 0.033 (log₁₀ 63.2)⁴ = 1.347 times Poiseuille; a sac point two radii from
    the centerline keeps plain Poiseuille; a straight tube keeps plain Poiseuille."""
    from cfdgen.centerline import Centerline
    from cfdgen.lofi import branch_flows, dean_factor, lofi_wss

    assert dean_factor(0.5) == 1.0 and dean_factor(1.0) == 1.0
    assert dean_factor(100.0) == pytest.approx(1.528)
    rc, radius, mu, rho = 10.0, 1.0, 0.0035, 1060.0
    q = 200.0 * np.pi * radius * 1e-3 * mu / (2.0 * rho)  # Re = 2ρQ/(πRμ) = 200
    theta = np.linspace(0.0, np.pi / 2, 91)
    arc = np.c_[rc * np.cos(theta), rc * np.sin(theta), np.zeros_like(theta)]
    tangent = np.c_[-np.sin(theta), np.cos(theta), np.zeros_like(theta)]
    n = len(theta)
    bend = Centerline(arc, np.full(n, radius), tangent, np.full(n, 1 / rc), np.zeros(n), "outlet_0")
    cl = branch_flows([bend], [1.0], q)
    mid = arc[45]
    up = np.array([0.0, 0.0, 1.0])
    points = np.array([mid + radius * up, mid + 2 * radius * up])
    r = lofi_wss(points, np.array([up, up]), cl, mu=mu, rho=rho)
    poiseuille = 4 * mu * q / (np.pi * (radius * 1e-3) ** 3)
    expected = 1 + 0.033 * np.log10(200 * np.sqrt(0.1)) ** 4
    assert expected == pytest.approx(1.347, abs=1e-3)
    np.testing.assert_allclose(np.linalg.norm(r.wss, axis=1), [expected * poiseuille, poiseuille], rtol=1e-9)
    np.testing.assert_allclose(r.wss[0] / np.linalg.norm(r.wss[0]), tangent[45], atol=1e-12)
    straight = Centerline(arc, np.full(n, radius), tangent, np.zeros(n), np.zeros(n), "outlet_0")
    r0 = lofi_wss(points[:1], up[None], branch_flows([straight], [1.0], q), mu=mu, rho=rho)
    np.testing.assert_allclose(np.linalg.norm(r0.wss[0]), poiseuille, rtol=1e-12)


def test_a_steady_state_is_its_own_time_average():
    from cfdgen.post import WallSeries, held_steady
    from cfdgen.wall_indices import wall_indices

    rng = np.random.default_rng(3)
    tau = rng.normal(size=(1, 50, 3))
    p = rng.normal(size=(1, 50))
    wall = pv.Sphere().extract_surface()
    one = WallSeries(np.array([812.0]), wall, tau, p, {"inlet": np.array([0.3])}, np.array([2e-6]), {})
    held = held_steady(one)
    idx = wall_indices(held.wss_kinematic, held.times, None, held.p_kinematic)
    assert np.allclose(idx.tawss, np.linalg.norm(tau[0], axis=1), rtol=1e-12)
    assert np.allclose(idx.wss_mean, tau[0], rtol=1e-12)
    assert np.allclose(idx.tap, p[0], rtol=1e-12)
    assert np.all(idx.osi == 0) and np.all(idx.twssg == 0)
    assert idx.rule.duration == 1.0 and np.allclose(idx.rule.weights @ held.inlet_flux, 2e-6)
    with pytest.raises(IahemoError, match="writes one state"):
        held_steady(held)
