"""One assessment job as it runs on a dask worker: fetch the input from the store, run ``assess`` with its
progress sent back to the service, add the browser's wall file, and upload the result folder atomically.

Nothing here touches the job database: the worker may be on another machine; progress travels as dask
events and the outcome as the task's return value.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cfdgen.case import load_case
from cfdgen.errors import IahemoError
from surrogate.assess import AssessConfig, assess
from surrogate.service.ingest import write_case
from surrogate.service.store import get_tree, put_tree

PROGRESS_TOPIC = "iahemo-progress"
# Fraction of the job done when ``assess`` announces each stage (its progress messages start with these words).
STAGES = (
    ("started", 0.02),
    ("segmentation", 0.05),
    ("reconstruction", 0.2),
    ("geometry", 0.3),
    ("surrogate", 0.6),
    ("risk", 0.8),
    ("outputs", 0.88),
    ("storing", 0.95),
)
WALL_FIELDS = ("TAWSS", "OSI", "RISK_REGION")
WALL_FILE = "wall.json"


@dataclass(frozen=True)
class AssessJob:
    job_id: str
    input_url: str  # a file (surface, NIfTI, zip of DICOM slices) or an image folder, in the store or on disk
    kind: str  # surface | nifti | dicom | image
    result_url: str  # the result folder to create
    case: dict = field(default_factory=dict)  # case.yaml fields: patient, measurements, hints, units
    case_id: str | None = None  # what the report's pseudonym is made from (default: the job id)
    config: AssessConfig = field(default_factory=AssessConfig)


def stage_fraction(message: str) -> float | None:
    word = message.split(":", 1)[0].split(" ", 1)[0].lower()
    return next((f for name, f in STAGES if word == name), None)


def _reporter(job_id: str):
    """Send progress to whoever submitted the job (the service's client subscribes to the topic)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        worker = None

    def say(message: str) -> None:
        if worker is not None:
            worker.log_event(PROGRESS_TOPIC, {"job": job_id, "stage": message, "progress": stage_fraction(message)})

    return say


def run_assess_job(job: AssessJob) -> dict:
    """The dask task. Expected failures (bad geometry, unreadable image) come back as a status with the reason;
    anything else raises and the service records it as an internal error."""
    say = _reporter(job.job_id)
    say("started")
    with tempfile.TemporaryDirectory(prefix=f"iahemo-{job.job_id}-") as tmp:
        tmp = Path(tmp)
        folder = tmp / "input"
        folder.mkdir()
        local = get_tree(job.input_url, folder)
        if job.kind == "dicom":
            local = _unzip(local, folder / "dicom")
        try:
            case = load_case(write_case(folder, job.case_id or job.job_id, job.case, job.kind, local.name))
            result = assess(local, case, tmp / "result", job.config, progress=say)
        except IahemoError as exc:
            return {"status": "failed", "reason": _scrub(str(exc), tmp)}
        write_wall(tmp / "result" / "result.vtp", tmp / "result" / WALL_FILE)
        say("storing results")
        size = sum(f.stat().st_size for f in (tmp / "result").rglob("*") if f.is_file())
        put_tree(tmp / "result", job.result_url)
    return {
        "status": "done",
        "grade": result["grade"],
        "pseudonym": result["pseudonym"],
        "bytes": size,
        "seconds": result["timing_s"].get("total"),
    }


def _scrub(text: str, tmp: Path) -> str:
    # the worker's temporary paths mean nothing to the user and only lengthen the message
    return text.replace(f"{tmp}/input/", "").replace(str(tmp), "(job)")


def _unzip(archive: Path, folder: Path) -> Path:
    """The de-identified series the service stored (flat, names it chose), extracted for ``read_image``."""
    folder.mkdir()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = Path(info.filename).name
            if name and not info.is_dir():
                (folder / name).write_bytes(zf.read(info))
    return folder


def wall_arrays(vtp: Path) -> dict:
    """Points (mm), triangles and the fields of the 3D view, as plain lists the browser reads directly."""
    import pyvista as pv

    wall = pv.read(vtp).triangulate()
    faces = np.asarray(wall.faces).reshape(-1, 4)[:, 1:]
    out = {
        "points": np.round(np.asarray(wall.points, dtype=np.float64), 3).ravel().tolist(),
        "triangles": faces.astype(np.int64).ravel().tolist(),
        "fields": {},
    }
    for name in WALL_FIELDS:
        if name in wall.point_data:
            v = np.asarray(wall.point_data[name], dtype=np.float64)
            finite = v[np.isfinite(v)]
            lo, hi = (np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)).tolist()
            out["fields"][name] = {
                "values": np.round(np.nan_to_num(v), 5).tolist(),
                "range": [round(lo, 5), round(hi, 5)],
            }
    if "risk_region_categories" in wall.field_data:
        out["risk_categories"] = [str(c) for c in wall.field_data["risk_region_categories"]]
    return out


def write_wall(vtp: Path, path: Path) -> None:
    path.write_text(json.dumps(wall_arrays(vtp), separators=(",", ":")))
