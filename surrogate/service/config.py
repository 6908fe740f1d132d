"""Typed configuration of the service: one dataclass instead of long argument lists, loadable from YAML."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from cfdgen.errors import ConfigError
from surrogate.assess import AssessConfig

HERE = Path(__file__).resolve().parent
# `npm install` (tools/ensure_service_deps.sh) puts three.js here; git-ignored, served at /vendor/.
DEFAULT_VENDOR = HERE / "web" / "node_modules"


@dataclass(frozen=True)
class ServiceConfig:
    data: str = "service_data"  # folder for the SQLite database, the secret key and (by default) the store
    store_url: str | None = None  # fsspec URL of the job store (default: DATA/store, a local folder)
    db_url: str | None = None  # SQLAlchemy URL (default: sqlite:///DATA/service.db); postgresql+psycopg://...
    scheduler: str | None = None  # dask scheduler address; None starts an embedded LocalCluster
    workers: int = 2  # LocalCluster worker processes (one thread each: assess renders with VTK)
    worker_memory: str = "6GiB"  # per worker process
    max_upload_mb: float = 200.0
    max_unzipped_mb: float = 1000.0  # a zipped DICOM series may not expand beyond this (zip bombs)
    max_attempts: int = 2  # a job interrupted by this many server restarts is failed, not retried again
    vendor_dir: str = str(DEFAULT_VENDOR)
    assess: AssessConfig = field(default_factory=AssessConfig)

    def __post_init__(self):
        if self.workers < 1:
            raise ConfigError(f"service workers must be at least 1 (got {self.workers})")
        if self.max_upload_mb <= 0 or self.max_unzipped_mb <= 0:
            raise ConfigError("service upload limits must be positive")
        if self.max_attempts < 1:
            raise ConfigError(f"service max_attempts must be at least 1 (got {self.max_attempts})")

    @property
    def data_dir(self) -> Path:
        return Path(self.data).resolve()

    @property
    def store(self) -> str:
        return self.store_url or str(self.data_dir / "store")

    @property
    def database(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'service.db'}"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_dict(cls, options: dict) -> ServiceConfig:
        """Options as in a YAML file (``assess:`` a mapping of AssessConfig fields); unknown keys are refused."""
        options = dict(options or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown service option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        assess = options.pop("assess", None) or {}
        if isinstance(assess, dict):
            a_known = {f.name for f in dataclasses.fields(AssessConfig)}
            bad = sorted(set(assess) - a_known)
            if bad:
                raise ConfigError(f"unknown assess option(s): {', '.join(bad)} (known: {', '.join(sorted(a_known))})")
            assess = AssessConfig(**assess)
        return cls(**options, assess=assess)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides) -> ServiceConfig:
        """YAML options from ``path`` (if given), then the non-None ``overrides`` (command-line flags)."""
        import yaml

        options = {}
        if path is not None:
            p = Path(path)
            if not p.is_file():
                raise ConfigError(f"{p}: service configuration file not found")
            try:
                options = yaml.safe_load(p.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
            if not isinstance(options, dict):
                raise ConfigError(f"{p}: expected a mapping of service options")
        options.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(options)
