"""Runs one stage of one recording: mark it, do it, save it, report it, hand on to the next.

Every run has a deadline (`stage_timeout`): a stage still running at its deadline is ended
here, so the chat is told why, rather than by arq's own timeout, which would only drop the
job. Running out of disk space fails the stage with its own reason; the files already made
(the source above all) stay, and the stage's own half-written output is never used because
every output appears under its real name only once complete.

With media in a bucket (STORAGE_BACKEND=s3) the recording's folder is this machine's working
copy: the run pulls what the folder lacks before the stage and pushes what the stage made
before the stage counts as done, so the next stage may run on any machine.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from arq import Retry
from sqlalchemy.ext.asyncio import AsyncSession

from jobs import keys, metrics
from jobs.cards.progress_card import render, stage_failed
from jobs.cards.review_card import pipeline_finished
from jobs.context import WorkerDeps
from jobs.enqueue import enqueue_stage
from jobs.progress import ProgressMessage
from jobs.queues import PIPELINE, job_id
from leap.settings import Settings
from locales import gettext
from locales.format import duration
from pipeline.errors import MediaError
from storage import repo
from storage.models import TERMINAL_STATUSES, Recording, RecordingStatus, StageStatus
from storage.objects import ObjectStoreError

log = logging.getLogger(__name__)


# arq runs a stage at most this many times; the last transient failure becomes a real one.
MAX_TRIES = 5

# Honest upper bounds for one run of a stage; STAGE_TIMEOUTS in the settings overrides them.
STAGE_TIMEOUTS = {"fetch": 3 * 3600, "trim": 3600, "transcribe": 3 * 3600}
DEFAULT_STAGE_TIMEOUT = 1800.0
# Errors of a write that found no room: the disk (or a quota, or a file size limit) is full.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
DISK_FULL_TEXTS = ("No space left on device", "File too large", "Disk quota exceeded")
# Where a stage's count of recoveries from dead workers is kept (see jobs.recovery).
RECOVERIES_KEY = keys.RECOVERIES
# Seconds before a stage whose media could not be moved to or from the bucket runs again,
# by attempt.
STORAGE_RETRY_DELAYS = (15, 60, 180, 600)


def stage_timeout(settings: Settings, name: str) -> float:
    """Seconds one run of stage (or arq function) `name` may take."""
    configured = settings.stage_timeouts.get(name)
    if configured:
        return float(configured)
    return float(STAGE_TIMEOUTS.get(name, DEFAULT_STAGE_TIMEOUT))


def scale_retry(exc: Retry, settings: Settings) -> None:
    """Stretch or shrink a retry's wait by the operator's RETRY_DELAY_SCALE."""
    scale = settings.retry_delay_scale
    if exc.defer_score and scale != 1.0:
        exc.defer_score = max(int(exc.defer_score * scale), 1)


def failure_text(lang: str, code: str, **params: Any) -> str:
    """The message for failure `code`; the general one when the catalogue has none."""
    key = f"error.{code}"
    text = gettext(lang, key, **params)
    return text if text != key else gettext(lang, "error.internal")


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a write that found the disk full."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(seen, MediaError) and any(t in seen.detail for t in DISK_FULL_TEXTS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class TransientFailure(Retry):
    """Try the stage again later; after the last try, fail it with the `code` message."""

    def __init__(self, code: str, *, defer: float, **params: Any) -> None:
        super().__init__(defer=defer)
        self.code = code
        self.params = params


class StageFailure(Exception):
    """A failure the user can act on; `code` names an `error.*` message."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


StageFunc = Callable[["StageJob"], Awaitable[None]]
STAGES: dict[str, StageFunc] = {}

# What a recording's status is while a stage runs, and once the pipeline has nothing more to do.
RUNNING_STATUS = {"fetch": RecordingStatus.DOWNLOADING}
FINAL_STATUS_AFTER = {
    "fetch": RecordingStatus.DOWNLOADED,
    "trim": RecordingStatus.PROCESSED,
    "compose": RecordingStatus.AWAITING_REVIEW,
}


def stage(name: str) -> Callable[[StageFunc], StageFunc]:
    def register(func: StageFunc) -> StageFunc:
        STAGES[name] = func
        return func

    return register


def next_stage(current: str) -> str | None:
    later = PIPELINE[PIPELINE.index(current) + 1 :]
    return next((s for s in later if s in STAGES), None)


