"""The ensemble spread's scores and calibration (surrogate.spread) on errors of known distribution."""

import numpy as np
import pytest

from surrogate import spread


def normal_errors(n=200_000, sigma=0.3, seed=0, shape=()):
    rng = np.random.default_rng(seed)
    true = rng.uniform(1.0, 5.0, (n, *shape))
    return true, true + rng.normal(0.0, sigma, true.shape)


def test_an_honest_spread_scores_as_a_normal_standard_deviation():
    true, pred = normal_errors()
    s = spread.spread_scores(np.full(pred.shape, 0.3), pred, true)
    assert s["within_1sd"] == pytest.approx(spread.NORMAL_WITHIN["within_1sd"], abs=0.005)
    assert s["within_2sd"] == pytest.approx(spread.NORMAL_WITHIN["within_2sd"], abs=0.003)
    assert s["error_ratio"] == pytest.approx(1 / np.sqrt(2 / np.pi), rel=0.01)  # mean|z| of a normal: 0.798


def test_an_ensemble_half_as_spread_as_its_error_is_scaled_back():
    """The shipped ensemble's spread was about half its error; the fitted factor restores it, from pooled runs."""
    runs = [normal_errors(n=40_000, sigma=s, seed=k) for k, s in enumerate((0.1, 0.3, 0.6))]
    pairs = [(np.full(p.shape, s / 2), p, t) for (t, p), s in zip(runs, (0.1, 0.3, 0.6), strict=True)]
    before = spread.spread_scores(*pairs[1])
    # two halved spreads are one honest one
    assert before["within_2sd"] == pytest.approx(spread.NORMAL_WITHIN["within_1sd"], abs=0.01)
    factor = spread.fit_scale(pairs)
    assert factor == pytest.approx(2.0, rel=0.02)
    std = spread.scaled({"tawss": pairs[1][0], "osi": pairs[1][0]}, {"tawss": factor})
    after = spread.spread_scores(std["tawss"], *pairs[1][1:])
    assert after["within_1sd"] == pytest.approx(spread.NORMAL_WITHIN["within_1sd"], abs=0.01)
    assert after["within_2sd"] == pytest.approx(spread.NORMAL_WITHIN["within_2sd"], abs=0.01)
    np.testing.assert_array_equal(std["osi"], pairs[1][0])  # a field without a factor is left as it is


def test_vectors_are_scored_per_component_and_points_without_spread_are_left_out():
    true, pred = normal_errors(n=50_000, shape=(3,))
    std = np.full(pred.shape, 0.3)
    std[:1000] = 0.0  # the members agreed exactly there: no z, not an infinite one
    z = spread.abs_z(std, pred, true)
    assert z.shape == (3 * 50_000 - 3000,) and np.isfinite(z).all()
    assert spread.fit_scale([(std, pred, true)]) == pytest.approx(1.0, rel=0.02)
    assert spread.fit_scale([]) == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        spread.abs_z(std[:, 0], pred, true)
