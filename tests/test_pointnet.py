"""The PointNet++ surrogate network: its geometric primitives on hand-made clouds with known answers, and the
network's shape contract, permutation equivariance, gradient flow and ability to fit a smooth field. CPU, fast."""

from __future__ import annotations

import json
import math

import pytest
import torch

from cfdgen.errors import ConfigError
from surrogate import pointnet
from surrogate.pointnet import (
    PointNetConfig,
    PointNetPP,
    ball_query,
    farthest_point_sample,
    n_parameters,
    three_nn_interpolate,
)

SMALL = {
    "centroids": (128, 32),
    "radii": (0.4, 0.8),
    "neighbours": (8, 8),
    "widths": ((16, 16, 32), (32, 32, 64)),
    "global_width": 32,
    "decoder_width": 32,
}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cloud(b: int, n: int, seed: int) -> torch.Tensor:
    return torch.rand(b, n, 3, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --- farthest-point sampling ---------------------------------------------------------------------------------------


def test_fps_unique_deterministic_and_starts_where_told():
    xyz = cloud(2, 200, 0)
    idx = farthest_point_sample(xyz, 50)
    assert idx.shape == (2, 50) and idx.dtype == torch.long
    assert all(len(set(row.tolist())) == 50 for row in idx)
    assert torch.equal(idx, farthest_point_sample(xyz, 50))
    assert idx[:, 0].tolist() == [0, 0]
    assert farthest_point_sample(xyz, 5, start=17)[:, 0].tolist() == [17, 17]
    # Every next point is the farthest from those already chosen.
    pts = xyz[0, idx[0, :10]]
    d_next = torch.cdist(pts[9:10], pts[:9]).min()
    d_all = torch.cdist(xyz[0], pts[:9]).min(dim=1).values.max()
    assert torch.isclose(d_next, d_all)


def test_fps_on_a_line_takes_the_ends_and_the_middle():
    line = torch.zeros(1, 11, 3)
    line[0, :, 0] = torch.linspace(0.0, 1.0, 11)
    assert farthest_point_sample(line, 3).tolist() == [[0, 10, 5]]
    # Shuffled, starting from the same end: the same physical points.
    perm = torch.randperm(11, generator=torch.Generator().manual_seed(3))
    shuffled = line[:, perm]
    start = int((perm == 0).nonzero())
    picked = perm[farthest_point_sample(shuffled, 3, start=start)[0]]
    assert picked.tolist() == [0, 10, 5]


def test_fps_never_repeats_duplicates():
    same = torch.zeros(1, 6, 3)
    assert sorted(farthest_point_sample(same, 6)[0].tolist()) == list(range(6))


# --- ball query -------------------------------------------------------------------------------------------------


def test_ball_query_hand_made_cloud():
    x = torch.tensor([0.0, 0.1, 0.2, 0.5, 1.0])
    xyz = torch.stack([x, torch.zeros(5), torch.zeros(5)], dim=-1)[None]
    centres = xyz[:, [0, 4, 3]]
    idx = ball_query(xyz, centres, radius=0.25, k=4)
    assert idx.shape == (1, 3, 4)
    assert idx[0, 0].tolist() == [0, 1, 2, 0]  # three within the radius, padded with the centre
    assert idx[0, 1].tolist() == [4, 4, 4, 4]  # isolated point: only itself
    assert idx[0, 2].tolist() == [3, 3, 3, 3]
    # More neighbours than slots: the k nearest; more slots than points: padded.
    assert ball_query(xyz, centres[:, :1], radius=0.6, k=2)[0, 0].tolist() == [0, 1]
    assert ball_query(xyz, centres[:, :1], radius=2.0, k=7)[0, 0].tolist() == [0, 1, 2, 3, 4, 0, 0]


def test_ball_query_members_lie_within_radius(monkeypatch):
    xyz = cloud(2, 400, 1)
    centres_idx = farthest_point_sample(xyz, 40)
    centres = torch.stack([xyz[b, centres_idx[b]] for b in range(2)])
    radius, k = 0.3, 12
    idx = ball_query(xyz, centres, radius, k)
    for b in range(2):
        d = torch.cdist(centres[b], xyz[b])
        for m in range(40):
            got = idx[b, m]
            inside = set((d[m] <= radius).nonzero().flatten().tolist())
            assert set(got.tolist()) <= inside
            assert int(centres_idx[b, m]) in got.tolist()
            expected = min(len(inside), k)  # all of them when they fit, else exactly k distinct
            assert len(set(got.tolist())) == expected
    # The chunked search (a tiny distance block) gives the same answer.
    monkeypatch.setattr(pointnet, "_BLOCK_ELEMENTS", 1000)
    assert torch.equal(ball_query(xyz, centres, radius, k), idx)


# --- interpolation ----------------------------------------------------------------------------------------------


def test_three_nn_linear_field_at_sources_and_constant_everywhere():
    src = cloud(2, 50, 2)
    dst = cloud(2, 300, 3)
    a = torch.tensor([1.5, -2.0, 0.7])
    linear = (src @ a + 0.3)[..., None]
    at_src = three_nn_interpolate(src, src, linear)
    assert torch.allclose(at_src, linear, atol=1e-5)
    const = torch.tensor([2.0, -1.0, 0.25]).expand(2, 50, 3)
    out = three_nn_interpolate(dst, src, const)
    assert out.shape == (2, 300, 3)
    assert torch.allclose(out, const[:, :1].expand(2, 300, 3), atol=1e-5)


def test_three_nn_weights_are_inverse_distance():
    src = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [3.0, 0, 0], [9.0, 0, 0]]])
    f = torch.tensor([[[1.0], [2.0], [5.0], [100.0]]])
    out = three_nn_interpolate(torch.tensor([[[0.5, 0, 0]]]), src, f)
    w = torch.tensor([1 / 0.5, 1 / 0.5, 1 / 2.5])
    assert math.isclose(float(out), float((w * torch.tensor([1.0, 2.0, 5.0])).sum() / w.sum()), rel_tol=1e-5)
    # Fewer than 3 sources.
    two = three_nn_interpolate(torch.tensor([[[0.25, 0, 0]]]), src[:, :2], f[:, :2])
    assert math.isclose(float(two), (4 * 1 + (4 / 3) * 2) / (4 + 4 / 3), rel_tol=1e-5)


