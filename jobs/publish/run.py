"""The arq jobs that publish: one ``publish_<platform>`` function per platform, in parallel.

Each job loads the recording, its Publication row and the workspace's connection for the
platform, hands a `Target` to the platform's publisher, and records the outcome.

- A job that finds its row done or failed is stale (a second copy queued by the sweep): it does
  nothing but check whether publishing has ended.
- Faults: transient ones retry with a growing delay, at most MAX_TRIES times before the
  platform is given up; a revoked grant marks the connection broken (only the credential the
  job used: one renewed meanwhile may well work), asks the chat to reconnect and fails the
  platform; anything else fails the platform with a reason while the others carry on.
- The end: when no publication of the recording is pending or uploading, the recording becomes
  READY if at least one platform published it, FAILED if every one failed, and the chat gets
  one message with every link and, for each failed platform, the reason in plain words. The
  jobs of one recording finish in parallel; only the one that moves the recording's status
  announces, so the chat gets exactly one message.
- The review card follows along: it shows the per-platform lines while the jobs run, and each
  platform's outcome with the buttons that still apply (Publish again, Delete) at the end.

This is the one module of the package that draws on the chat's cards. It reaches them through
the `jobs.cards` module object, read when a job runs: jobs.cards imports the rest of the
package, and this module is re-exported by the package for the worker.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa
from aiogram.exceptions import TelegramAPIError
from arq import Retry
from arq.worker import Function, func

from jobs import cards
from jobs.context import WorkerDeps
from jobs.progress import ProgressMessage
from jobs.publish.errors import PublishFailure, Reconnect, Transient
from jobs.publish.metadata import esc, read_metadata
from jobs.publish.outcome import Lines, line, links_message
from jobs.publish.registry import BY_NAME, REGISTRY
from jobs.publish.target import MEDIA_LOCKS, Target, current_credential, publication_row
from storage import repo
from storage.crypto import SecretBoxError
from storage.models import Credential, PublicationStatus, Recording, RecordingStatus

log = logging.getLogger(__name__)

# Transient faults are retried this many times before the platform is given up on.
MAX_TRIES = 20


async def _draw(target: Target, state: str, params: dict[str, Any]) -> None:
    """A platform's line in the progress message and on the review card."""
    text = line(target.lang, state, target.platform, **params)
    lines = await Lines(target.deps.redis, target.recording.id).set(target.platform, text)
    progress = _progress(target.deps, target.recording)
    if progress is not None:
        summaries = target.recording.media.get("summaries") or {}
        progress.update(cards.render(target.recording, dict(summaries), lines))
    cards.show_publishing(target.deps.progress, target.recording, target.metadata, lines)


def _progress(deps: WorkerDeps, recording: Recording) -> ProgressMessage | None:
    if recording.chat_id is None or recording.progress_message_id is None:
        return None
    return deps.progress.message(recording.chat_id, recording.progress_message_id)


def _backoff(deps: WorkerDeps, job_try: int) -> float:
    base = deps.settings.publish_retry_delay * 30
    return min(base * 2 ** max(job_try - 1, 0), 1800.0)


