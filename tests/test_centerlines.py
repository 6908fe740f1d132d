"""Openings, capping, vmtk centerlines and flow extensions on analytic tubes, synthetic cases and a real carotid."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
from scipy.spatial import cKDTree

from cfdgen import registry
from cfdgen.centerline import RADIUS_ARRAY
from cfdgen.errors import GeometryError
from cfdgen.openings import cap, find_openings
from cfdgen.surface import topology
from cfdgen.vmtk_centerlines import BRANCH_ARRAYS, add_flow_extensions, build_path, compute_centerlines

TUBE_R, TUBE_L = 2.0, 30.0
BEND_R, BEND_r = 15.0, 1.5


def swept_tube(centers: np.ndarray, tangents: np.ndarray, radius: float, n_around: int) -> pv.PolyData:
    """Open triangulated tube: circles of ``radius`` around each centre, in the plane normal to its tangent."""
    t = tangents / np.linalg.norm(tangents, axis=1, keepdims=True)
    ref = np.where(np.abs(t[:, [2]]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    a = np.cross(t, ref)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = np.cross(t, a)
    th = np.linspace(0.0, 2 * np.pi, n_around, endpoint=False)
    pts = centers[:, None, :] + radius * (
        np.cos(th)[None, :, None] * a[:, None] + np.sin(th)[None, :, None] * b[:, None]
    )
    ring = np.arange(n_around)
    quads = [(i * n_around + ring, i * n_around + (ring + 1) % n_around) for i in range(len(centers) - 1)]
    tri = np.vstack(
        [np.column_stack([p, q, q + n_around]) for p, q in quads]
        + [np.column_stack([p, q + n_around, p + n_around]) for p, q in quads]
    )
    return pv.PolyData(pts.reshape(-1, 3), np.hstack([np.full((len(tri), 1), 3), tri]).ravel())


@pytest.fixture(scope="module")
def tube() -> pv.PolyData:
    z = np.linspace(-TUBE_L / 2, TUBE_L / 2, 151)
    centers = np.column_stack([np.zeros_like(z), np.zeros_like(z), z])
    return swept_tube(centers, np.tile([0.0, 0.0, 1.0], (len(z), 1)), TUBE_R, 64)


@pytest.fixture(scope="module")
def tube_centerlines(tube):
    ops = find_openings(tube, inlet_hint=np.array([0.0, 0.0, -TUBE_L / 2]))
    return ops, compute_centerlines(tube, ops)


@pytest.fixture(scope="module")
def sidewall():
    from cfdgen.synth.cohort import build_case
    from cfdgen.synth.config import SynthConfig

    return build_case(5, 0, SynthConfig())


@pytest.fixture(scope="module")
def bifurcation():
    from cfdgen.synth.cohort import build_case
    from cfdgen.synth.config import SynthConfig

    return build_case(5, 1, SynthConfig())


# ---------------------------------------------------------------- straight tube


def test_tube_openings(tube):
    ops = find_openings(tube, inlet_hint=np.array([0.0, 0.0, -TUBE_L / 2]))
    assert [op.patch for op in ops] == [registry.INLET, registry.outlet(0)]
    inlet, outlet = ops
    np.testing.assert_allclose(inlet.center, [0, 0, -TUBE_L / 2], atol=1e-6)
    np.testing.assert_allclose(outlet.center, [0, 0, TUBE_L / 2], atol=1e-6)
    np.testing.assert_allclose(inlet.normal, [0, 0, -1], atol=1e-9)  # out of the domain
    np.testing.assert_allclose(outlet.normal, [0, 0, 1], atol=1e-9)
    for op in ops:
        assert op.radius == pytest.approx(TUBE_R, rel=0.01)
        assert op.area == pytest.approx(np.pi * TUBE_R**2, rel=0.01)
        assert len(op.point_ids) == 64
    # without a hint the larger opening is the inlet; equal areas here, so either end, outlets numbered after
    assert [op.patch for op in find_openings(tube)] == [registry.INLET, registry.outlet(0)]


def test_tube_cap_is_closed(tube):
    ops = find_openings(tube)
    closed = cap(tube, ops)
    topo = topology(closed)
    print(f"\ncapped tube: {topo}")
    assert topo.boundary_edges == 0 and topo.manifold and topo.n_components == 1 and topo.genus == 0
    assert set(np.unique(closed.cell_data[registry.REGION_ID])) == {0, 1, 2}
    assert closed.volume == pytest.approx(np.pi * TUBE_R**2 * TUBE_L, rel=0.01)  # consistent orientation


def test_tube_centerline(tube_centerlines):
    ops, cs = tube_centerlines
    assert len(cs.paths) == 1
    path = cs.paths[0]
    assert path.name == registry.outlet(0)
    r_med = float(np.median(path.radius))
    par = np.abs(path.tangent[:, 2])
    k_med = float(np.median(path.curvature))
    print(
        f"\ntube: {len(path.points)} points, length {path.length:.3f} mm, median radius {r_med:.4f} mm, "
        f"min |t·z| {par.min():.6f}, median curvature {k_med:.2e} 1/mm, off-axis {np.abs(path.points[:, :2]).max():.4f}"
    )
    np.testing.assert_allclose(path.points[0], ops[0].center, atol=0.05)  # inlet → outlet
    np.testing.assert_allclose(path.points[-1], ops[1].center, atol=0.05)
    assert path.length == pytest.approx(TUBE_L, rel=0.02)
    assert r_med == pytest.approx(TUBE_R, rel=0.02)
    assert par.min() > 0.999 and np.all(path.tangent[:, 2] > 0)  # parallel to the axis, in the flow direction
    assert k_med < 1e-2 * (1 / TUBE_R)
    assert RADIUS_ARRAY in cs.polydata.point_data and cs.polydata.n_cells == 1


def test_build_path_orients_and_rejects_zero_length():
    pts = np.column_stack([np.zeros(5), np.zeros(5), np.linspace(4, 0, 5)])
    path = build_path(pts, np.full(5, 1.0), inlet=np.zeros(3), name=registry.outlet(0))
    np.testing.assert_allclose(path.points[0], 0.0)
    np.testing.assert_allclose(path.tangent, np.tile([0, 0, 1.0], (5, 1)))
    with pytest.raises(GeometryError, match="zero length"):
        build_path(np.zeros((4, 3)), np.ones(4), inlet=np.zeros(3), name=registry.outlet(0))


def test_centerlines_need_two_openings(tube):
    with pytest.raises(GeometryError, match="inlet and at least one outlet"):
        compute_centerlines(tube, find_openings(tube)[:1])


# ---------------------------------------------------------------- curved tube


def test_bend_curvature():
    phi = np.linspace(0.0, np.pi / 2, 160)
    centers = BEND_R * np.column_stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)])
    tangents = np.column_stack([-np.sin(phi), np.cos(phi), np.zeros_like(phi)])
    surf = swept_tube(centers, tangents, BEND_r, 48)
    ops = find_openings(surf, inlet_hint=centers[0])
    path = compute_centerlines(surf, ops).paths[0]
    k_med = float(np.median(path.curvature))
    off = np.abs(np.linalg.norm(path.points[:, :2], axis=1) - BEND_R)
    print(
        f"\nbend: median curvature {k_med:.5f} 1/mm (1/R = {1 / BEND_R:.5f}), median radius "
        f"{np.median(path.radius):.4f} mm, median distance to the arc {np.median(off):.4f} mm"
    )
    assert k_med == pytest.approx(1 / BEND_R, rel=0.05)
    assert np.median(path.radius) == pytest.approx(BEND_r, rel=0.02)
    assert np.median(off) < 0.05


# ---------------------------------------------------------------- synthetic cases


def _compare_to_truth(path, truth_cl, neck: np.ndarray, exclude: float, interior_only: bool):
    """Median distance to the true centerline and median relative radius error away from the neck."""
    d, j = cKDTree(truth_cl.points).query(path.points)
    on = (j > 0) & (j < len(truth_cl.points) - 1) if interior_only else np.ones(len(j), bool)
    far = on & (np.linalg.norm(path.points - neck, axis=1) > exclude)
    rel = np.abs(path.radius[far] - truth_cl.radius[j[far]]) / truth_cl.radius[j[far]]
    return float(np.median(d[on])), float(np.median(rel)), int(far.sum())


def test_sidewall_case(sidewall):
    parent = sidewall.anatomy.parent
    ops = find_openings(sidewall.surface, inlet_hint=parent.points[0])
    assert len(ops) == 2
    cs = compute_centerlines(sidewall.surface, ops)
    assert len(cs.paths) == 1
    neck = np.asarray(sidewall.truth["neck_centroid"])
    sac_r = sidewall.truth["size"] / 2
    dist, rel, n = _compare_to_truth(cs.paths[0], parent, neck, 2 * sac_r, interior_only=False)
    path = cs.paths[0]
    _, j = cKDTree(parent.points).query(path.points)
    dk = float(np.median(np.abs(path.curvature - parent.curvature[j])))
    dt = float(np.median(np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", path.tangent, parent.tangent[j]), -1, 1)))))
    print(
        f"\nsidewall: median distance to the true centerline {dist:.4f} mm, median |Δr|/r {rel:.4%} ({n} points), "
        f"median |Δκ| {dk:.5f} 1/mm (true median κ {np.median(parent.curvature):.4f}), median tangent angle {dt:.2f}°"
    )
    assert dist < 0.15
    assert rel < 0.05
    assert n > 0.2 * len(path.points)
    assert dk < 0.1 * np.median(parent.curvature)
    assert dt < 3.0


def test_bifurcation_case(bifurcation):
    parent = bifurcation.anatomy.parent
    ops = find_openings(bifurcation.surface)  # no hint: the largest opening, the parent's start
    assert len(ops) == 3
    assert np.linalg.norm(ops[0].center - parent.points[0]) < 0.5 * parent.radius[0]
    cs = compute_centerlines(bifurcation.surface, ops)
    assert [p.name for p in cs.paths] == [registry.outlet(0), registry.outlet(1)]
    neck = np.asarray(bifurcation.truth["neck_centroid"])
    sac_r = bifurcation.truth["size"] / 2
    for path in cs.paths:
        assert np.linalg.norm(path.points[0] - parent.points[0]) < 0.5 * parent.radius[0]
        dist, rel, n = _compare_to_truth(path, parent, neck, 2 * sac_r, interior_only=True)
        print(f"\nbifurcation {path.name}: parent section median distance {dist:.4f} mm, median |Δr|/r {rel:.4%}")
        assert dist < 0.15 and rel < 0.05 and n > 10
    assert cs.branches is not None
    assert all(a in cs.branches.cell_data for a in BRANCH_ARRAYS)
    assert len(np.unique(cs.branches.cell_data["GroupIds"])) >= 3


# ---------------------------------------------------------------- flow extensions


def test_flow_extensions_tube(tube, tube_centerlines):
    ops, cs = tube_centerlines
    ext = add_flow_extensions(tube, ops, length_in_radii=5.0, centerlines=cs)
    topo = topology(ext)
    assert topo.manifold and topo.n_loops == 2 and topo.n_components == 1
    new = {op.patch: op for op in find_openings(ext, inlet_hint=ops[0].center)}
    for op in ops:
        moved = float((new[op.patch].center - op.center) @ op.normal)
        ratio = new[op.patch].radius / op.radius
        print(f"\nflow extension {op.patch}: moved {moved:.3f} mm = {moved / op.radius:.3f} radii, radius ×{ratio:.4f}")
        assert moved == pytest.approx(5.0 * op.radius, rel=0.15)
        assert ratio == pytest.approx(1.0, rel=0.05)
        assert new[op.patch].normal @ op.normal > 0.99


# ---------------------------------------------------------------- real data


def test_carotid_radius_matches_reference(realdata):
    stl = realdata / "gmsh_carotid" / "carotid.stl"
    ref_file = realdata / "gmsh_carotid" / "centerlinesCAROTID.vtk"
    if not (stl.is_file() and ref_file.is_file()):
        pytest.skip("gmsh_carotid is absent")
    surf = pv.read(stl)
    surf.points = np.asarray(surf.points, dtype=np.float64) * 1000.0  # metres → mm
    ref = pv.read(ref_file)
    ref_pts = np.asarray(ref.points, dtype=np.float64) * 1000.0
    ref_r = np.asarray(ref.point_data[RADIUS_ARRAY], dtype=np.float64) * 1000.0
    ops = find_openings(surf)
    assert len(ops) == 3
    cs = compute_centerlines(surf, ops)
    assert len(cs.paths) == 2
    tree = cKDTree(ref_pts)
    for path in cs.paths:
        d, j = tree.query(path.points)
        rel = (path.radius - ref_r[j]) / ref_r[j]
        print(
            f"\ncarotid {path.name}: length {path.length:.1f} mm, median distance to reference {np.median(d):.3f} mm, "
            f"median relative radius difference {np.median(rel):+.3%} (median |.| {np.median(np.abs(rel)):.3%})"
        )
        assert np.median(np.abs(rel)) < 0.10
