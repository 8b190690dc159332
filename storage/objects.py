"""Where a recording's files live between stages: this machine's folder, or an S3 bucket.

Stages always work in the local recording folder. With `LocalObjects` that folder is the
store and nothing else happens. With `S3Objects` (any S3 API: AWS, MinIO, Yandex Object
Storage, ...) the folder is a working copy: before a stage the worker pulls the objects it
lacks or holds an older copy of, after a stage that succeeded it pushes what the stage made or
changed. Workers on different machines then share only the bucket (with the database and
Redis).

The folder remembers what it last agreed on with the bucket in `.objects.json`: per file the
object's ETag and the file's size and mtime at that moment. A file whose size and mtime still
match was not touched since, so nothing is hashed, listed twice or sent again; an object whose
ETag changed (a person's corrected chapters, a stage run again elsewhere) is downloaded again.

Every call here blocks (boto3 is synchronous); `storage.files.MediaStore` runs them in threads.
Names that start with a dot and partial downloads (`*.part`, ...) are never pushed: they are a
stage's temporary files, and nothing outside the stage may see them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mimetypes
import os
import secrets
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

MANIFEST = ".objects.json"
# Partial downloads of yt-dlp, the Zoom fetcher and `jobs.files.write_text`.
TEMPORARY_SUFFIXES = (".part", ".ytdl", ".temp", ".tmp")
# S3 refuses multipart parts smaller than this (except the last one).
MIN_PART_MB = 5
# ETags of objects uploaded in one request are the MD5 of their bytes; those are compared
# with a local file that has no manifest entry, when it is small enough to hash quickly.
_HASH_LIMIT = 64 * 1024 * 1024
_DELETE_BATCH = 1000
_QUICK_LIMIT = 4 * 1024 * 1024


class ObjectStoreError(Exception):
    """The bucket could not be used. The message is for people and never holds a secret.

    `transient` faults (the endpoint not answering, a 5xx, throttling) may pass if the work
    is tried again later; the others need an operator (credentials, a missing bucket).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def is_temporary(relative: PurePosixPath) -> bool:
    """A stage's scratch file (or a name that could leave the folder): never pushed or pulled."""
    if not relative.parts or any(part in ("", ".", "..") for part in relative.parts):
        return True
    return any(part.startswith(".") for part in relative.parts) or relative.name.endswith(
        TEMPORARY_SUFFIXES
    )


class ObjectStore(Protocol):
    """What `MediaStore` asks of a store. Keys are relative to the storage root."""

    remote: bool

    def describe(self) -> str: ...

    def check(self) -> None: ...

    def pull(self, folder: Path, key: str) -> int: ...

    def push(self, folder: Path, key: str) -> int: ...

    def fetch(self, folder: Path, key: str, name: str) -> bool: ...

    def put(self, folder: Path, key: str, name: str) -> None: ...

    def delete(self, key: str) -> int: ...

    def total(self, key: str) -> int: ...


class LocalObjects:
    """Today's single-machine store: the local folder already is the store."""

    remote = False

    def describe(self) -> str:
        return "local folder"

    def check(self) -> None:
        return None

    def pull(self, folder: Path, key: str) -> int:
        return 0

    def push(self, folder: Path, key: str) -> int:
        return 0

    def fetch(self, folder: Path, key: str, name: str) -> bool:
        return (folder / name).is_file()

    def put(self, folder: Path, key: str, name: str) -> None:
        return None

    def delete(self, key: str) -> int:
        return 0

    def total(self, key: str) -> int:
        return 0


@dataclass(frozen=True)
class S3Config:
    bucket: str
    endpoint_url: str | None = None  # None: AWS itself
    region: str | None = None
    access_key_id: str | None = None  # None: boto3's own chain (environment, instance role)
    secret_access_key: str | None = field(default=None, repr=False)
    prefix: str = ""
    addressing_style: str = "auto"  # "path" for most MinIO set-ups
    part_mb: int = 16  # multipart threshold and part size
    concurrency: int = 4  # parts in flight for one file


@dataclass(frozen=True)
class _Remote:
    size: int
    etag: str


# One lock per recording folder for the whole process: two MediaStores (the bot's and the
# workers' in `leap run`) and parallel publishing jobs must not rewrite one manifest at once.
_FOLDER_LOCKS: weakref.WeakValueDictionary[str, threading.RLock] = weakref.WeakValueDictionary()
_FOLDER_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    with _FOLDER_LOCKS_GUARD:
        lock = _FOLDER_LOCKS.get(str(folder))
        if lock is None:
            lock = threading.RLock()
            _FOLDER_LOCKS[str(folder)] = lock
    with lock:
        yield


