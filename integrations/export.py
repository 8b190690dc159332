"""Local export: one zip a person can download, and signed links that open it for a while.

The archive holds the published video, its subtitles, the metadata and a plain-text
description, named as they are in the recording's folder. Media is stored without
compression (it is compressed already); text is deflated.

A download link carries the workspace, the recording, an expiry time and an HMAC over all
three, under a key derived from SECRET_KEY: anyone holding the link can fetch the archive
until it expires, nobody can forge a link to another recording or stretch its lifetime.
Links are signed with the first key of SECRET_KEY and accepted under any key it lists, so a
new key put in front of the old one leaves the links already sent working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ARCHIVE = "export.zip"

# Suffixes zip cannot shrink; deflating them only costs time.
_STORED_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".jpg", ".jpeg", ".png"})
_KEY_LABEL = b"leap export links v1"


def build_archive(
    dest: Path, files: Iterable[tuple[Path, str]], texts: Mapping[str, str] | None = None
) -> int:
    """Write a zip of `files` ((path, name in the archive); missing paths are left out) and
    `texts` (name -> content) to `dest`; returns its size in bytes.

    The archive is written under a temporary name first, so a crash never leaves a partial
    zip under the real one.
    """
    part = dest.with_name(dest.name + ".part")
    with zipfile.ZipFile(part, "w", allowZip64=True) as archive:
        for path, name in files:
            if not path.is_file():
                continue
            method = (
                zipfile.ZIP_STORED
                if path.suffix.lower() in _STORED_SUFFIXES
                else zipfile.ZIP_DEFLATED
            )
            archive.write(path, arcname=name, compress_type=method)
        for name, content in (texts or {}).items():
            archive.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
    part.replace(dest)
    return dest.stat().st_size


@dataclass(frozen=True)
class LinkKeys:
    """Keys for download links: the first signs, every one verifies."""

    keys: tuple[bytes, ...]

    @property
    def signing(self) -> bytes:
        return self.keys[0]


def link_key(secret_key: str) -> LinkKeys:
    """The link keys of SECRET_KEY (comma-separated, newest first), one per listed key,
    derived so that none equals a Fernet key in use."""
    listed = [k.strip() for k in secret_key.split(",") if k.strip()] or [secret_key]
    keys = [_derive(k) for k in listed]
    if len(listed) > 1:
        # Links were once signed under the whole list; one sent just before an upgrade still
        # opens while SECRET_KEY is unchanged (EXPORT_LINK_HOURS at most).
        keys.append(_derive(secret_key))
    return LinkKeys(tuple(keys))


def sign(key: LinkKeys, workspace_id: int, recording_id: int, expires_at: int) -> str:
    """A URL-safe token naming the recording's archive until `expires_at` (Unix seconds)."""
    # Dots separate the parts: base64url signatures use every other URL-safe character.
    body = f"{workspace_id}.{recording_id}.{expires_at}"
    return f"{body}.{_mac(key.signing, body)}"


def verify(key: LinkKeys, token: str, *, now: float | None = None) -> tuple[int, int] | None:
    """(workspace_id, recording_id) for a genuine, unexpired token; None for anything else."""
    parts = token.split(".")
    # ASCII digits only: int() reads other scripts' digits too, and would let one genuine
    # signature stand behind many spellings of the same link.
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts[:3]):
        return None
    body = ".".join(parts[:3])
    mac = parts[3].encode()
    # Every key is tried, so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(mac, _mac(k, body).encode()) for k in key.keys]
    if not any(matches):
        return None
    workspace_id, recording_id, expires_at = (int(p) for p in parts[:3])
    if expires_at < (time.time() if now is None else now):
        return None
    return workspace_id, recording_id


def _derive(secret: str) -> bytes:
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, f"export:{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
