"""Where a workspace's media lives: paths made of ids only, and the store behind them.

The local folder `<root>/workspaces/<ws>/recordings/<rec>-<tag>/` is where every stage reads
and writes. The tag is an HMAC of the two ids under a key that never leaves this machine
(`<root>/.folder-key`, made once): nobody who knows a recording's ids can name its folder,
so no file a user sends can point at another recording by a relative path, even if
something ever opened one (ffmpeg is not allowed to: pipeline.ffmpeg_cmd). A folder of the
old id-only layout is moved to its tagged name the first time it is asked for. In the
bucket the key stays `workspaces/<ws>/recordings/<rec>`: hosts with keys of their own
still share it, and nothing reads the bucket by a name a user gave.

With an S3 bucket behind it (`storage.objects`) that folder is a working copy: `pull`
before a stage, `push` after it, `fetch`/`put` for the single files the bot reads and writes.
With the local store those calls return at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import shutil
import weakref
from pathlib import Path

from storage.objects import LocalObjects, ObjectStore, ObjectStoreError

log = logging.getLogger(__name__)

_EXT = re.compile(r"^[a-z0-9]{1,8}$")

# One transfer per recording folder at a time in this process: parallel publishing jobs of one
# recording would otherwise each download the same video.
_TRANSFERS: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


class MediaStore:
    def __init__(self, root: Path, objects: ObjectStore | None = None) -> None:
        self.root = Path(root).resolve()
        self.objects: ObjectStore = objects if objects is not None else LocalObjects()
        # Made now rather than at the first recording: the store's files then change only
        # when recordings do.
        _folder_key(self.root)

    @property
    def remote(self) -> bool:
        """Whether the files live in a bucket, the local folders being working copies."""
        return self.objects.remote

    def workspace_dir(self, workspace_id: int) -> Path:
        return self.root / "workspaces" / str(_checked_id(workspace_id))

    def recording_dir(self, workspace_id: int, recording_id: int, *, create: bool = True) -> Path:
        recordings = self.workspace_dir(workspace_id) / "recordings"
        legacy = recordings / str(_checked_id(recording_id))
        path = recordings / f"{recording_id}-{self._tag(workspace_id, recording_id)}"
        if not path.exists() and legacy.is_dir():
            with contextlib.suppress(FileNotFoundError):
                legacy.rename(path)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def _tag(self, workspace_id: int, recording_id: int) -> str:
        message = f"{workspace_id}/{recording_id}".encode()
        return hmac.new(_folder_key(self.root), message, hashlib.sha256).hexdigest()[:24]

    def source_path(self, workspace_id: int, recording_id: int, ext: str) -> Path:
        return self.recording_dir(workspace_id, recording_id) / f"source.{safe_ext(ext)}"

    def recording_key(self, workspace_id: int, recording_id: int) -> str:
        """The recording's place in the object store (ids only: see the module)."""
        return f"workspaces/{_checked_id(workspace_id)}/recordings/{_checked_id(recording_id)}"

    def delete_recording(self, workspace_id: int, recording_id: int) -> int:
        """Remove a recording's files (and objects); returns the bytes freed. Blocks."""
        path = self.recording_dir(workspace_id, recording_id, create=False)
        freed = _size(path)
        shutil.rmtree(path, ignore_errors=True)
        if self.remote:
            key = self.recording_key(workspace_id, recording_id)
            try:
                freed = self.objects.delete(key)
            except ObjectStoreError as exc:
                # The rows are gone already; say exactly what is left for an operator to remove.
                log.error("objects under %s not deleted: %s", key, exc)
        return freed

    def usage(self, workspace_id: int) -> int:
        """Bytes the workspace's media takes: in the bucket when there is one. Blocks."""
        if self.remote:
            key = self.workspace_dir(workspace_id).relative_to(self.root).as_posix()
            try:
                return self.objects.total(key)
            except ObjectStoreError as exc:
                log.warning("usage of workspace %s counted on this disk: %s", workspace_id, exc)
        return _size(self.workspace_dir(workspace_id))

    # -- the working copy: all of these return at once with the local store --

    async def pull(self, workspace_id: int, recording_id: int) -> int:
        """Bring the recording's objects this folder lacks or holds older copies of.

        Returns the bytes downloaded.
        """
        if not self.remote:
            return 0
        folder = self.recording_dir(workspace_id, recording_id)
        key = self.recording_key(workspace_id, recording_id)
        async with _transfer_lock(folder):
            return await asyncio.to_thread(self.objects.pull, folder, key)

    async def push(self, workspace_id: int, recording_id: int) -> int:
        """Send the files a stage made or changed (never its temporary ones) to the bucket.

        Returns the bytes uploaded.
        """
        if not self.remote:
            return 0
        folder = self.recording_dir(workspace_id, recording_id)
        key = self.recording_key(workspace_id, recording_id)
        async with _transfer_lock(folder):
            return await asyncio.to_thread(self.objects.push, folder, key)

    async def fetch(self, workspace_id: int, recording_id: int, name: str) -> Path:
        """The local path of one file, brought from the bucket first when it has a newer one.

        Reading is what a card or an editor needs, so a bucket that fails leaves the local
        copy (if any) and a warning rather than an error; `put` is the one that must not fail
        quietly.
        """
        if not self.remote:
            return self.recording_dir(workspace_id, recording_id, create=False) / name
        return await asyncio.to_thread(self.fetch_now, workspace_id, recording_id, name)

    def fetch_now(self, workspace_id: int, recording_id: int, name: str) -> Path:
        """`fetch` for synchronous readers: with a bucket it blocks for one small request."""
        folder = self.recording_dir(workspace_id, recording_id, create=self.remote)
        if self.remote:
            key = self.recording_key(workspace_id, recording_id)
            try:
                self.objects.fetch(folder, key, name)
            except ObjectStoreError as exc:
                log.warning("%s of recording %s not fetched: %s", name, recording_id, exc)
        return folder / name

    async def put(self, workspace_id: int, recording_id: int, name: str) -> None:
        """Send one file just written into the recording's folder to the bucket."""
        if self.remote:
            folder = self.recording_dir(workspace_id, recording_id)
            key = self.recording_key(workspace_id, recording_id)
            await asyncio.to_thread(self.objects.put, folder, key, name)


def _transfer_lock(folder: Path) -> asyncio.Lock:
    lock = _TRANSFERS.get(str(folder))
    if lock is None:
        lock = asyncio.Lock()
        _TRANSFERS[str(folder)] = lock
    return lock


_KEY_FILE = ".folder-key"


@functools.cache
def _folder_key(root: Path) -> bytes:
    """The store's folder key: read, or made once for every process that shares the root.

    A new key is written beside its final name and linked there, so two processes starting
    together both end up with whichever was linked first.
    """
    path = root / _KEY_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    root.mkdir(parents=True, exist_ok=True)
    draft = root / f"{_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


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