class _Manifest:
    """What the folder last agreed on with the bucket, file by file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed = False
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict):
            self.entries = {k: v for k, v in data.items() if isinstance(v, dict)}

    def untouched(self, name: str) -> bool:
        """The file is as it was when it last matched its object."""
        entry = self.entries.get(name)
        if entry is None:
            return False
        try:
            stat = (self.folder / name).stat()
        except OSError:
            return False
        return stat.st_size == entry.get("size") and stat.st_mtime_ns == entry.get("mtime_ns")

    def matches(self, name: str, remote: _Remote) -> bool:
        entry = self.entries.get(name)
        return (
            entry is not None
            and entry.get("etag") == remote.etag
            and entry.get("size") == remote.size
            and self.untouched(name)
        )

    def record(self, name: str, etag: str, stat: os.stat_result) -> None:
        self.entries[name] = {"etag": etag, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        self.changed = True

    def forget(self, name: str) -> None:
        if self.entries.pop(name, None) is not None:
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        part = self.folder / f".objects-{secrets.token_hex(4)}.part"
        part.write_text(json.dumps(self.entries, sort_keys=True), encoding="utf-8")
        part.replace(self.folder / MANIFEST)
        self.changed = False


class S3Objects:
    """A bucket of any S3-compatible service, holding the files under `<prefix>/workspaces/`."""

    remote = True

    def __init__(self, config: S3Config) -> None:
        if not config.bucket:
            raise ObjectStoreError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        self.config = config
        self.prefix = config.prefix.strip("/")
        self._clients: dict[str, Any] = {}

    # -- what people read --

    def describe(self) -> str:
        place = f"{self.config.bucket}/{self.prefix}" if self.prefix else self.config.bucket
        return f"s3://{place} at {self._where()}"

    def _where(self) -> str:
        url = self.config.endpoint_url
        if not url:
            return f"AWS {self.config.region or 'default region'}"
        # An endpoint written as https://user:password@host must not carry them into a log.
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    # -- clients --

    def _client(self, kind: str = "transfer") -> Any:
        """A boto3 client, made once; "quick" ones give up fast (small reads in the bot)."""
        with _SESSION_GUARD:
            client = self._clients.get(kind)
            if client is None:
                client = self._make_client(kind)
                self._clients[kind] = client
            return client

    def _make_client(self, kind: str) -> Any:
        from botocore.config import Config

        quick = kind == "quick"
        config = Config(
            s3={"addressing_style": self.config.addressing_style},
            signature_version="s3v4",
            retries={"max_attempts": 2 if quick else 5, "mode": "standard"},
            connect_timeout=2 if quick else 10,
            read_timeout=5 if quick else 120,
            max_pool_connections=max(self.config.concurrency * 2, 10),
        )
        return _session().client(
            "s3",
            endpoint_url=self.config.endpoint_url or None,
            region_name=self.config.region or None,
            aws_access_key_id=self.config.access_key_id or None,
            aws_secret_access_key=self.config.secret_access_key or None,
            config=config,
        )

    def _transfer(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        part = max(self.config.part_mb, MIN_PART_MB) * 1024 * 1024
        return TransferConfig(
            multipart_threshold=part,
            multipart_chunksize=part,
            max_concurrency=max(self.config.concurrency, 1),
            use_threads=True,
        )

    def _key(self, key: str, name: str = "") -> str:
        parts = [p for p in (self.prefix, key.strip("/"), name) if p]
        return "/".join(parts)

    # -- the operations --

    def check(self) -> None:
        """Raise a readable ObjectStoreError unless the bucket can be listed."""
        with self._errors("listing"):
            self._client("quick").list_objects_v2(
                Bucket=self.config.bucket,
                Prefix=f"{self.prefix}/" if self.prefix else "",
                MaxKeys=1,
            )

    def pull(self, folder: Path, key: str) -> int:
        """Bring every object of `key` the folder lacks or holds another version of."""
        remote = self._list(key)
        pulled = 0
        with folder_lock(folder):
            manifest = _Manifest(folder)
            for name, found in sorted(remote.items()):
                if manifest.matches(name, found) or self._adopt(manifest, name, found):
                    continue
                self._download(folder, key, name, found, manifest)
                pulled += found.size
            # A file that came from the bucket and is gone from it was removed on purpose
            # (a reset recording): a stage must not take an old copy for a finished output.
            for name in [n for n in manifest.entries if n not in remote]:
                if manifest.untouched(name):
                    with contextlib.suppress(OSError):
                        (folder / name).unlink()
                manifest.forget(name)
            manifest.save()
        if pulled:
            log.info("pulled %d bytes of %s", pulled, key)
        return pulled

    def push(self, folder: Path, key: str) -> int:
        """Send the folder's new and changed files (never temporary ones) to the bucket."""
        pushed = 0
        with folder_lock(folder):
            manifest = _Manifest(folder)
            try:
                for path in sorted(_files(folder)):
                    name = path.relative_to(folder).as_posix()
                    if not manifest.untouched(name):
                        pushed += self._upload(folder, key, name, manifest)
            finally:
                # Whatever went up before a failure need not go up again.
                manifest.save()
        if pushed:
            log.info("pushed %d bytes of %s", pushed, key)
        return pushed

    def fetch(self, folder: Path, key: str, name: str) -> bool:
        """One object into the folder, unless the folder has it already; False when none."""
        relative = PurePosixPath(name)
        if is_temporary(relative):
            raise ValueError(f"not a stored file: {name!r}")
        client = self._client("quick")
        with self._errors("reading"):
            try:
                head = client.head_object(Bucket=self.config.bucket, Key=self._key(key, name))
            except Exception as exc:
                if _status(exc) != 404:
                    raise
                head = None
        with folder_lock(folder):
            manifest = _Manifest(folder)
            if head is None:
                if manifest.untouched(name):
                    with contextlib.suppress(OSError):
                        (folder / name).unlink()
                manifest.forget(name)
                manifest.save()
                return (folder / name).is_file()
            found = _Remote(int(head["ContentLength"]), str(head["ETag"]))
            if not (manifest.matches(name, found) or self._adopt(manifest, name, found)):
                self._download(folder, key, name, found, manifest)
            manifest.save()
        return True

    def put(self, folder: Path, key: str, name: str) -> None:
        """Send one file the caller has just written."""
        if is_temporary(PurePosixPath(name)):
            raise ValueError(f"not a stored file: {name!r}")
        with folder_lock(folder):
            manifest = _Manifest(folder)
            if not manifest.untouched(name):
                self._upload(folder, key, name, manifest)
            manifest.save()

    def delete(self, key: str) -> int:
        """Remove every object under `key`; returns the bytes they held."""
        found = self._list(key)
        client = self._client()
        names = sorted(found)
        for start in range(0, len(names), _DELETE_BATCH):
            batch = names[start : start + _DELETE_BATCH]
            with self._errors("deleting"):
                answer = client.delete_objects(
                    Bucket=self.config.bucket,
                    Delete={"Objects": [{"Key": self._key(key, n)} for n in batch], "Quiet": True},
                )
            errors = answer.get("Errors") or []
            if errors:
                codes = sorted({str(e.get("Code")) for e in errors})
                raise ObjectStoreError(
                    f"{len(errors)} objects of {key} were not deleted ({', '.join(codes)})",
                    transient=True,
                )
        return sum(r.size for r in found.values())

    def total(self, key: str) -> int:
        """Bytes held under `key`."""
        return sum(r.size for r in self._list(key).values())

    # -- the parts --

    def _list(self, key: str) -> dict[str, _Remote]:
        # The trailing slash keeps recording 1 from listing recording 10's objects.
        prefix = self._key(key) + "/"
        found: dict[str, _Remote] = {}
        paginator = self._client().get_paginator("list_objects_v2")
        with self._errors("listing"):
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=prefix):
                for item in page.get("Contents") or ():
                    name = str(item["Key"])[len(prefix) :]
                    if not is_temporary(PurePosixPath(name)):
                        found[name] = _Remote(int(item["Size"]), str(item["ETag"]))
        return found

    def _adopt(self, manifest: _Manifest, name: str, found: _Remote) -> bool:
        """A local file the manifest does not know may already be the object (same bytes)."""
        path = manifest.folder / name
        if name in manifest.entries:
            return False
        try:
            stat = path.stat()
        except OSError:
            return False
        if stat.st_size != found.size:
            return False
        etag = found.etag.strip('"')
        if "-" not in etag and stat.st_size <= _HASH_LIMIT and _md5(path) != etag:
            return False
        # A multipart ETag is not the MD5 of the bytes; an equal size has to do.
        manifest.record(name, found.etag, stat)
        return True

    def _download(
        self, folder: Path, key: str, name: str, found: _Remote, manifest: _Manifest
    ) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # Into a hidden name first: a stage never sees half an object under the real name.
        part = path.with_name(f".pull-{secrets.token_hex(4)}-{path.name}")
        # Small objects (JSON, subtitles) go through the client that gives up fast: the bot
        # reads them while a person waits.
        client = self._client("quick" if found.size < _QUICK_LIMIT else "transfer")
        try:
            with self._errors("downloading"):
                client.download_file(
                    self.config.bucket, self._key(key, name), str(part), Config=self._transfer()
                )
            part.replace(path)
        finally:
            with contextlib.suppress(OSError):
                part.unlink()
        manifest.record(name, found.etag, path.stat())

    def _upload(self, folder: Path, key: str, name: str, manifest: _Manifest) -> int:
        path = folder / name
        # The size and mtime before sending: a file changed meanwhile differs next time.
        stat = path.stat()
        target = self._key(key, name)
        extra: dict[str, str] = {}
        kind = mimetypes.guess_type(name)[0]
        if kind:
            extra["ContentType"] = kind
        client = self._client()
        with self._errors("uploading"):
            client.upload_file(
                str(path), self.config.bucket, target, ExtraArgs=extra, Config=self._transfer()
            )
            head = client.head_object(Bucket=self.config.bucket, Key=target)
        manifest.record(name, str(head["ETag"]), stat)
        return stat.st_size

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """boto3's faults as ObjectStoreError with a reason an operator can act on."""
        try:
            yield
        except ObjectStoreError:
            raise
        except OSError:
            # A full local disk is the runner's to report, with its own message.
            raise
        except Exception as exc:
            raise self._explain(exc, doing) from exc

    def _explain(self, exc: BaseException, doing: str) -> ObjectStoreError:
        from botocore.exceptions import (
            ClientError,
            ConnectionError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        bucket = self.config.bucket
        where = self._where()
        cause = _find(exc, ClientError)
        if cause is not None:
            error = cause.response.get("Error") or {}
            code = str(error.get("Code") or "")
            status = _status(cause)
            if code == "InvalidAccessKeyId":
                text = f"{where} does not know the access key: check S3_ACCESS_KEY_ID"
            elif code == "SignatureDoesNotMatch":
                text = (
                    f"{where} refused the request signature: check S3_SECRET_ACCESS_KEY "
                    "(and S3_REGION)"
                )
            elif code in ("NoSuchBucket",) or (status == 404 and doing == "listing"):
                text = f"bucket {bucket!r} does not exist at {where}: create it or fix S3_BUCKET"
            elif code in ("AccessDenied", "AllAccessDisabled") or status == 403:
                text = (
                    f"access to bucket {bucket!r} at {where} was denied: the key needs to "
                    "list, read, write and delete objects there"
                )
            else:
                text = f"{where} answered {code or status} while {doing} in bucket {bucket!r}"
            transient = status is None or status >= 500 or code in _TRANSIENT_CODES
            return ObjectStoreError(text, transient=transient)
        if _find(exc, NoCredentialsError) is not None:
            return ObjectStoreError(
                "no S3 credentials: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY"
            )
        if _find(exc, EndpointConnectionError) is not None:
            return ObjectStoreError(
                f"{where} does not answer: check S3_ENDPOINT_URL", transient=True
            )
        if _find(exc, (ConnectionError, ReadTimeoutError)) is not None:
            return ObjectStoreError(
                f"the connection to {where} failed while {doing}", transient=True
            )
        return ObjectStoreError(
            f"{type(exc).__name__} while {doing} in bucket {bucket!r} at {where}", transient=True
        )


# One boto3 session for the process: it caches the service models, so a second client costs
# milliseconds instead of a tenth of a second. Sessions are not thread-safe; clients are.
_SESSION: Any = None
_SESSION_GUARD = threading.Lock()


def _session() -> Any:
    global _SESSION
    if _SESSION is None:
        import boto3

        _SESSION = boto3.session.Session()
    return _SESSION


_TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "RequestTimeout", "RequestTimeTooSkewed", "InternalError"}
)


def _find(exc: BaseException, kind: Any) -> Any:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if status is None:
        code = str((response.get("Error") or {}).get("Code") or "")
        return int(code) if code.isdigit() else None
    return int(status)


def _files(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in folder.rglob("*"):
        if path.is_file() and not is_temporary(PurePosixPath(path.relative_to(folder).as_posix())):
            yield path


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()
