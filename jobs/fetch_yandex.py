"""Fetching a file from the workspace's connected Yandex Disk, and the connection's token.

Rules it keeps:

- `DiskAccess` is the workspace's Yandex connection as stored now: its token is renewed before
  use when it is about to run out and once more when the Disk answers 401, under the
  credential's lock (the same one publishing takes), and the new pair is stored before it is
  used. A refresh Yandex refuses, or a connection marked broken, is `YandexAuthError`.
- Fetch looks at the file first (a size over the link limit is refused before any byte), then
  streams it to ``source.<ext>.part`` through the API's download address and renames it when
  whole; the limit applies again while it arrives. Transient faults come back later
  (TransientFailure); a missing file or a refused connection fails the stage with its reason.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

from arq.connections import ArqRedis
from redis.exceptions import LockError
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.yandex import (
    YandexAuthError,
    YandexDisk,
    YandexError,
    YandexNotFound,
    YandexTransient,
)
from integrations.yandex import oauth as yandex_oauth
from jobs import keys
from jobs.downloads import progress_reporter
from jobs.runner import StageFailure, StageJob, TransientFailure
from leap.settings import Settings
from locales.format import size
from storage import repo
from storage.crypto import SecretBox, SecretBoxError
from storage.files import safe_ext

log = logging.getLogger(__name__)

PROVIDER = "yandex"
REFRESH_MARGIN = 3600
LOCK_SECONDS = 60
RETRY_AFTER = (5.0, 30.0, 120.0, 600.0)
T = TypeVar("T")


class DiskAccess:
    """The workspace's Yandex connection: a Disk client whose token is renewed when needed."""

    def __init__(
        self,
        settings: Settings,
        box: SecretBox,
        sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        redis: ArqRedis,
        workspace_id: int,
    ) -> None:
        self.settings = settings
        self.box = box
        self.sessions = sessions
        self.redis = redis
        self.workspace_id = workspace_id

    async def _stored(self) -> tuple[int, dict[str, Any]] | None:
        async with self.sessions() as session:
            rows = await repo.credentials(session, self.workspace_id, PROVIDER)
        for row in reversed(rows):
            try:
                payload = self.box.decrypt(row.payload)
            except SecretBoxError:
                continue
            return row.id, payload
        return None

    async def run(self, work: Callable[[YandexDisk], Awaitable[T]]) -> T:
        """`work` on the Disk; a 401 renews the token once. `LookupError` without a
        connection; `YandexAuthError` when Yandex takes neither token nor refresh."""
        found = await self._stored()
        if found is None:
            raise LookupError("no Yandex connection")
        row_id, payload = found
        if payload.get("broken"):
            raise YandexAuthError(401, "Broken", "the connection must be made again")
        tokens = yandex_oauth.YandexTokens.from_stored(payload)
        if tokens.expires_within(REFRESH_MARGIN):
            tokens = await self._renew(row_id, tokens)
        try:
            return await self._with(tokens.access_token, work)
        except YandexAuthError:
            tokens = await self._renew(row_id, tokens)
            return await self._with(tokens.access_token, work)

    async def _with(self, token: str, work: Callable[[YandexDisk], Awaitable[T]]) -> T:
        async with YandexDisk(token, api_url=self.settings.yandex_disk_api_url) as disk:
            return await work(disk)

    async def _renew(
        self, row_id: int, spent: yandex_oauth.YandexTokens
    ) -> yandex_oauth.YandexTokens:
        lock = self.redis.lock(
            keys.credential_lock(row_id), timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS + 30
        )
        if not await lock.acquire():
            raise YandexTransient(0, "Busy", "the connection is being renewed")
        try:
            found = await self._stored()
            if found is None:
                raise YandexAuthError(401, "Gone", "the connection was removed")
            _, payload = found
            stored = yandex_oauth.YandexTokens.from_stored(payload)
            if stored.access_token != spent.access_token and not stored.expires_within(
                REFRESH_MARGIN
            ):
                return stored  # another job renewed it meanwhile
            secret = self.settings.yandex_client_secret
            fresh = await yandex_oauth.refresh(
                stored.refresh_token,
                client_id=self.settings.yandex_client_id or "",
                client_secret=secret.get_secret_value() if secret else "",
                oauth_url=self.settings.yandex_oauth_url,
            )
            await self._store(row_id, {**payload, **fresh.stored()})
            return fresh
        finally:
            with contextlib.suppress(LockError):
                await lock.release()

    async def _store(self, row_id: int, payload: dict[str, Any]) -> None:
        async with self.sessions() as session:
            for row in await repo.credentials(session, self.workspace_id, PROVIDER):
                if row.id == row_id:
                    row.payload = self.box.encrypt(payload)
            await session.commit()


async def fetch_yandex(job: StageJob, dest: Path) -> Path:
    """Download the recording's Disk file next to `dest`; returns the path written."""
    recording = job.recording
    path = str(recording.options.get("yandex_path") or "")
    box = job.deps.secrets
    if box is None:
        raise StageFailure("yandex_connect")
    access = DiskAccess(
        job.deps.settings, box, job.deps.sessions, job.deps.redis, recording.workspace_id
    )
    ext = safe_ext(Path(path).suffix or ".mp4")
    final = dest.with_name(f"{dest.stem}.{ext}")
    part = final.with_name(final.name + ".part")
    limit = int(job.deps.settings.link_max_size_gb * 1_000_000_000)
    job.report(job._("progress.downloading", percent=0))
    on_progress = progress_reporter(job)

    async def download(disk: YandexDisk) -> None:
        found = await disk.resource(path)
        if found is None:
            raise YandexNotFound(404, "DiskNotFoundError")
        if found.size is not None and found.size > limit:
            raise _too_large(job, found.size, limit)
        await disk.download(path, part, max_bytes=limit, on_progress=on_progress)

    try:
        await access.run(download)
    except LookupError:
        raise StageFailure("yandex_connect") from None
    except YandexNotFound:
        raise StageFailure("yandex_not_found") from None
    except YandexAuthError:
        raise StageFailure("yandex_revoked") from None
    except YandexTransient as exc:
        log.info("recording %s: Disk download interrupted (%s)", recording.id, exc.message)
        delay = RETRY_AFTER[min(job.attempt, len(RETRY_AFTER)) - 1]
        raise TransientFailure("link_unreachable", defer=delay) from None
    except YandexError as exc:
        if exc.error == "TooLarge":
            raise _too_large(job, limit + 1, limit) from None
        log.info("recording %s: Disk refused the download: %s", recording.id, exc.message)
        raise StageFailure("yandex_failed") from None
    part.replace(final)
    job.save(source_ext=ext)
    log.info("recording %s: Yandex Disk file downloaded", recording.id)
    return final


def _too_large(job: StageJob, found: int, limit: int) -> StageFailure:
    return StageFailure("link_too_large", size=size(job.lang, found), limit=size(job.lang, limit))
