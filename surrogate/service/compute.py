"""Compute: jobs run on dask.distributed — an embedded LocalCluster by default (one single-threaded worker
process per slot: ``assess`` renders with VTK, which wants a process of its own), or an external scheduler
address for many machines. The service and ``iahemo assess-batch`` submit through the same class."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cfdgen.errors import ConfigError
from surrogate.service.jobs import PROGRESS_TOPIC, AssessJob, run_assess_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComputeConfig:
    scheduler: str | None = None  # tcp://host:8786; None starts a LocalCluster
    workers: int = 2
    worker_memory: str = "6GiB"


class Compute:
    def __init__(self, cfg: ComputeConfig):
        from distributed import Client, LocalCluster

        self.cluster = None
        try:
            if cfg.scheduler:
                self.client = Client(cfg.scheduler, timeout="20s")
            else:
                self.cluster = LocalCluster(
                    n_workers=cfg.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    memory_limit=cfg.worker_memory,
                )
                self.client = Client(self.cluster)
        except OSError as exc:
            raise ConfigError(f"dask scheduler {cfg.scheduler}: cannot connect ({exc})") from None
        # A future that nobody holds is cancelled by dask: keep each one until its job has an outcome.
        self._futures: dict[str, object] = {}
        self._lock = threading.Lock()

    def submit(self, job: AssessJob, on_done: Callable[[str, dict], None], attempt: int = 1):
        """Run ``job``; ``on_done(job_id, outcome)`` gets the task's result, or a failed status with the reason."""
        future = self.client.submit(run_assess_job, job, key=f"assess-{job.job_id}-{attempt}", pure=False)
        with self._lock:
            self._futures[job.job_id] = future

        def done(f):
            with self._lock:
                self._futures.pop(job.job_id, None)
            if f.cancelled():
                return  # the service is shutting down; restart recovery takes the job up again
            try:
                outcome = f.result()
            except Exception as exc:  # noqa: BLE001 - a worker crash must become a failed job, not a lost one
                outcome = {"status": "failed", "reason": f"internal error: {type(exc).__name__}: {exc}"[:1000]}
            try:
                on_done(job.job_id, outcome)
            except Exception:  # callbacks run on dask's thread; an exception there would vanish silently
                log.exception("recording the outcome of job %s failed", job.job_id)

        future.add_done_callback(done)
        return future

    def on_progress(self, handler: Callable[[dict], None]) -> None:
        def receive(event):
            msg = event[1] if isinstance(event, tuple) and len(event) == 2 else event
            if isinstance(msg, dict):
                try:
                    handler(msg)
                except Exception:
                    log.exception("progress handler failed")

        self.client.subscribe_topic(PROGRESS_TOPIC, receive)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._futures)

    def status(self) -> dict:
        """Workers (threads, memory, tasks), and tasks by state: the resource-monitoring view for admins."""
        try:
            info = self.client.scheduler_info(n_workers=-1)  # newer dask lists only the first few by default
        except TypeError:
            info = self.client.scheduler_info()
        processing = self.client.processing()
        workers = []
        for addr, w in sorted(info.get("workers", {}).items()):
            metrics = w.get("metrics", {})
            workers.append(
                {
                    "address": addr,
                    "name": str(w.get("name")),
                    "threads": w.get("nthreads"),
                    "memory_used": int(metrics.get("memory", 0)),
                    "memory_limit": int(w.get("memory_limit") or 0),
                    "cpu_percent": metrics.get("cpu"),
                    "executing": metrics.get("task_counts", {}).get("executing", len(processing.get(addr, ()))),
                    "tasks_processing": len(processing.get(addr, ())),
                }
            )
        return {
            "scheduler": info.get("address"),
            "embedded": self.cluster is not None,
            "workers": workers,
            "tasks": {"in_flight": self.in_flight(), "processing": sum(len(v) for v in processing.values())},
        }

    def close(self) -> None:
        try:
            self.client.close(timeout=10)
        finally:
            if self.cluster is not None:
                self.cluster.close(timeout=20)

