"""Job and user metadata in SQL (SQLAlchemy Core): SQLite in the data folder by default, PostgreSQL by URL.

Also the audit log: who did what and when, with job ids and outcomes only, never a file name or a patient
field, so it can be kept and shown to an administrator without exposing patients.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from cfdgen.errors import ConfigError, IahemoError
from surrogate.service.security import check_user_name, hash_token, new_token

ACTIVE = ("queued", "running")
FINAL = ("done", "failed")

metadata = sa.MetaData()
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("admin", sa.Boolean, nullable=False, default=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("stage", sa.String(200), nullable=False, default=""),
    sa.Column("input_kind", sa.String(16), nullable=False),  # surface | nifti | dicom
    sa.Column("input_key", sa.String(200), nullable=False),
    sa.Column("pseudonym", sa.String(32), nullable=True),
    sa.Column("case", sa.JSON, nullable=True),  # the measurements form as case.yaml fields
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("bytes_in", sa.BigInteger, nullable=False, default=0),
    sa.Column("bytes_out", sa.BigInteger, nullable=False, default=0),
    sa.Column("grade", sa.String(16), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
)
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user", sa.String(64), nullable=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("job", sa.String(32), nullable=True),
    sa.Column("outcome", sa.String(200), nullable=False),
    sa.Column("client", sa.String(64), nullable=True),
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(value) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes of what was stored as UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class User:
    id: int
    name: str
    admin: bool


class UserExists(IahemoError):
    pass


class JobDB:
    def __init__(self, url: str):
        kwargs: dict[str, Any] = {"future": True, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            # request threads, the dask callback thread and `iahemo user add` share one file
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        try:
            self.engine = sa.create_engine(url, **kwargs)
            if url.startswith("sqlite"):
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            metadata.create_all(self.engine)
        except (sa.exc.ArgumentError, sa.exc.OperationalError, ModuleNotFoundError) as exc:
            raise ConfigError(f"job database {_redact(url)}: {str(exc).splitlines()[0]}") from None

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------------------------------------- users
    def add_user(self, name: str, admin: bool = False) -> str:
        """Create a user; returns the token, which is shown once and stored only as its hash."""
        check_user_name(name)
        token = new_token()
        try:
            with self.engine.begin() as c:
                c.execute(users.insert().values(name=name, token_hash=hash_token(token), admin=admin, created=now()))
        except sa.exc.IntegrityError:
            raise UserExists(f"user {name!r} exists already") from None
        return token

    def user_by_token(self, token: str) -> User | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(users).where(users.c.token_hash == hash_token(token))).first()
        return None if row is None else User(row.id, row.name, bool(row.admin))

    def user_names(self) -> dict[int, str]:
        with self.engine.connect() as c:
            return {r.id: r.name for r in c.execute(sa.select(users.c.id, users.c.name))}

    # ---------------------------------------------------------------------------------------------- jobs
    def create_job(self, job_id: str, user: User, **values) -> None:
        with self.engine.begin() as c:
            c.execute(jobs.insert().values(id=job_id, user_id=user.id, status="queued", created=now(), **values))

    def update_job(self, job_id: str, only_if_active: bool = False, **values) -> bool:
        """Returns whether a row changed; ``only_if_active`` never reopens a finished job (late progress)."""
        q = jobs.update().where(jobs.c.id == job_id)
        if only_if_active:
            q = q.where(jobs.c.status.in_(ACTIVE))
        with self.engine.begin() as c:
            return c.execute(q.values(**values)).rowcount > 0

    def job_row(self, job_id: str, user: User | None = None):
        q = sa.select(jobs).where(jobs.c.id == job_id)
        if user is not None:
            q = q.where(jobs.c.user_id == user.id)
        with self.engine.connect() as c:
            return c.execute(q).first()

    def job(self, job_id: str, user: User | None = None) -> dict | None:
        row = self.job_row(job_id, user)
        return None if row is None else job_view(row)

    def jobs_of(self, user: User) -> list[dict]:
        q = sa.select(jobs).where(jobs.c.user_id == user.id).order_by(jobs.c.created.desc(), jobs.c.id)
        with self.engine.connect() as c:
            return [job_view(r) for r in c.execute(q)]

    def active_rows(self) -> list:
        with self.engine.connect() as c:
            return list(c.execute(sa.select(jobs).where(jobs.c.status.in_(ACTIVE)).order_by(jobs.c.created)))

    def all_rows(self) -> list:
        with self.engine.connect() as c:
            return list(c.execute(sa.select(jobs).order_by(jobs.c.created)))

    def status_counts(self) -> dict[str, int]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status))
            return {status: n for status, n in rows}

    # ---------------------------------------------------------------------------------------------- audit
    def log(self, user: str | None, action: str, outcome: str, job: str | None = None, client: str | None = None):
        with self.engine.begin() as c:
            c.execute(audit.insert().values(time=now(), user=user, action=action, job=job, outcome=outcome[:200],
                                            client=client))

    def audit_tail(self, n: int = 200) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(audit).order_by(audit.c.id.desc()).limit(n))
            return [{**r._mapping, "time": _iso(r.time)} for r in rows]


def job_view(row) -> dict:
    """What a client may see of a job (no storage keys)."""
    return {
        "id": row.id,
        "status": row.status,
        "progress": round(float(row.progress), 3),
        "stage": row.stage,
        "input_kind": row.input_kind,
        "pseudonym": row.pseudonym,
        "attempts": row.attempts,
        "grade": row.grade,
        "error": row.error,
        "bytes_in": row.bytes_in,
        "bytes_out": row.bytes_out,
        "created": _iso(row.created),
        "started": _iso(row.started),
        "finished": _iso(row.finished),
    }


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer (status polls during updates)
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparsable URL)"