@dataclass
class StageJob:
    """A stage's view of its recording: read it, report on it, record what it found."""

    deps: WorkerDeps
    recording: Recording
    name: str
    progress: ProgressMessage | None
    summaries: dict[str, str] = field(default_factory=dict)
    updates: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1

    @property
    def lang(self) -> str:
        return self.recording.language

    def _(self, key: str, /, **params: Any) -> str:
        return gettext(self.lang, key, **params)

    def report(self, line: str) -> None:
        """Show `line` as this stage's current state under the lines of finished stages."""
        if self.progress is not None:
            self.progress.update(render(self.recording, self.summaries, line))

    def summarize(self, line: str) -> None:
        """The line that stays in the progress message once this stage is done."""
        self.summaries[self.name] = line

    def save(self, **fields: Any) -> None:
        """Fields of the recording to store when the stage succeeds; `media` is merged."""
        media = fields.pop("media", None)
        if media:
            self.updates.setdefault("media", {}).update(media)
        self.updates.update(fields)


async def run_stage(ctx: dict[str, Any], name: str, workspace_id: int, recording_id: int) -> None:
    deps: WorkerDeps = ctx["deps"]
    async with deps.sessions() as session:
        ours = await _still_ours(session, workspace_id, recording_id, name)
        recording = await repo.get_recording(session, workspace_id, recording_id)
        if recording is None or not ours:
            log.info("recording %s: stale %s job ignored", recording_id, name)
            return
        run = await repo.stage_run(session, workspace_id, recording_id, name)
        repo.mark_running(run)
        recording.status = RUNNING_STATUS.get(name, RecordingStatus.PROCESSING)
        await session.commit()

    progress = _progress_for(deps, recording)
    job = StageJob(
        deps=deps,
        recording=recording,
        name=name,
        progress=progress,
        summaries=dict(recording.media.get("summaries", {})),
        attempt=int(ctx.get("job_try") or 1),
    )
    started = time.monotonic()
    deadline = stage_timeout(deps.settings, name)
    try:
        try:
            async with asyncio.timeout(deadline) as limit:
                await sync_media(job, push=False)
                await STAGES[name](job)
                # Before the stage counts as done: the next one may run on another machine.
                await sync_media(job, push=True)
        except TimeoutError as exc:
            if not limit.expired():
                raise
            log.warning("recording %s: %s still running after %.0f s", recording_id, name, deadline)
            raise TransientFailure("stage_timeout", defer=60) from exc
    except TransientFailure as exc:
        if job.attempt >= MAX_TRIES:
            await _fail(deps, job, exc.code, failure_text(job.lang, exc.code, **exc.params))
            _observe(name, "failed", started, exc.code)
            return
        if not await _will_retry(deps, job, f"will retry: {exc.code}"):
            return
        scale_retry(exc, deps.settings)
        _observe(name, "retry", started, exc.code)
        raise
    except Retry as exc:
        if not await _will_retry(deps, job, "will retry"):
            return
        scale_retry(exc, deps.settings)
        _observe(name, "retry", started, "retry")
        raise
    except StageFailure as exc:
        await _fail(deps, job, exc.code, job._(f"error.{exc.code}", **exc.params))
        _observe(name, "failed", started, exc.code)
        return
    except ObjectStoreError as exc:
        log.error("recording %s: %s: media store: %s", recording_id, name, exc)
        await _fail(deps, job, "storage", failure_text(job.lang, "storage"))
        _observe(name, "failed", started, "storage")
        return
    except Exception as exc:
        if is_disk_full(exc):
            log.error("recording %s: %s found the disk full: %s", recording_id, name, exc)
            await _fail(deps, job, "disk_full", failure_text(job.lang, "disk_full"))
            _observe(name, "failed", started, "disk_full")
            return
        if isinstance(exc, MediaError):
            await _fail(deps, job, exc.code, _media_reason(job, exc))
            _observe(name, "failed", started, exc.code)
            return
        log.exception("recording %s: stage %s crashed", recording_id, name)
        await _fail(deps, job, "internal", job._("error.internal"))
        _observe(name, "failed", started, "internal")
        return

    following = next_stage(name)
    async with deps.sessions() as session:
        taken = await _still_ours(session, workspace_id, recording_id, name)
        recording = await repo.get_recording(session, workspace_id, recording_id)
        if recording is None:
            # Deleted while the stage ran: what it has written since belongs to no one.
            await asyncio.to_thread(deps.store.delete_recording, workspace_id, recording_id)
            return
        if not taken:
            _dropped(recording, name)
            return
        for key, value in job.updates.items():
            if key != "media":
                setattr(recording, key, value)
        recording.media = {
            **recording.media,
            **job.updates.get("media", {}),
            "summaries": job.summaries,
        }
        run = await repo.stage_run(session, workspace_id, recording_id, name)
        repo.mark_finished(run, StageStatus.DONE)
        recording.stage = following
        if following is None:
            recording.status = FINAL_STATUS_AFTER.get(name, RecordingStatus.PROCESSED)
        else:
            await repo.stage_run(session, workspace_id, recording_id, following)
        await session.commit()
        job.recording = recording
    _observe(name, "done", started)
    await forget_recoveries(deps, job_id(recording_id, name))

    if following is not None:
        await enqueue_stage(deps.redis, workspace_id, recording_id, following)
        job.report("")
    else:
        await pipeline_finished(deps, recording, job.summaries)