# --- the network ------------------------------------------------------------------------------------------------


def small_config(**kw) -> PointNetConfig:
    return PointNetConfig(**{"in_point": 6, "in_global": 5, "out": 7, **SMALL, **kw})


def inputs(cfg: PointNetConfig, b: int, n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(b, n, 3, generator=g) * 2 - 1
    return xyz, torch.randn(b, n, cfg.in_point, generator=g), torch.randn(b, cfg.in_global, generator=g)


def test_output_and_latent_shapes():
    torch.manual_seed(0)
    cfg = small_config()
    net = PointNetPP(cfg).eval()
    with torch.no_grad():
        out, z = net(*inputs(cfg, 2, 700, 0), return_latent=True)
        assert out.shape == (2, 700, 7) and z.shape == (2, cfg.global_width)
        assert torch.isfinite(out).all()
        assert net(*inputs(cfg, 2, 700, 0)).shape == (2, 700, 7)
        # No per-point or global inputs; a cloud smaller than the first level's centroids.
        bare = small_config(in_point=0, in_global=0)
        assert PointNetPP(bare)(*inputs(bare, 1, 10, 1)).shape == (1, 10, 7)
    with pytest.raises(ValueError):
        xyz, f, g = inputs(cfg, 2, 100, 2)
        net(xyz, f[..., :3], g)


def test_permutation_equivariance():
    """Permuting the points permutes the outputs; point 0 stays put so FPS starts at the same physical point."""
    torch.manual_seed(1)
    cfg = small_config()
    net = PointNetPP(cfg).eval()
    xyz, f, g = inputs(cfg, 2, 700, 4)
    perm = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(699)])
    with torch.no_grad():
        out, z = net(xyz, f, g, return_latent=True)
        out_p, z_p = net(xyz[:, perm], f[:, perm], g, return_latent=True)
    assert torch.allclose(out_p, out[:, perm], atol=1e-5)
    assert torch.allclose(z_p, z, atol=1e-5)
    # Not vacuous: the output varies from point to point and cloud to cloud.
    assert out.std(dim=1).min() > 1e-3 and (z[0] - z[1]).abs().max() > 1e-3


