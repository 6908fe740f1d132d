"""surrogate.pack_context on a copy of a committed sample: the context it adds is the one the committed dataset
carries, a second run adds nothing, and a case folder holding another vessel is refused with the distance."""

import shutil

import numpy as np

from cfdgen.dataset import write_manifest
from cfdgen.pointcloud import PointCloud, read_sample, write_sample
from surrogate.data import CONTEXT
from surrogate.pack_context import add_context
from tests.conftest import REPO

SAMPLE = REPO / "data" / "dataset_draft" / "samples" / "syn1_000" / "s0000.h5"


def packed_copy(root, case_id="syn1_000"):
    """A one-sample packed dataset whose sample lacks the wall context."""
    path = root / "samples" / case_id / "s0000.h5"
    s = read_sample(SAMPLE)
    c = s.cloud
    fields = {k: v for k, v in c.fields.items() if k != CONTEXT}
    write_sample(path, PointCloud(c.points, c.normals, c.sac, fields), s.inputs, s.provenance, compact=True)
    record = {"case_id": case_id, "bc_sample": "s0000", "mesh_level": "draft", "geometry_hash": "g0",
              "status": "converged", "sample": str(path)}  # fmt: skip
    write_manifest([record], root, fractions=(1.0, 0.0, 0.0), seed=0)
    return path


def test_adds_the_committed_context_once(tmp_path):
    path = packed_copy(tmp_path / "packed")
    out = add_context(tmp_path / "packed", [REPO / "cases"], tmp_path / "work", progress=False)
    assert out == {"added": 1, "had_it": 0, "refused": []}
    got = read_sample(path).cloud.fields[CONTEXT]
    committed = read_sample(SAMPLE).cloud.fields[CONTEXT]
    # the same case file prepared again: equal up to the float16 storage (measured: max 0.0019, median 2e-5)
    assert np.max(np.abs(got - committed)) < 0.01
    again = add_context(tmp_path / "packed", [REPO / "cases"], tmp_path / "work", progress=False)
    assert again == {"added": 0, "had_it": 1, "refused": []}


def test_refuses_another_vessel_and_a_missing_case(tmp_path):
    packed_copy(tmp_path / "packed")
    shutil.copytree(REPO / "cases" / "syn1_001", tmp_path / "cases" / "syn1_000")  # the bifurcation, misnamed
    out = add_context(tmp_path / "packed", [tmp_path / "cases"], tmp_path / "work", progress=False)
    assert out["added"] == 0 and len(out["refused"]) == 1
    assert "not the packed vessel" in out["refused"][0] and "point spacings away" in out["refused"][0]
    missing = add_context(tmp_path / "packed", [tmp_path / "nowhere"], tmp_path / "work", progress=False)
    assert missing["refused"] == [f"syn1_000: no case folder under {tmp_path / 'nowhere'}"]
