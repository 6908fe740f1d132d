"""`iahemo assess-batch` on an external dask scheduler (`dask scheduler` + `dask worker` processes started here):
the many-machines path of the compute module; the service's tests cover its embedded LocalCluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.service_support import REPO, free_port

DASK = str(Path(sys.executable).with_name("dask"))


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the group this test created for the process, nothing else
        proc.wait(30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_assess_batch_on_an_external_scheduler(tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _start([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                       tmp_path / "scheduler.log")
    worker = _start([DASK, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
                     "--memory-limit", "6GiB"], tmp_path / "worker.log")
    out = tmp_path / "batch"
    bare = tmp_path / "bare_surface.vtp"
    bare.write_bytes((REPO / "cases" / "syn1_000" / "surface.vtp").read_bytes())
    try:
        cmd = [sys.executable, "-m", "iahemo.cli", "assess-batch", "cases/syn1_000", "cases/syn1_001/case.yaml",
               str(bare), "--scheduler", address, "--bc-samples", "2", "--points", "2048", "-o", str(out)]
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    finally:
        _stop(worker)
        _stop(scheduler)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:] + (tmp_path / "worker.log").read_text()[-2000:]
    assert "3 done, 0 failed" in r.stdout
    assert "syn1_001: surrogate" in r.stdout  # progress came back from the remote workers
    summary = json.loads((out / "batch.json").read_text())
    assert summary["workers"] == address
    assert [c["id"] for c in summary["cases"]] == ["syn1_000", "syn1_001", "bare_surface"]
    for case in summary["cases"]:
        a = json.loads((out / case["id"] / "assessment.json").read_text())
        assert case["status"] == "done" and a["grade"] == case["grade"] and (out / case["id"] / "report.pdf").is_file()
    syn0 = json.loads((out / "syn1_000" / "assessment.json").read_text())
    bare_a = json.loads((out / "bare_surface" / "assessment.json").read_text())
    assert syn0["patient"]["age"] == 79 and bare_a["patient"]["age"] is None  # the case file's fields were used
    assert json.loads((out / "syn1_001" / "assessment.json").read_text())["morphology"]["kind"] == "bifurcation"
    assert not list(out.glob("*.partial"))


def test_assess_batch_refuses_duplicate_ids(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "iahemo.cli", "assess-batch", "cases/syn1_000", "cases/syn1_000",
                          "-o", str(tmp_path / "x")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "occur more than once: syn1_000" in bad.stderr
    assert not (tmp_path / "x").exists()