def test_without_absolute_positions_a_shifted_cloud_gets_the_same_answer():
    """absolute_xyz=False: positions enter only as offsets within neighbourhoods, so moving the whole cloud
    changes nothing; with them (the default) it does — the check is not vacuous."""
    torch.manual_seed(3)
    xyz, f, g = inputs(small_config(), 2, 600, 6)
    shift = torch.tensor([0.7, -0.4, 1.3])
    for absolute, changed in ((False, False), (True, True)):
        net = PointNetPP(small_config(absolute_xyz=absolute)).eval()
        with torch.no_grad():
            out, z = net(xyz, f, g, return_latent=True)
            out_s, z_s = net(xyz + shift, f, g, return_latent=True)
        assert (not torch.allclose(out_s, out, atol=1e-5)) is changed
        assert (not torch.allclose(z_s, z, atol=1e-5)) is changed
        assert out.std(dim=1).min() > 1e-3  # the answer still varies from point to point
    assert PointNetConfig.from_dict(small_config(absolute_xyz=False).to_dict()).absolute_xyz is False


def test_gradients_reach_every_parameter():
    torch.manual_seed(2)
    cfg = small_config(dropout=0.1)
    net = PointNetPP(cfg).train()
    out = net(*inputs(cfg, 2, 300, 5))
    out.square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_fits_a_smooth_field():
    torch.manual_seed(0)
    cfg = PointNetConfig(in_point=0, in_global=1, out=1, **{**SMALL, "centroids": (96, 24)})
    net = PointNetPP(cfg)
    xyz = cloud(2, 600, 7)
    glob = torch.tensor([[0.5], [-1.0]])
    target = (torch.sin(3 * xyz[..., 0]) + xyz[..., 1] * glob)[..., None]
    feats = torch.zeros(2, 600, 0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    with torch.no_grad():
        initial = float(torch.mean((net(xyz, feats, glob) - target) ** 2))
    for _ in range(150):
        loss = torch.mean((net(xyz, feats, glob) - target) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        final = float(torch.mean((net(xyz, feats, glob) - target) ** 2))
    assert final < initial / 10, (initial, final)


# --- configuration ----------------------------------------------------------------------------------------------


def test_default_size_and_config_round_trip():
    cfg = PointNetConfig(in_point=6, in_global=30, out=7)
    assert 10_000 < n_parameters(PointNetPP(cfg)) < 1_000_000
    back = PointNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and isinstance(back.widths[0], tuple)
    custom = small_config(dropout=0.2)
    assert PointNetConfig.from_dict(json.loads(json.dumps(custom.to_dict()))) == custom
    with pytest.raises(ConfigError):
        PointNetConfig.from_dict({**cfg.to_dict(), "radius": [0.1]})
    with pytest.raises(ConfigError):
        PointNetConfig(in_point=6, in_global=30, out=7, radii=(0.1,))


def test_plan_reuse_gives_identical_outputs():
    """A plan computed once (the ensemble's shared geometry) changes nothing in the outputs of other weights."""
    torch.manual_seed(3)
    cfg = PointNetConfig(in_point=2, in_global=1, out=2, centroids=(64, 16), neighbours=(8, 8))
    nets = [PointNetPP(cfg).eval(), PointNetPP(cfg).eval()]
    xyz, feats, glob = torch.rand(1, 300, 3), torch.rand(1, 300, 2), torch.rand(1, 1)
    plan = nets[0].plan(xyz)
    with torch.no_grad():
        for net in nets:
            a, la = net(xyz, feats, glob, return_latent=True)
            b, lb = net(xyz, feats, glob, return_latent=True, plan=plan)
            assert torch.equal(a, b) and torch.equal(la, lb)
