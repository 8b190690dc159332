"""Runs one stage of one recording: mark it, do it, save it, report it, hand on to the next."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from arq import Retry

from jobs.cards import pipeline_finished, render, stage_failed
from jobs.context import WorkerDeps
from jobs.enqueue import enqueue_stage
from jobs.progress import ProgressMessage
from jobs.queues import PIPELINE
from locales import gettext
from pipeline.errors import MediaError
from storage import repo
from storage.models import Recording, RecordingStatus, StageStatus

log = logging.getLogger(__name__)


# arq runs a stage at most this many times; the last transient failure becomes a real one.
MAX_TRIES = 5


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
        recording = await repo.get_recording(session, workspace_id, recording_id)
        if recording is None or recording.stage != name or recording.status.is_terminal:
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
    try:
        await STAGES[name](job)
    except TransientFailure as exc:
        if job.attempt >= MAX_TRIES:
            await _fail(deps, job, exc.code, job._(f"error.{exc.code}", **exc.params))
            return
        async with deps.sessions() as session:
            run = await repo.stage_run(session, workspace_id, recording_id, name)
            repo.mark_finished(run, StageStatus.PENDING, f"will retry: {exc.code}")
            await session.commit()
        raise
    except Retry:
        async with deps.sessions() as session:
            run = await repo.stage_run(session, workspace_id, recording_id, name)
            repo.mark_finished(run, StageStatus.PENDING, "will retry")
            await session.commit()
        raise
    except StageFailure as exc:
        await _fail(deps, job, exc.code, job._(f"error.{exc.code}", **exc.params))
        return
    except MediaError as exc:
        await _fail(deps, job, exc.code, _media_reason(job, exc))
        return
    except Exception:
        log.exception("recording %s: stage %s crashed", recording_id, name)
        await _fail(deps, job, "internal", job._("error.internal"))
        return

    following = next_stage(name)
    async with deps.sessions() as session:
        recording = await repo.get_recording(session, workspace_id, recording_id)
        if recording is None:
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

    if following is not None:
        await enqueue_stage(deps.redis, workspace_id, recording_id, following)
        job.report("")
    else:
        await pipeline_finished(deps, recording, job.summaries)


def _progress_for(deps: WorkerDeps, recording: Recording) -> ProgressMessage | None:
    if recording.chat_id is None or recording.progress_message_id is None:
        return None
    return deps.progress.message(recording.chat_id, recording.progress_message_id)


def _media_reason(job: StageJob, exc: MediaError) -> str:
    key = f"error.{exc.code}"
    if exc.code == "too_long":
        from locales.format import duration

        limit = job.deps.settings.max_duration_hours * 3600
        actual = job.recording.media.get("duration") or 0.0
        return job._(key, duration=duration(actual), limit=duration(limit))
    text = job._(key)
    return text if text != key else job._("error.internal")


async def _fail(deps: WorkerDeps, job: StageJob, code: str, reason: str) -> None:
    recording = job.recording
    async with deps.sessions() as session:
        current = await repo.get_recording(session, recording.workspace_id, recording.id)
        if current is None:
            return
        run = await repo.stage_run(session, recording.workspace_id, recording.id, job.name)
        repo.mark_finished(run, StageStatus.FAILED, f"{code}: {reason}")
        repo.fail_recording(current, code, reason)
        current.media = {**current.media, "summaries": job.summaries}
        await session.commit()
    await stage_failed(deps, recording, job.summaries, reason)
