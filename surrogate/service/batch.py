"""``iahemo assess-batch``: many cases through the service's compute module (a LocalCluster here, or an
external dask scheduler), each result written atomically to OUT/<case id>/ and a summary to OUT/batch.json."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from cfdgen.atomic import write_json
from cfdgen.case import load_case
from cfdgen.errors import ConfigError
from cfdgen.intake import SUFFIXES as SURFACE_SUFFIXES
from surrogate.assess import AssessConfig
from surrogate.service.compute import Compute, ComputeConfig
from surrogate.service.jobs import AssessJob


@dataclass(frozen=True)
class BatchItem:
    case_id: str
    source: Path
    kind: str  # surface | image
    case: dict


def batch_item(path: str | Path) -> BatchItem:
    """A case folder or case.yaml (its surface, else its image), or a bare surface/image file."""
    path = Path(path)
    if (path.is_dir() and (path / "case.yaml").is_file()) or path.suffix in (".yaml", ".yml"):
        case = load_case(path)
        data = yaml.safe_load(case.path.read_text())
        form = {k: data[k] for k in ("patient", "measurements", "hints") if data.get(k)}
        form["units"] = case.units
        source = case.surface or case.image
        if source is None:
            raise ConfigError(f"{case.path}: input has neither a surface nor an image")
        return BatchItem(case.id, source, "surface" if case.surface else "image", form)
    if not path.exists():
        raise ConfigError(f"{path}: not found")
    kind = "surface" if path.suffix.lower() in SURFACE_SUFFIXES else "image"
    name = path.name.split(".")[0] if path.is_file() else path.name
    return BatchItem(re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "case", path.resolve(), kind, {})


def run_batch(
    sources: list[str], out_dir: str | Path, compute: ComputeConfig, assess: AssessConfig, progress=print
) -> dict:
    items = [batch_item(s) for s in sources]
    ids = [i.case_id for i in items]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"case ids occur more than once: {', '.join(dupes)} (each gets OUT/<id>/)")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, dict] = {}
    finished = threading.Event()
    lock = threading.Lock()
    t0 = time.perf_counter()

    def done(job_id: str, outcome: dict) -> None:
        with lock:
            outcomes[job_id] = outcome
            if len(outcomes) == len(items):
                finished.set()
        reason = (outcome.get("grade") or "no grade") if outcome["status"] == "done" else outcome.get("reason")
        progress(f"{job_id}: {outcome['status']} ({reason}) [{len(outcomes)}/{len(items)}]")

    engine = Compute(compute)
    try:
        mine = set(ids)  # a shared scheduler also carries other clients' progress events

        def said(msg: dict) -> None:
            if msg.get("job") in mine:
                progress(f"{msg['job']}: {msg.get('stage')}")

        engine.on_progress(said)
        for item in items:
            job = AssessJob(
                job_id=item.case_id,
                input_url=str(item.source),
                kind=item.kind,
                result_url=str(out / item.case_id),
                case=item.case,
                case_id=item.case_id,
                config=assess,
            )
            engine.submit(job, done)
        finished.wait()
    finally:
        engine.close()
    summary = {
        "cases": [{"id": i.case_id, "source": str(i.source), **outcomes[i.case_id]} for i in items],
        "done": sum(o["status"] == "done" for o in outcomes.values()),
        "failed": sum(o["status"] != "done" for o in outcomes.values()),
        "wall_time_s": round(time.perf_counter() - t0, 1),
        "workers": compute.scheduler or compute.workers,
    }
    write_json(out / "batch.json", summary)
    return summary
