"""The job store: an fsspec filesystem (a local folder by default, any fsspec URL such as an S3-compatible
object store for storage shared by many machines). Layout: ``jobs/<job id>/input/…`` and ``jobs/<job id>/result/``.

A result folder is uploaded as ``result.partial`` and moved to ``result`` when whole; on a local disk the move is
a rename, and the job database marks the job done only after it, so a reader never sees half a result.
"""

from __future__ import annotations

from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from cfdgen.errors import ConfigError


def filesystem(url: str):
    """(filesystem, path) of an fsspec URL or a local path."""
    try:
        return fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"store {url!r}: {exc}") from None


def put_tree(local: Path, url: str) -> None:
    """Upload a local folder to ``url`` (a folder) atomically as seen by readers of ``url``."""
    fs, path = filesystem(url)
    partial = path + ".partial"
    for p in (partial, path):
        if fs.exists(p):
            fs.rm(p, recursive=True)
    if isinstance(fs, LocalFileSystem):
        fs.makedirs(str(Path(partial).parent), exist_ok=True)
    fs.put(str(local), partial, recursive=True)
    fs.mv(partial, path, recursive=True)


def get_tree(url: str, local: Path) -> Path:
    """Download a file or folder at ``url`` into the folder ``local``; returns the local copy."""
    fs, path = filesystem(url)
    target = local / Path(path).name
    fs.get(path, str(target), recursive=fs.isdir(path))
    return target


class Store:
    def __init__(self, url: str):
        self.fs, self.root = filesystem(url)
        self.root = self.root.rstrip("/")
        self.fs.makedirs(self.root, exist_ok=True)
        self.local = isinstance(self.fs, LocalFileSystem)

    def path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def url(self, key: str) -> str:
        """A URL a worker elsewhere can open (a plain path for a local store)."""
        return self.path(key) if self.local else self.fs.unstrip_protocol(self.path(key))

    def job_key(self, job_id: str, *parts: str) -> str:
        return "/".join(("jobs", job_id, *parts))

    def put_file(self, local: Path, key: str) -> None:
        """Upload one file under a temporary name, then rename it into place."""
        target = self.path(key)
        partial = target + ".partial"
        self.fs.makedirs(str(Path(target).parent), exist_ok=True)
        self.fs.put_file(str(local), partial)
        self.fs.mv(partial, target)

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def isfile(self, key: str) -> bool:
        return self.fs.isfile(self.path(key))

    def size(self, key: str) -> int:
        return int(self.fs.size(self.path(key)))

    def open(self, key: str, mode: str = "rb"):
        return self.fs.open(self.path(key), mode)

    def local_path(self, key: str) -> Path | None:
        return Path(self.path(key)) if self.local else None

    def list_files(self, key: str) -> list[str]:
        """Names of the files directly under ``key`` (empty when it does not exist)."""
        p = self.path(key)
        if not self.fs.isdir(p):
            return []
        return sorted(Path(e["name"]).name for e in self.fs.ls(p, detail=True) if e["type"] == "file")

    def usage(self, key: str) -> int:
        """Bytes stored under ``key`` (a folder), recursively."""
        p = self.path(key)
        return int(self.fs.du(p, total=True)) if self.fs.exists(p) else 0

    def job_ids(self) -> list[str]:
        p = self.path("jobs")
        return sorted(Path(e).name for e in self.fs.ls(p, detail=False)) if self.fs.isdir(p) else []

    def remove(self, key: str) -> None:
        p = self.path(key)
        if self.fs.exists(p):
            self.fs.rm(p, recursive=True)
