"""Sac isolation on the synthetic cohort: vmtk centerlines + tube deviation against the exact truth.

The session cohort (6 cases, every kind × shape) is checked here; benchmarks/morph_accuracy.py runs the
same comparison on 50 cases and writes the table quoted in the README.
"""

import numpy as np
import pytest
import pyvista as pv

from cfdgen import registry
from cfdgen.errors import GeometryError
from cfdgen.morphology import sac_shape, vessel_terms
from cfdgen.openings import find_openings
from cfdgen.sac_detect import detect_sac, vessel_context
from cfdgen.vmtk_centerlines import compute_centerlines
from tests.test_centerlines import swept_tube

RELATIVE = ("size", "height", "width", "neck_diameter", "aspect_ratio", "size_ratio")


def measure(surface):
    paths = compute_centerlines(surface, find_openings(surface)).paths
    det = detect_sac(surface, paths)
    shape = sac_shape(det.sac)
    kind, ctx = vessel_context(paths, shape["_neck"].centroid, det.sac.neck_segments, None)
    return det, kind, {**shape, **vessel_terms(shape, ctx)}


@pytest.fixture(scope="module")
def measured(cohort):
    out, rows = cohort
    return [(r, pv.read(out / r["id"] / "surface.vtp"), *measure(pv.read(out / r["id"] / "surface.vtp"))) for r in rows]


def test_sidewall_morphology_matches_truth(measured):
    errors = {k: [] for k in RELATIVE}
    for r, surface, det, kind, m in measured:
        if r["kind"] != "sidewall":
            continue
        assert kind == "sidewall"
        for k in RELATIVE:
            errors[k].append(abs(m[k] - r[k]) / r[k])
        for k in ("nsi", "ei", "ui"):
            assert m[k] == pytest.approx(r[k], abs=0.03), k
        assert m["inflow_angle"] == pytest.approx(r["inflow_angle"], abs=5.0)
        truth_mask = np.asarray(surface.point_data[registry.FIELDS["sac"].key]).astype(bool)
        found = det.point_mask.astype(bool)
        assert (found & truth_mask).sum() / max(found.sum(), 1) > 0.95  # what we call sac is sac
        assert (found & truth_mask).sum() / truth_mask.sum() > 0.85  # and most of the sac is found
    print({k: f"{np.median(v):.3%}" for k, v in errors.items()})
    for k, v in errors.items():
        assert np.median(v) <= 0.05, k


def test_cohort_medians_sidewall_and_bifurcation(measured):
    rel = {k: [] for k in RELATIVE}
    ab = {k: [] for k in ("nsi", "ei", "ui", "inflow_angle")}
    for r, _, _, kind, m in measured:
        assert kind == r["kind"]
        for k in rel:
            rel[k].append(abs(m[k] - r[k]) / r[k])
        for k in ab:
            ab[k].append(abs(m[k] - r[k]))
    print({k: f"{np.median(v):.3f}" for k, v in {**rel, **ab}.items()})
    for k, v in rel.items():
        assert np.median(v) <= 0.05, k
    for k in ("nsi", "ei", "ui"):
        assert np.median(ab[k]) <= 0.03, k
    assert np.median(ab["inflow_angle"]) <= 5.0


def test_a_plain_tube_has_no_aneurysm():
    z = np.linspace(-15.0, 15.0, 151)
    centers = np.column_stack([np.zeros_like(z), np.zeros_like(z), z])
    surface = swept_tube(centers, np.tile([0.0, 0.0, 1.0], (len(z), 1)), 2.0, 64)
    paths = compute_centerlines(surface, find_openings(surface)).paths
    with pytest.raises(GeometryError, match="no aneurysm found"):
        detect_sac(surface, paths)
