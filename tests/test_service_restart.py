"""Reliability: the server process dies (SIGKILL, with its dask workers) while jobs are running or queued; after
a restart on the same data folder every job is resumed and finishes — none is lost, none half-written."""

from __future__ import annotations

import time

import httpx

from tests.service_support import (
    SAMPLE,
    Server,
    add_user,
    bearer,
    live_processes_in_group,
    wait_job,
    write_config,
)


def test_jobs_survive_a_server_crash(tmp_path):
    config = write_config(tmp_path, workers=1, max_attempts=2)
    token = add_user(config, "dana")
    admin = add_user(config, "ops", admin=True)
    h = bearer(token)
    server = Server(config, tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            ids = []
            for k in range(2):  # one worker: the first runs, the second waits in the queue
                r = client.post("/api/jobs", headers=h, files={"file": (f"c{k}.vtp", SAMPLE.read_bytes())})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            running = wait_job(client, ids[0], token, timeout=180, until=("running", "done", "failed"))
            t0 = time.monotonic()
            while running["progress"] < 0.3 and time.monotonic() - t0 < 120:  # inside assess, not just started
                time.sleep(0.3)
                running = client.get(f"/api/jobs/{ids[0]}", headers=h).json()
            before = [client.get(f"/api/jobs/{i}", headers=h).json() for i in ids]
    finally:
        server.kill()
    assert [j["status"] for j in before] == ["running", "queued"], before
    assert live_processes_in_group(server.proc.pid) == []  # the server and its dask workers are really gone
    data = tmp_path / "data" / "store" / "jobs"
    assert not (data / ids[0] / "result").exists()  # nothing that looks finished

    server = Server(config, tmp_path / "server2.log").start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            jobs = [wait_job(client, i, token, timeout=300) for i in ids]
            audit = client.get("/api/admin/audit", headers=bearer(admin)).json()
    finally:
        server.stop()
    assert [j["status"] for j in jobs] == ["done", "done"], [j["error"] for j in jobs]
    assert [j["attempts"] for j in jobs] == [2, 2]
    assert all(j["grade"] in ("low", "intermediate", "high") for j in jobs)
    assert all((data / i / "result" / "assessment.json").is_file() for i in ids)
    assert not any(p.name.endswith(".partial") for p in data.rglob("*"))
    recovered = {a["job"]: a["outcome"] for a in audit if a["action"] == "job.recover"}
    assert recovered == {ids[0]: "resubmitted", ids[1]: "resubmitted"}
