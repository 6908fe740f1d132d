"""High-risk region labels on hand-made fields with known answers."""

import numpy as np
import pytest

from surrogate.regions import CATEGORIES, RegionConfig, iou, label_regions, region_fractions, streamwise_gradient


def plane(n=30):
    x, y = np.meshgrid(np.linspace(0, 3, n), np.linspace(0, 3, n))
    return np.column_stack([x.ravel(), y.ravel(), np.zeros(n * n)])


def test_streamwise_gradient_of_a_linear_field():
    pts = plane()
    values = 2.0 * pts[:, 0] - 1.0 * pts[:, 1]
    along_x = streamwise_gradient(pts, values, np.tile([1.0, 0, 0], (len(pts), 1)))
    along_y = streamwise_gradient(pts, values, np.tile([0, 3.0, 0], (len(pts), 1)))  # not unit: normalised
    np.testing.assert_allclose(along_x, 2.0, atol=1e-9)
    np.testing.assert_allclose(along_y, -1.0, atol=1e-9)
    assert np.all(streamwise_gradient(pts, values, np.zeros((len(pts), 3))) == 0)


def test_labels_low_oscillating_and_impingement():
    pts = plane()
    sac = pts[:, 1] > 1.5  # upper half is the sac, the lower half the parent artery
    tawss = np.where(sac, 0.05, 1.0)  # parent mean 1 Pa
    osi = np.zeros(len(pts))
    hot = sac & (pts[:, 0] > 2.0)  # a hot spot where shear rises along +x above the parent mean
    tawss[hot] = 1.0 + pts[hot, 0]
    osc = sac & (pts[:, 0] < 1.0)
    osi[osc] = 0.3
    wss = np.tile([1.0, 0.0, 0.0], (len(pts), 1))
    labels = label_regions(pts, sac, tawss, osi, wss, parent_diameter=1.0)
    assert np.all(labels[~sac] == 0)
    assert np.all(labels[osc] == CATEGORIES.index("low_wss_high_osi"))
    inner = hot & (pts[:, 0] > 2.3)  # away from the jump at x = 2, where the fit mixes both sides
    assert np.all(labels[inner] == CATEGORIES.index("impingement"))
    fr = region_fractions(labels, sac)
    assert fr["low_wss_high_osi"] == pytest.approx(osc.sum() / sac.sum())
    # reversing the flow makes the same hot spot decelerating: no impingement
    flipped = label_regions(pts, sac, tawss, osi, -wss, parent_diameter=1.0)
    assert not np.any(flipped[inner] == 2)
    # a stricter OSI threshold removes the oscillating label
    assert not np.any(label_regions(pts, sac, tawss, osi, wss, 1.0, RegionConfig(osi_threshold=0.4)) == 1)


def test_iou():
    a = np.array([0, 1, 1, 2, 0])
    b = np.array([0, 1, 0, 2, 2])
    assert iou(a, b, 1) == pytest.approx(0.5)
    assert iou(a, b, 2) == pytest.approx(0.5)
    assert iou(np.zeros(3), np.zeros(3), 1) is None


def test_region_network_sees_the_rules_label_one_hot():
    """The learned region model's optional input: the rule's label on the given fields, one column per category
    (the same labels label_regions gives), appended to the 7 features older region models were trained on."""
    from surrogate.region_net import N_FEATS, N_RULE, point_features

    pts = plane()
    sac = pts[:, 1] > 1.5
    tawss = np.where(sac, 0.05, 1.0)
    tawss[sac & (pts[:, 0] > 2.0)] = 1.0 + pts[sac & (pts[:, 0] > 2.0), 0]
    osi = np.where(sac & (pts[:, 0] < 1.0), 0.3, 0.0)
    fields = {"tawss": tawss, "osi": osi, "wss_mean": np.tile([1.0, 0.0, 0.0], (len(pts), 1))}
    normals = np.tile([0.0, 0.0, 1.0], (len(pts), 1))
    plain = point_features(pts, normals, sac, fields, 1.0, RegionConfig())
    with_rule = point_features(pts, normals, sac, fields, 1.0, RegionConfig(), rule_inputs=True)
    assert plain.shape == (len(pts), N_FEATS) and with_rule.shape == (len(pts), N_FEATS + N_RULE)
    np.testing.assert_array_equal(with_rule[:, :N_FEATS], plain)
    labels = label_regions(pts, sac, tawss, osi, fields["wss_mean"], 1.0)
    for k in range(1, len(CATEGORIES)):
        np.testing.assert_array_equal(with_rule[:, N_FEATS + k - 1], labels == k)
    assert with_rule[:, N_FEATS:].sum() == np.count_nonzero(labels)  # both labels present, one column each
    assert np.count_nonzero(labels == 1) and np.count_nonzero(labels == 2)


def test_decision_offsets_undo_a_network_that_marks_too_much():
    """fit_offsets on hand-made scores: a network that marks impingement on twice the labelled area (IoU 0.5) gets
    the smallest offset that removes the excess (IoU 1); a category it already gets right keeps offset 0; runs without
    a sac leave every offset at 0."""
    from types import SimpleNamespace

    from surrogate.region_net import fit_offsets

    n = 100
    truth = np.zeros(n, dtype=np.int64)
    truth[:10], truth[50:55] = 2, 1
    logits = np.full((n, len(CATEGORIES)), -5.0)
    logits[:, 0] = 0.0
    logits[:10, 2], logits[10:20, 2] = 2.0, 0.7  # the excess scores 0.7 over "none"
    logits[50:55, 1] = 1.0

    class Scores:
        offsets = (0.0,) * len(CATEGORIES)

        def scores(self, points, normals, sac, fields, parent_diameter):
            return logits

    def example(sac):
        cloud = SimpleNamespace(points=np.zeros((n, 3)), normals=np.zeros((n, 3)), sac=sac)
        return SimpleNamespace(cloud=cloud, fields={}, parent_diameter=1.0, truth=truth * sac)

    assert iou(logits.argmax(-1), truth, 2) == 0.5
    offsets = fit_offsets(Scores(), [example(np.ones(n, dtype=bool))])
    assert offsets == (0.0, 0.0, -0.75)  # the grid's first step below -0.7
    labels = (logits + np.asarray(offsets)).argmax(-1)
    assert iou(labels, truth, 2) == 1.0 and iou(labels, truth, 1) == 1.0
    assert fit_offsets(Scores(), [example(np.zeros(n, dtype=bool))]) == (0.0, 0.0, 0.0)


def test_region_model_command_names_a_missing_file_in_one_line(tmp_path, capsys):
    from surrogate.region_net import main

    argv = ["--manifest", str(tmp_path / "manifest.json"), "--model", str(tmp_path / "none.pt"), "-o", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.pt" in err and "Traceback" not in err
