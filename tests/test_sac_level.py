"""The case-level sac model (surrogate.sac_level): pure numpy, on laws with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from surrogate.sac_level import SacLevelModel, fit_sac_level, observed_log_ratio, rescale_sac

NAMES = ["morph:aspect_ratio", "morph:noise", "morph:constant"]


def cohort(n_geometries: int = 12, runs: int = 3, seed: int = 0):
    """Runs of geometries whose log ratio is 0.4 − 0.9 AR exactly; one input is noise, one constant."""
    rng = np.random.default_rng(seed)
    ar = np.repeat(rng.uniform(0.5, 3.0, n_geometries), runs)
    x = np.column_stack([ar, rng.normal(size=len(ar)), np.full(len(ar), 7.0)])
    return x, 0.4 - 0.9 * ar, np.repeat([f"g{i}" for i in range(n_geometries)], runs)


def test_fit_recovers_the_law_of_held_out_geometries():
    x, y, geometries = cohort()
    m = fit_sac_level(x, y, NAMES, geometries)
    assert m.names == ("morph:aspect_ratio", "morph:noise")  # the constant input is dropped
    assert m.n_runs == 36 and m.n_geometries == 12
    assert m.ridge == 0.01  # exact data: the least shrinkage wins the leave-one-geometry-out comparison
    assert m.cv_abs_log_error < 0.02
    for ar in (0.8, 2.5):
        assert m.log_ratio([ar, 0.3], ["morph:aspect_ratio", "morph:noise"]) == pytest.approx(0.4 - 0.9 * ar, abs=0.02)
    again = SacLevelModel.from_dict(m.to_dict())
    assert again == m
    # plain Python values only: the model artifact is read with torch.load(weights_only=True)
    values = [v for x in m.to_dict().values() for v in (x if isinstance(x, list | tuple) else [x])]
    assert all(type(v) in (float, int, str) for v in values)


def test_missing_inputs_give_no_level_and_small_cohorts_are_refused():
    x, y, geometries = cohort()
    m = fit_sac_level(x, y, NAMES, geometries)
    assert m.log_ratio([np.nan, 0.0], ["morph:aspect_ratio", "morph:noise"]) is None  # no sac detected
    assert m.log_ratio([1.0], ["morph:aspect_ratio"]) is None
    with pytest.raises(ValueError, match="at least 3 geometries"):
        fit_sac_level(x[:6], y[:6], NAMES, geometries[:6])


def tube(n: int = 4000, seed: int = 1):
    """A tube of radius 1.5 mm along z, its points with z in [9, 11] mm and x > 0 called the sac."""
    rng = np.random.default_rng(seed)
    t, z = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 20, n)
    pts = np.column_stack([1.5 * np.cos(t), 1.5 * np.sin(t), z])
    sac = (np.abs(z - 10) < 1) & (pts[:, 0] > 0)
    tawss = rng.uniform(1.0, 3.0, n)
    fields = {"tawss": tawss, "wss_mean": np.column_stack([0 * z, 0 * z, tawss]), "osi": rng.uniform(0, 0.2, n)}
    return pts, sac, fields


def test_rescale_sets_the_sac_level_relative_to_the_parent_and_nothing_else():
    pts, sac, fields = tube()
    out, factor = rescale_sac(fields, pts, sac, 3.0, -1.5)
    assert observed_log_ratio(pts, sac, out["tawss"], 3.0) == pytest.approx(-1.5, abs=1e-12)
    assert factor == pytest.approx(np.exp(-1.5 - observed_log_ratio(pts, sac, fields["tawss"], 3.0)))
    np.testing.assert_array_equal(out["tawss"][~sac], fields["tawss"][~sac])
    np.testing.assert_allclose(out["wss_mean"][sac], fields["wss_mean"][sac] * factor)
    np.testing.assert_array_equal(out["osi"], fields["osi"])  # not proportional to the shear level
    same, one = rescale_sac(fields, pts, sac, 3.0, None)
    assert one == 1.0 and same is fields
    same, one = rescale_sac(fields, pts, np.zeros_like(sac), 3.0, -1.5)  # no sac: nothing to scale
    assert one == 1.0 and same is fields
