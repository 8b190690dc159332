"""Sending a file through the Bot API, which takes no idempotency key.

The Telegram channel and the export both send one message with a file. A post has no id
before it exists, so the row's resume state says a send is in flight (``{"sending": true}``)
before it starts, and is cleared when the answer comes. A try that finds the mark, or a send
whose answer was lost after the request left this machine, cannot know whether the message
arrived: the platform fails with a reason asking the person to look, instead of sending a
second copy. Only a send refused before any byte went out (a refused connection) is tried
again.
"""

from __future__ import annotations

import logging

import aiohttp

from jobs.context import WorkerDeps
from jobs.publish.errors import Transient
from jobs.publish.resume import SendingResume
from jobs.publish.target import Target

log = logging.getLogger(__name__)


def was_sending(target: Target, model: type[SendingResume]) -> bool:
    """Whether an earlier try sent the message and never heard back (a lost answer, a stopped
    worker): it cannot know whether the message arrived, so it must not send another."""
    state = target.resume(model)
    return state is not None and state.sending


def upload_limit(deps: WorkerDeps) -> int:
    """Bytes the bot may send in one Telegram message (50 MB cloud, 2000 MB local server)."""
    settings = deps.settings
    limit_mb = (
        settings.local_upload_limit_mb
        if settings.telegram_api_local
        else settings.cloud_upload_limit_mb
    )
    return int(limit_mb * 1024 * 1024)


async def lost_answer(target: Target, exc: Exception) -> None:
    """A send that failed without a clear answer: retry only when nothing left this machine.

    A refused connection means the request never reached Telegram, so another try is safe.
    Anything later (a timeout, a 5xx, a broken answer) may have come after Telegram took the
    message; the caller then fails the platform with a reason that says so, rather than risk
    a second copy.
    """
    log.warning(
        "recording %s: publish:%s send failed: %s",
        target.recording.id,
        target.platform,
        getattr(exc, "message", None) or exc,
    )
    if _never_sent(exc):
        await target.save(resume=None)
        raise Transient(f"Telegram: {getattr(exc, 'message', exc)}")


def _never_sent(exc: BaseException) -> bool:
    """Whether `exc` comes from failing to connect, before any byte of the request went out."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
