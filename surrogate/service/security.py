"""Tokens (hashed at rest), file-name and key checks, and the server's secret for pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

TOKEN_PREFIX = "iah_"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class UnsafeName(ValueError):
    """A client-supplied name that could escape its folder or is not a plain file name."""


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # 256 random bits need no slow password hash: nobody can brute-force the preimage of a SHA-256, and a plain
    # digest lets every server process look a token up by index without a per-user salt.
    return hashlib.sha256(token.encode()).hexdigest()


def check_user_name(name: str) -> str:
    if not _USER_NAME.match(name or ""):
        raise UnsafeName(f"user name {name!r}: use 1-64 letters, digits and . _ @ - (starting with a letter or digit)")
    return name


def safe_file_name(name: str | None) -> str:
    """The name itself when it is a plain file name; anything with a path, '..', control characters or a
    leading dot is refused rather than cleaned, so a client never gets a file it did not name."""
    name = name or ""
    if "/" in name or "\\" in name or ".." in name or not _SAFE_NAME.match(name):
        raise UnsafeName(
            f"unsafe file name {name[:80]!r}: use a plain name of letters, digits and . _ - (no folders, no '..')"
        )
    return name


def server_secret(data_dir: Path) -> bytes:
    """A random key made on first start (mode 0600); keys the pseudonyms of DICOM patients."""
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return path.read_bytes()


def pseudonym(secret: bytes, identifier: str) -> str:
    """Stable per server, irreversible without the secret: the same patient gets the same pseudonym."""
    return "P-" + hmac.new(secret, identifier.encode(), hashlib.sha256).hexdigest()[:12]
