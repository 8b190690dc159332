"""Where a workspace's media lives on disk: paths made of ids only."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

_EXT = re.compile(r"^[a-z0-9]{1,8}$")


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def workspace_dir(self, workspace_id: int) -> Path:
        return self.root / "workspaces" / str(_checked_id(workspace_id))

    def recording_dir(self, workspace_id: int, recording_id: int, *, create: bool = True) -> Path:
        path = self.workspace_dir(workspace_id) / "recordings" / str(_checked_id(recording_id))
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def source_path(self, workspace_id: int, recording_id: int, ext: str) -> Path:
        return self.recording_dir(workspace_id, recording_id) / f"source.{safe_ext(ext)}"

    def delete_recording(self, workspace_id: int, recording_id: int) -> int:
        """Remove a recording's files; returns the bytes freed."""
        path = self.recording_dir(workspace_id, recording_id, create=False)
        freed = _size(path)
        shutil.rmtree(path, ignore_errors=True)
        return freed

    def usage(self, workspace_id: int) -> int:
        return _size(self.workspace_dir(workspace_id))


def safe_ext(ext: str) -> str:
    """A file extension we are willing to put on disk; anything odd becomes 'bin'."""
    ext = ext.lower().lstrip(".")
    return ext if _EXT.match(ext) else "bin"


def _checked_id(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"not an id: {value!r}")
    return value


def _size(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
