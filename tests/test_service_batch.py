"""`iahemo assess-batch`: several cases through the service's compute module (a dask LocalCluster)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.service_support import REPO


def test_assess_batch_cli(tmp_path):
    out = tmp_path / "batch"
    bare = tmp_path / "bare_surface.vtp"
    bare.write_bytes((REPO / "cases" / "syn1_000" / "surface.vtp").read_bytes())
    cmd = [sys.executable, "-m", "iahemo.cli", "assess-batch", "cases/syn1_000", "cases/syn1_001/case.yaml",
           str(bare), "--workers", "2", "--bc-samples", "2", "--points", "2048", "-o", str(out)]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "3 done, 0 failed" in r.stdout
    summary = json.loads((out / "batch.json").read_text())
    assert [c["id"] for c in summary["cases"]] == ["syn1_000", "syn1_001", "bare_surface"]
    for case in summary["cases"]:
        a = json.loads((out / case["id"] / "assessment.json").read_text())
        assert case["status"] == "done" and a["grade"] == case["grade"] and (out / case["id"] / "report.pdf").is_file()
    syn0 = json.loads((out / "syn1_000" / "assessment.json").read_text())
    bare_a = json.loads((out / "bare_surface" / "assessment.json").read_text())
    assert syn0["patient"]["age"] == 79 and bare_a["patient"]["age"] is None  # the case file's fields were used
    assert json.loads((out / "syn1_001" / "assessment.json").read_text())["morphology"]["kind"] == "bifurcation"
    assert not list(out.glob("*.partial"))

    bad = subprocess.run([sys.executable, "-m", "iahemo.cli", "assess-batch", "cases/syn1_000", "cases/syn1_000",
                          "-o", str(tmp_path / "x")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "occur more than once: syn1_000" in bad.stderr
