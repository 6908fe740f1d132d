"""Job metadata in a real PostgreSQL server, started by this test (initdb + pg_ctl in a temporary folder, as the
unprivileged `postgres` user when we are root); skipped only when the PostgreSQL binaries are missing."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from surrogate.assess import AssessConfig
from surrogate.service.app import create_app
from surrogate.service.config import ServiceConfig
from surrogate.service.db import JobDB, jobs
from surrogate.service.lifecycle import add_user, new_job_id
from tests.service_support import SAMPLE, SMALL_ASSESS, bearer, free_port, wait_job


def _binary(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are missing: apt-get install postgresql")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="iahemo-pg-"))
    if os.geteuid() == 0:  # postgres refuses to run as root
        try:
            pg = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        os.chown(folder, pg.pw_uid, pg.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()

    def run(*cmd):
        return subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)

    r = run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
    assert r.returncode == 0, r.stderr
    opts = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    r = run(pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-o", opts, "-w", "-t", "60", "start")
    assert r.returncode == 0, r.stderr + (folder / "server.log").read_text()
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_job_database_on_postgresql(postgres_url):
    db = JobDB(postgres_url)
    assert db.engine.dialect.name == "postgresql"
    a = db.user_by_token(db.add_user("pg-alice"))
    b = db.user_by_token(db.add_user("pg-bob", admin=True))
    assert a.name == "pg-alice" and not a.admin and b.admin
    ids = [new_job_id() for _ in range(3)]
    for job_id, user in zip(ids, (a, a, b)):
        db.create_job(job_id, user, input_kind="surface", input_key=f"jobs/{job_id}/input/input.vtp",
                      case={"patient": {"age": 61}}, progress=0.0, stage="queued", attempts=1, bytes_in=10,
                      bytes_out=0)
    assert {j["id"] for j in db.jobs_of(a)} == set(ids[:2])
    assert db.job(ids[2], a) is None and db.job(ids[2], b)["id"] == ids[2]
    assert db.update_job(ids[0], status="done", progress=1.0, grade="low")
    assert not db.update_job(ids[0], only_if_active=True, status="running")  # a finished job is never reopened
    assert db.job(ids[0])["status"] == "done" and db.job(ids[0])["created"].endswith("Z")
    assert db.status_counts() == {"done": 1, "queued": 2}
    assert {r.id for r in db.active_rows()} == set(ids[1:])
    assert db.job_row(ids[1]).case == {"patient": {"age": 61}}
    db.log("pg-alice", "job.create", "queued (surface)", job=ids[0], client="127.0.0.1")
    assert db.audit_tail(1)[0]["outcome"] == "queued (surface)"
    db.close()


def test_service_runs_a_job_with_postgresql(postgres_url, tmp_path):
    cfg = ServiceConfig(data=str(tmp_path), db_url=postgres_url, workers=1, assess=AssessConfig(**SMALL_ASSESS))
    token, other = add_user(cfg, "pg-carol"), add_user(cfg, "pg-dave")
    with TestClient(create_app(cfg)) as client:
        with SAMPLE.open("rb") as fh:
            r = client.post("/api/jobs", headers=bearer(token), files={"file": ("s.vtp", fh)})
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"], token)
        assert client.get(f"/api/jobs/{job['id']}", headers=bearer(other)).status_code == 404
    assert job["status"] == "done" and job["grade"] in ("low", "intermediate", "high"), job
    assert not (tmp_path / "service.db").exists()  # the metadata went to PostgreSQL, not to SQLite
    engine = sa.create_engine(postgres_url)
    with engine.connect() as c:
        row = c.execute(sa.select(jobs).where(jobs.c.id == job["id"])).one()
    engine.dispose()
    assert row.status == "done" and row.grade == job["grade"] and row.bytes_out > 0 and row.finished is not None