async def run_publish(
    ctx: dict[str, Any], platform: str, workspace_id: int, recording_id: int
) -> None:
    deps: WorkerDeps = ctx["deps"]
    job_try = int(ctx.get("job_try") or 1)
    async with deps.sessions() as session:
        recording = await repo.get_recording(session, workspace_id, recording_id)
        publication = await publication_row(session, workspace_id, recording_id, platform)
        if recording is None or publication is None:
            log.info("recording %s: publish:%s has nothing to do", recording_id, platform)
            return
        if publication.status in (PublicationStatus.DONE, PublicationStatus.FAILED):
            log.info("recording %s: stale publish:%s job ignored", recording_id, platform)
            await announce_if_finished(deps, workspace_id, recording_id)
            return
        credential = None
        provider = BY_NAME[platform].provider
        if provider is not None:
            found = await repo.credentials(session, workspace_id, provider)
            credential = found[-1] if found else None
        publication.status = PublicationStatus.UPLOADING
        publication.attempts += 1
        await session.commit()

    target = Target(deps, recording, platform, publication, credential, job_try, _draw)
    await target.show("starting")
    try:
        url = await BY_NAME[platform].publish(target)
    except Transient as exc:
        await _retry_later(target, str(exc))
    except Reconnect:
        if not await _connection_broken(target):
            await _retry_later(target, "the connection was renewed meanwhile")
            return
        await _finish(target, error=target._("publish.error.reconnect", platform=target.name))
    except PublishFailure as exc:
        await _finish(target, error=target._(f"publish.error.{exc.code}", **exc.params))
    except (Retry, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("recording %s: publish:%s crashed", recording_id, platform)
        await _finish(target, error=target._("publish.error.internal"))
    else:
        await _finish(target, url=url)


async def _connection_broken(target: Target) -> bool:
    """Mark the connection as needing a new sign-in and ask the chat for one.

    Only the credential this job used is marked: when the stored one changed meanwhile (a new
    sign-in, another job's refresh) it is left alone and False comes back, since that one may
    well work.
    """
    box = target.deps.secrets
    credential = target.credential
    if credential is not None and box is not None:
        try:
            payload = box.decrypt(credential.payload)
        except SecretBoxError:
            payload = {}
        payload["broken"] = True
        async with target.deps.sessions() as session:
            marked = await session.execute(
                sa.update(Credential)
                .where(
                    Credential.workspace_id == target.recording.workspace_id,
                    Credential.id == credential.id,
                    Credential.payload == credential.payload,
                )
                .values(payload=box.encrypt(payload))
            )
            await session.commit()
        if marked.rowcount != 1:
            async with target.deps.sessions() as session:
                row = await current_credential(session, target.recording.workspace_id, credential)
            if row is not None:
                log.info(
                    "recording %s: %s connection renewed meanwhile; not marked broken",
                    target.recording.id,
                    target.platform,
                )
                return False
    await target.tell(target._("publish.reconnect", platform=target.name))
    return True


async def _retry_later(target: Target, why: str) -> None:
    """Raise arq's Retry with a growing delay; after MAX_TRIES, give the platform up."""
    if target.job_try >= MAX_TRIES:
        await _finish(target, error=target._("publish.error.gave_up", platform=target.name))
        return
    delay = _backoff(target.deps, target.job_try)
    log.warning(
        "recording %s: publish:%s will retry in %.0f s (%s)",
        target.recording.id,
        target.platform,
        delay,
        why,
    )
    await target.show("retrying")
    raise Retry(defer=delay)


async def _finish(target: Target, *, url: str | None = None, error: str | None = None) -> None:
    done = error is None
    fields: dict[str, Any] = {
        "status": PublicationStatus.DONE if done else PublicationStatus.FAILED,
        "error": error if not done else target.publication.error,
    }
    if done:
        fields["url"] = url
    # A file sent into the chat has no link; the log says where it went all the same.
    outcome = {"url": url} if done else {"error": (error or "")[:500]}
    await target.save(outcome=outcome, **fields)
    if done:
        await target.show("done")
    else:
        await target.show("failed", reason=esc(error or ""))
        log.info("recording %s: publish:%s failed", target.recording.id, target.platform)
    await announce_if_finished(target.deps, target.recording.workspace_id, target.recording.id)


async def announce_if_finished(deps: WorkerDeps, workspace_id: int, recording_id: int) -> None:
    """Once every platform has an outcome: the recording's final status and one links message."""
    async with deps.sessions() as session:
        rows = await repo.publications(session, workspace_id, recording_id)
        if not rows or any(
            r.status in (PublicationStatus.PENDING, PublicationStatus.UPLOADING) for r in rows
        ):
            return
        recording = await repo.get_recording(session, workspace_id, recording_id)
        if recording is None:
            return
        published = [r for r in rows if r.status == PublicationStatus.DONE]
        values: dict[str, Any] = {"status": RecordingStatus.READY}
        if not published:
            # Nothing reached anyone: the recording failed, with every platform's reason.
            values = {
                "status": RecordingStatus.FAILED,
                "failure_code": "publish_failed",
                "failure_reason": "\n".join(f"{r.platform}: {r.error}" for r in rows)[:4000],
            }
        # The jobs of one recording finish in parallel; only the one that moves the status
        # announces, so the chat gets exactly one message.
        moved = await session.execute(
            sa.update(Recording)
            .where(
                Recording.workspace_id == workspace_id,
                Recording.id == recording_id,
                Recording.status == RecordingStatus.UPLOADING,
            )
            .values(**values)
        )
        if moved.rowcount != 1:
            return
        await session.commit()
    MEDIA_LOCKS.pop(recording_id, None)
    log.info(
        "recording %s: publishing finished (%d of %d)", recording_id, len(published), len(rows)
    )
    if recording.chat_id is None:
        return
    folder = deps.store.recording_dir(workspace_id, recording_id)
    text = links_message(recording, rows, read_metadata(folder, recording)["title"])
    try:
        await deps.bot.send_message(
            recording.chat_id,
            text,
            message_thread_id=recording.thread_id,
            disable_web_page_preview=True,
        )
    except TelegramAPIError as exc:
        log.warning("recording %s: links message not sent: %s", recording_id, exc.message)
    if recording.progress_message_id is not None:
        await deps.progress.finish(recording.chat_id, recording.progress_message_id)
    await Lines(deps.redis, recording_id).clear()
    # The card ends with every platform's outcome and what can still be done about it.
    await cards.publishing_ended(deps, recording)


def _function(platform: str) -> Function:
    async def job(ctx: dict[str, Any], workspace_id: int, recording_id: int) -> None:
        await run_publish(ctx, platform, workspace_id, recording_id)

    spec = BY_NAME[platform]
    name = spec.job_name
    job.__name__ = job.__qualname__ = name
    # keep_result=0 frees the job id when the job ends, so publishing can be asked for again.
    return func(job, name=name, keep_result=0, max_tries=MAX_TRIES + 5, timeout=spec.timeout)


# The arq functions of the io worker that publish (`publish_youtube`, ...).
FUNCTIONS: list[Function] = [_function(p.name) for p in REGISTRY]
