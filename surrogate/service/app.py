"""The HTTP API and the web terminal (FastAPI). OpenAPI at /openapi.json.

Public: ``GET /health``, the terminal page ``/`` and its static files (no data in them). Every ``/api`` route
needs ``Authorization: Bearer <token>``; a user sees only their own jobs (another user's job is a 404, the same
as a job that does not exist, so ids cannot be probed).
"""

import logging
import secrets
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from cfdgen import __version__
from surrogate.service.config import HERE, ServiceConfig
from surrogate.service.db import User
from surrogate.service.ingest import UploadError
from surrogate.service.jobs import WALL_FILE
from surrogate.service.lifecycle import Service, is_job_id
from surrogate.service.security import UnsafeName, safe_file_name

log = logging.getLogger(__name__)
STATIC = HERE / "static"
CHUNK = 1 << 20
MEDIA = {
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".vtp": "application/octet-stream",
}


class Guard:
    """ASGI middleware: refuses /api requests without a bearer token and uploads whose declared size is over
    the cap before their body is read, so neither can make the server spool a large body."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            headers = dict(scope.get("headers") or [])
            auth = headers.get(b"authorization", b"").decode("latin-1")
            if not auth.lower().startswith("bearer ") or not auth[7:].strip():
                detail = "missing bearer token (send 'Authorization: Bearer <token>')"
                return await _send(scope, receive, send, 401, detail)
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_bytes + (64 << 10):
                detail = f"upload too large: {int(length) / 2**20:.1f} MiB (limit {self.max_bytes / 2**20:g} MiB)"
                return await _send(scope, receive, send, 413, detail)
        return await self.app(scope, receive, send)


async def _send(scope, receive, send, status: int, detail: str):
    resp = JSONResponse({"detail": detail}, status_code=status, headers=_auth_header(status))
    await resp(scope, receive, send)


def _auth_header(status: int) -> dict:
    return {"WWW-Authenticate": "Bearer"} if status == 401 else {}


def create_app(cfg: ServiceConfig, service: Service | None = None) -> FastAPI:
    svc = service or Service(cfg)

    @asynccontextmanager
    async def lifespan(app):
        svc.start()
        try:
            yield
        finally:
            svc.close()

    app = FastAPI(
        title="iahemo service",
        version=__version__,
        description="Upload a lumen surface or an image with the measurements form; get the assessment back.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their scripts from a CDN; the spec stays at /openapi.json
        redoc_url=None,
    )
    app.state.service = svc
    app.add_middleware(GZipMiddleware, minimum_size=4096)
    app.add_middleware(Guard, max_bytes=cfg.max_upload_bytes)
    bearer = HTTPBearer(auto_error=False)

    def client_of(request: Request) -> str | None:
        return request.client.host if request.client else None

    def current_user(request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
        if cred is None:
            raise HTTPException(401, "missing bearer token", headers=_auth_header(401))
        user = svc.db.user_by_token(cred.credentials)
        if user is None:
            svc.db.log(None, "auth.denied", "unknown token", client=client_of(request))
            raise HTTPException(401, "invalid token", headers=_auth_header(401))
        return user

    def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.admin:
            raise HTTPException(403, "administrators only")
        return user

    Authed = Annotated[User, Depends(current_user)]
    Admin = Annotated[User, Depends(admin_user)]

    def own_job(job_id: str, user: User) -> dict:
        job = svc.db.job(job_id, user) if is_job_id(job_id) else None
        if job is None:
            raise HTTPException(404, f"no job {job_id[:40]!r}")
        return job

    @app.get("/health", tags=["public"])
    def health() -> dict:
        return {"status": "ok", "version": __version__}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    three = Path(cfg.vendor_dir) / "three"
    if three.is_dir():
        app.mount("/vendor/three", StaticFiles(directory=three), name="three")
    else:
        log.warning("three.js not found in %s: the 3D view is unavailable (run tools/ensure_service_deps.sh)", three)

    @app.get("/api/me", tags=["account"])
    def me(user: Authed) -> dict:
        return {"name": user.name, "admin": user.admin}

    @app.post("/api/jobs", status_code=201, tags=["jobs"])
    def create_job(
        request: Request,
        file: Annotated[UploadFile, File(description="surface (STL, VTP, VTK, VTU, OBJ, PLY), NIfTI, or a zip of "
                                                     "a DICOM series")],
        user: Authed,
        case: Annotated[str | None, Form(description="JSON: any of patient, measurements, hints, units")] = None,
    ) -> dict:
        """Upload one input and its measurements form; the job is queued at once."""
        svc.tmp_dir.mkdir(exist_ok=True)
        part = svc.tmp_dir / f"up-{secrets.token_hex(8)}.part"
        try:
            size = 0
            with part.open("wb") as out:
                while chunk := file.file.read(CHUNK):
                    size += len(chunk)
                    if size > cfg.max_upload_bytes:
                        raise HTTPException(413, f"upload too large (limit {cfg.max_upload_mb:g} MiB)")
                    out.write(chunk)
            if size == 0:
                raise HTTPException(422, "empty upload")
            job = svc.create_job(user, part, file.filename or "", case)
        except UnsafeName as exc:
            svc.db.log(user.name, "job.create", "refused: unsafe file name", client=client_of(request))
            raise HTTPException(400, str(exc)) from None
        except UploadError as exc:
            svc.db.log(user.name, "job.create", "refused: invalid upload", client=client_of(request))
            raise HTTPException(422, str(exc)) from None
        except HTTPException as exc:
            svc.db.log(user.name, "job.create", f"refused: HTTP {exc.status_code}", client=client_of(request))
            raise
        finally:
            part.unlink(missing_ok=True)
        svc.db.log(user.name, "job.create", f"queued ({job['input_kind']})", job=job["id"], client=client_of(request))
        return job

    @app.get("/api/jobs", tags=["jobs"])
    def list_jobs(user: Authed) -> list[dict]:
        return svc.db.jobs_of(user)

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    def get_job(job_id: str, user: Authed) -> dict:
        job = own_job(job_id, user)
        job["files"] = svc.result_files(job_id) if job["status"] == "done" else []
        return job

    @app.get("/api/jobs/{job_id}/files/{name}", tags=["results"])
    def get_file(job_id: str, name: str, request: Request, user: Authed) -> Response:
        """assessment.json, result.vtp, report.html, report.pdf, the PNG maps, wall.json."""
        job = own_job(job_id, user)
        try:
            name = safe_file_name(name)
        except UnsafeName as exc:
            raise HTTPException(400, str(exc)) from None
        if job["status"] != "done" or name not in svc.result_files(job_id):
            raise HTTPException(404, f"job {job_id} has no result file {name!r}" + _why(job))
        svc.db.log(user.name, "result.read", name, job=job_id, client=client_of(request))
        return _file_response(svc, svc.result_key(job_id, name), name)

    @app.get("/api/jobs/{job_id}/wall", tags=["results"])
    def get_wall(job_id: str, user: Authed) -> Response:
        """The wall for the 3D view: points (mm, flat x y z), triangles (flat), TAWSS/OSI/RISK_REGION per point."""
        job = own_job(job_id, user)
        if job["status"] != "done" or WALL_FILE not in svc.result_files(job_id):
            raise HTTPException(404, f"job {job_id} has no wall yet" + _why(job))
        return _file_response(svc, svc.result_key(job_id, WALL_FILE), WALL_FILE)

    @app.get("/api/admin/status", tags=["admin"])
    def admin_status(user: Admin) -> dict:
        """dask workers (threads, memory, tasks), jobs by status, storage per user and per job."""
        return svc.admin_status()

    @app.get("/api/admin/audit", tags=["admin"])
    def admin_audit(user: Admin, n: int = 200) -> list[dict]:
        return svc.db.audit_tail(max(1, min(n, 5000)))

    return app


def _why(job: dict) -> str:
    if job["status"] == "failed":
        return f" (the job failed: {job['error']})"
    if job["status"] != "done":
        return f" (the job is {job['status']})"
    return ""


def _file_response(svc: Service, key: str, name: str) -> Response:
    media = MEDIA.get(Path(name).suffix, "application/octet-stream")
    local = svc.store.local_path(key)
    if local is not None:
        return FileResponse(local, media_type=media)

    def chunks():
        with svc.store.open(key) as fh:
            while data := fh.read(CHUNK):
                yield data

    return StreamingResponse(chunks(), media_type=media)


def serve(cfg: ServiceConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
