"""The job lifecycle: intake of an upload, submission to the compute module, progress and outcome recorded in
the job database, recovery of jobs a previous server process left unfinished, and storage accounting."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import tempfile
from pathlib import Path

from surrogate.service.compute import Compute, ComputeConfig
from surrogate.service.config import ServiceConfig
from surrogate.service.db import ACTIVE, JobDB, User, now
from surrogate.service.ingest import check_case, ingest, kind_of, parse_form
from surrogate.service.jobs import AssessJob
from surrogate.service.security import server_secret
from surrogate.service.store import Store

log = logging.getLogger(__name__)
JOB_ID_HEX = 16


def new_job_id() -> str:
    return "j" + secrets.token_hex(JOB_ID_HEX // 2)


def is_job_id(text: str) -> bool:
    return len(text) == JOB_ID_HEX + 1 and text[0] == "j" and all(c in "0123456789abcdef" for c in text[1:])


def add_user(cfg: ServiceConfig, name: str, admin: bool = False) -> str:
    """Create a user in the service's database; returns the token (only its hash is stored)."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    db = JobDB(cfg.database)
    try:
        return db.add_user(name, admin)
    finally:
        db.close()


class Service:
    def __init__(self, cfg: ServiceConfig):
        self.cfg = cfg
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = cfg.data_dir / "tmp"
        self.tmp_dir.mkdir(exist_ok=True)
        self.secret = server_secret(cfg.data_dir)
        self.db = JobDB(cfg.database)
        self.store = Store(cfg.store)
        self.compute: Compute | None = None
        self.recovered: dict[str, str] = {}  # job id -> what recovery did (for the log and tests)

    # ------------------------------------------------------------------------------------------- start/stop
    def start(self) -> None:
        self.compute = Compute(ComputeConfig(self.cfg.scheduler, self.cfg.workers, self.cfg.worker_memory))
        self.compute.on_progress(self._progress)
        self.recover()

    def close(self) -> None:
        if self.compute is not None:
            self.compute.close()
            self.compute = None
        self.db.close()

    # ------------------------------------------------------------------------------------------- jobs
    def create_job(self, user: User, upload: Path, client_name: str, form_text: str | None) -> dict:
        """Validate an upload (name, content, form), store it and submit the job. Raises UnsafeName or
        UploadError with the message for the client; nothing is stored or recorded then."""
        kind, suffix = kind_of(client_name)
        form = parse_form(form_text)
        job_id = new_job_id()
        with tempfile.TemporaryDirectory(prefix="upload-", dir=self.tmp_dir) as tmp:
            tmp = Path(tmp)
            staged = tmp / f"input{suffix}"
            shutil.move(upload, staged)
            check_case(tmp, job_id, form, kind, staged.name)  # the form first: cheap, and names bad units
            work = tmp / "work"
            work.mkdir()
            ing = ingest(staged, client_name, work, form, self.secret, int(self.cfg.max_unzipped_mb * 2**20))
            input_key = self.store.job_key(job_id, "input", ing.stored_name)
            self.store.put_file(ing.file, input_key)
            size = ing.file.stat().st_size
        self.db.create_job(
            job_id,
            user,
            input_kind=ing.kind,
            input_key=input_key,
            pseudonym=ing.pseudonym,
            case=form,
            bytes_in=size,
            stage="queued",
            progress=0.0,
            attempts=0,
            bytes_out=0,
        )
        self._submit(job_id)
        return self.db.job(job_id)

    def _submit(self, job_id: str) -> None:
        row = self.db.job_row(job_id)
        attempt = int(row.attempts) + 1
        self.db.update_job(job_id, attempts=attempt, status="queued", progress=0.0)
        job = AssessJob(
            job_id=job_id,
            input_url=self.store.url(row.input_key),
            kind=row.input_kind,
            result_url=self.store.url(self.store.job_key(job_id, "result")),
            case=dict(row.case or {}),
            case_id=row.pseudonym or job_id,
            config=self.cfg.assess,
        )
        self.compute.submit(job, self._finished, attempt)

    def _progress(self, msg: dict) -> None:
        job_id = str(msg.get("job", ""))
        stage = str(msg.get("stage", ""))[:200]
        values = {"status": "running", "stage": stage}
        if msg.get("progress") is not None:
            values["progress"] = float(msg["progress"])
        if stage == "started":
            values["started"] = now()
        self.db.update_job(job_id, only_if_active=True, **values)

    def _finished(self, job_id: str, outcome: dict) -> None:
        row = self.db.job_row(job_id)
        if row is None or row.status not in ACTIVE:
            return
        if outcome.get("status") == "done":
            self.db.update_job(
                job_id,
                status="done",
                progress=1.0,
                stage="done",
                grade=outcome.get("grade"),
                bytes_out=int(outcome.get("bytes") or 0),
                finished=now(),
                error=None,
                pseudonym=row.pseudonym or outcome.get("pseudonym"),
            )
            result = f"done, grade {outcome.get('grade') or 'not computed'}"
        else:
            reason = str(outcome.get("reason") or "unknown failure")
            self.db.update_job(job_id, status="failed", stage="failed", error=reason, finished=now())
            result = "failed"
        self.db.log(self.db.user_names().get(row.user_id), "job.finish", result, job=job_id)

    def recover(self) -> None:
        """Jobs a previous process left queued or running: finished ones (result present) are recorded, the rest
        resubmitted from their stored input, or failed with the reason once they were interrupted too often."""
        for row in self.db.active_rows():
            result_key = self.store.job_key(row.id, "result")
            if self.store.isfile(f"{result_key}/assessment.json"):
                with self.store.open(f"{result_key}/assessment.json") as fh:
                    grade = json.load(fh).get("grade")
                self.db.update_job(row.id, status="done", progress=1.0, stage="done (recorded after a server restart)",
                                   grade=grade, bytes_out=self.store.usage(result_key), finished=now())
                action = "recorded"
            elif not self.store.isfile(row.input_key):
                self._fail(row.id, "the job's input is missing from the store after a server restart")
                action = "failed"
            elif row.attempts >= self.cfg.max_attempts:
                self._fail(row.id, f"interrupted by server restarts {row.attempts} times; not retried again")
                action = "failed"
            else:
                self.db.update_job(row.id, stage="resubmitted after a server restart", progress=0.0)
                self._submit(row.id)
                action = "resubmitted"
            self.recovered[row.id] = action
            self.db.log(None, "job.recover", action, job=row.id)
            log.info("job %s: %s after restart", row.id, action)

    def _fail(self, job_id: str, reason: str) -> None:
        self.db.update_job(job_id, status="failed", stage="failed", error=reason, finished=now())

    # ------------------------------------------------------------------------------------------- results
    def result_key(self, job_id: str, name: str = "") -> str:
        return self.store.job_key(job_id, "result", *([name] if name else []))

    def result_files(self, job_id: str) -> list[str]:
        return self.store.list_files(self.result_key(job_id))

    # ------------------------------------------------------------------------------------------- monitoring
    def usage(self) -> dict:
        """Bytes in the store per job and per user, measured in the store (not taken from the database)."""
        names = self.db.user_names()
        per_user: dict[str, dict] = {}
        per_job = []
        for row in self.db.all_rows():
            size = self.store.usage(self.store.job_key(row.id))
            user = names.get(row.user_id, str(row.user_id))
            per_job.append({"job": row.id, "user": user, "status": row.status, "bytes": size})
            u = per_user.setdefault(user, {"jobs": 0, "bytes": 0})
            u["jobs"] += 1
            u["bytes"] += size
        return {"total_bytes": self.store.usage(""), "users": per_user, "jobs": per_job}

    def admin_status(self) -> dict:
        return {
            "compute": self.compute.status() if self.compute else None,
            "jobs": self.db.status_counts(),
            "storage": {"store": "local" if self.store.local else str(self.store.fs.protocol), **self.usage()},
        }