async def sync_media(job: StageJob, *, push: bool) -> None:
    """Pull the recording's files into this machine's folder, or push the stage's outputs.

    Nothing happens with the local store. A bucket that does not answer makes the stage run
    again later; one that refuses (credentials, no such bucket) fails it.
    """
    store = job.deps.store
    recording = job.recording
    try:
        if push:
            await store.push(recording.workspace_id, recording.id)
        else:
            await store.pull(recording.workspace_id, recording.id)
    except ObjectStoreError as exc:
        if not exc.transient:
            raise
        log.warning("recording %s: media store: %s", recording.id, exc)
        delay = STORAGE_RETRY_DELAYS[min(job.attempt - 1, len(STORAGE_RETRY_DELAYS) - 1)]
        raise TransientFailure("storage", defer=delay) from exc


def _observe(name: str, outcome: str, started: float, reason: str | None = None) -> None:
    metrics.STAGE_SECONDS.observe(time.monotonic() - started, stage=name, outcome=outcome)
    if outcome == "failed" and reason is not None:
        metrics.STAGE_FAILURES.inc(stage=name, reason=reason)
    elif outcome == "retry" and reason is not None:
        metrics.STAGE_RETRIES.inc(stage=name, reason=reason)


async def forget_recoveries(deps: WorkerDeps, jid: str) -> None:
    """The stage ended on its own: earlier recoveries from dead workers no longer count."""
    try:
        await deps.redis.delete(RECOVERIES_KEY + jid)
    except Exception:
        log.debug("recoveries of %s not cleared", jid, exc_info=True)


def _progress_for(deps: WorkerDeps, recording: Recording) -> ProgressMessage | None:
    if recording.chat_id is None or recording.progress_message_id is None:
        return None
    return deps.progress.message(recording.chat_id, recording.progress_message_id)


def _media_reason(job: StageJob, exc: MediaError) -> str:
    key = f"error.{exc.code}"
    if exc.code == "too_long":
        limit = job.deps.settings.max_duration_hours * 3600
        actual = job.recording.media.get("source", {}).get("duration") or 0.0
        return job._(key, duration=duration(actual), limit=duration(limit))
    text = job._(key)
    return text if text != key else job._("error.internal")


async def _still_ours(
    session: AsyncSession, workspace_id: int, recording_id: int, name: str
) -> bool:
    """Hold the recording's row for this stage; False when the stage is no longer its to run.

    A cancel (or a delete, or a worker that took the stage over) may land while the stage
    runs; the recording then has a final status or another stage, and what this run found
    must not undo that. The conditional UPDATE locks the row, so nothing can land between
    this check and the commit that records what the stage did.
    """
    taken = await session.execute(
        sa.update(Recording)
        .where(
            Recording.workspace_id == workspace_id,
            Recording.id == recording_id,
            Recording.stage == name,
            Recording.status.not_in(TERMINAL_STATUSES),
        )
        .values(stage=name)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


async def _will_retry(deps: WorkerDeps, job: StageJob, note: str) -> bool:
    """Mark the stage's run as waiting for its next try; False when the recording was stopped."""
    recording = job.recording
    async with deps.sessions() as session:
        taken = await _still_ours(session, recording.workspace_id, recording.id, job.name)
        current = await repo.get_recording(session, recording.workspace_id, recording.id)
        if current is None or not taken:
            if current is not None:
                _dropped(current, job.name)
            return False
        run = await repo.stage_run(session, recording.workspace_id, recording.id, job.name)
        repo.mark_finished(run, StageStatus.PENDING, note)
        await session.commit()
    return True


def _dropped(recording: Recording, name: str) -> None:
    log.info(
        "recording %s: %s ended after the recording became %s (%s); its outcome is dropped",
        recording.id,
        name,
        recording.status.value,
        recording.failure_code or recording.stage,
    )


async def _fail(deps: WorkerDeps, job: StageJob, code: str, reason: str) -> None:
    recording = job.recording
    async with deps.sessions() as session:
        taken = await _still_ours(session, recording.workspace_id, recording.id, job.name)
        current = await repo.get_recording(session, recording.workspace_id, recording.id)
        if current is None:
            return
        if not taken:
            # Cancelled: the stage run already says so, and the chat was told by whoever did it.
            _dropped(current, job.name)
            return
        run = await repo.stage_run(session, recording.workspace_id, recording.id, job.name)
        repo.mark_finished(run, StageStatus.FAILED, f"{code}: {reason}")
        repo.fail_recording(current, code, reason)
        current.media = {**current.media, "summaries": job.summaries}
        await session.commit()
    await forget_recoveries(deps, job_id(recording.id, job.name))
    await stage_failed(deps, recording, job.summaries, reason)
