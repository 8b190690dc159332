"""The database is the truth: every stage and publication it says is owed has exactly one job.

A sweep runs when an io worker starts and every RECOVERY_INTERVAL seconds. For each
unfinished recording's current stage, each publication still pending or uploading, and each
subtitle translation still running (jobs.translate):

- its lease is held (jobs.presence): a live worker runs it, nothing to do;
- it is queued and not started: it waits for a free worker, nothing to do;
- arq marks it started but nobody holds its lease: its worker died. If it still looks so a
  heartbeat period later (a worker that has just started a job takes the lease a moment after
  arq marks it), the mark is removed and the job runs again on any worker at once, instead
  of after the mark expires (the longest job timeout of that worker plus 10 s);
- Redis knows nothing of it (lost in a flush or a restart without persistence): queue it
  again.

Redis that has just lost its data (no `leap:epoch` key) gets one lease period before the
sweep re-queues anything that was running: live workers renew the leases of what they run
within it, so a stage that is still running somewhere is never started a second time.

A recording still UPLOADING though every publication has its outcome missed its ending (the
job that finished last failed to announce it, say on a locked database): the sweep announces
it, which moves it to READY or FAILED and posts the links message once.

Never a crash loop: a job taken back from dead workers `MAX_RECOVERIES` times fails with a
reason and a Retry button instead of running again, and a FAILED stage or publication is
never touched (only a person's Retry or Publish queues it again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from jobs import keys, metrics, publish
from jobs import translate as translation
from jobs.cards import stage_failed
from jobs.context import WorkerDeps
from jobs.enqueue import enqueue_stage
from jobs.publish import run as publish_run
from jobs.queues import IO, STAGE_QUEUE, job_id
from jobs.runner import RECOVERIES_KEY, failure_text
from leap.settings import Settings
from locales import gettext
from storage import repo
from storage.models import (
    TERMINAL_STATUSES,
    Publication,
    PublicationStatus,
    Recording,
    RecordingStatus,
    StageRun,
    StageStatus,
)

log = logging.getLogger(__name__)

# Keys the workers (jobs.presence) and this sweep share (named in jobs.keys); arq's own are
# read, never renamed.
LEASE_KEY = keys.LEASE
WAKE_CHANNEL = keys.WAKE
EPOCH_KEY = keys.EPOCH
JOB_KEY = "arq:job:"
IN_PROGRESS_KEY = "arq:in-progress:"
RETRY_KEY = "arq:retry:"
# A lease or heartbeat not renewed for this many periods belongs to a dead process.
LEASE_PERIODS = 3


@dataclass(frozen=True)
class Owed:
    """One job the database says a worker owes: a stage, or a publication (``publish:vk``)."""

    workspace_id: int
    recording_id: int
    name: str
    started: bool
    """The database says it began (a stage RUNNING, a publication UPLOADING)."""

    @property
    def job_id(self) -> str:
        return job_id(self.recording_id, self.name)

    @property
    def platform(self) -> str | None:
        return self.name.removeprefix("publish:") if self.name.startswith("publish:") else None

    @property
    def translation(self) -> str | None:
        """The language of a subtitle translation (``translate:en``), else None."""
        return self.name.removeprefix("translate:") if self.name.startswith("translate:") else None

    @property
    def queue(self) -> str:
        return IO if self.platform or self.translation else STAGE_QUEUE[self.name]


async def recover(ctx: dict[str, Any]) -> int:
    """One sweep; returns how many jobs it queued again or handed to another worker."""
    deps: WorkerDeps = ctx["deps"]
    metrics.SWEEPS.inc()
    settling = await _redis_is_new(deps)
    done = 0
    orphans: list[Owed] = []
    for item in await owed(deps):
        try:
            outcome = await _recover(deps, item, settling)
        except Exception:
            log.exception("recording %s: %s not recovered", item.recording_id, item.name)
            continue
        if outcome is None:
            orphans.append(item)
        else:
            done += outcome
    await _announce_finished(deps)
    if orphans:
        await asyncio.sleep(deps.settings.worker_heartbeat)
        for item in orphans:
            try:
                done += await _take_over(deps, item)
            except Exception:
                log.exception("recording %s: %s not taken over", item.recording_id, item.name)
    return done


async def _announce_finished(deps: WorkerDeps) -> None:
    """Finish the recordings whose publishing ended without the ending being announced."""
    for workspace_id, recording_id in await unannounced(deps):
        log.warning("recording %s: publishing ended unannounced; announcing it", recording_id)
        try:
            await publish_run.announce_if_finished(deps, workspace_id, recording_id)
        except Exception:
            log.exception("recording %s: end of publishing not announced", recording_id)


async def unannounced(deps: WorkerDeps) -> list[tuple[int, int]]:
    """(workspace, recording) still UPLOADING with publications, none of them unfinished."""
    mine = Publication.recording_id == Recording.id
    unfinished = Publication.status.in_([PublicationStatus.PENDING, PublicationStatus.UPLOADING])
    async with deps.sessions() as session:
        rows = (
            await session.execute(
                sa.select(Recording.workspace_id, Recording.id).where(
                    Recording.status == RecordingStatus.UPLOADING,
                    sa.exists().where(mine),
                    ~sa.exists().where(mine, unfinished),
                )
            )
        ).all()
    return [(workspace_id, recording_id) for workspace_id, recording_id in rows]


async def owed(deps: WorkerDeps) -> list[Owed]:
    """What the database says is unfinished, across workspaces (ids only; jobs reload rows)."""
    run = aliased(StageRun)
    current = sa.and_(run.recording_id == Recording.id, run.stage == Recording.stage)
    async with deps.sessions() as session:
        stages = (
            await session.execute(
                sa.select(Recording.workspace_id, Recording.id, Recording.stage, run.status)
                .outerjoin(run, current)
                .where(
                    Recording.status.not_in(list(TERMINAL_STATUSES)),
                    Recording.stage.is_not(None),
                )
            )
        ).all()
        publications = (
            await session.execute(
                sa.select(
                    Publication.workspace_id,
                    Publication.recording_id,
                    Publication.platform,
                    Publication.status,
                ).where(
                    Publication.status.in_([PublicationStatus.PENDING, PublicationStatus.UPLOADING])
                )
            )
        ).all()
    found = [
        Owed(w, r, s, status == StageStatus.RUNNING)
        for w, r, s, status in stages
        if s in STAGE_QUEUE
    ]
    found += [
        Owed(w, r, f"publish:{p}", status == PublicationStatus.UPLOADING)
        for w, r, p, status in publications
        if p in publish.PLATFORMS
    ]
    # A translation the database says is queued or running (jobs.translate).
    found += [
        Owed(w, r, f"translate:{lang}", started)
        for w, r, lang, started in await translation.owed_translations(deps)
    ]
    return found


async def _redis_is_new(deps: WorkerDeps) -> bool:
    """Whether Redis lost its data less than a lease period ago (or this is its first use)."""
    now = time.time()
    if await deps.redis.set(EPOCH_KEY, repr(now), nx=True):
        log.info("Redis holds no earlier state; running jobs get a lease period to show up")
        return True
    value = await deps.redis.get(EPOCH_KEY)
    try:
        since = float(value) if value else now
    except ValueError:
        since = now
    return now - since < lease_seconds(deps.settings)


def lease_seconds(settings: Settings) -> float:
    return settings.worker_heartbeat * LEASE_PERIODS


async def _recover(deps: WorkerDeps, item: Owed, settling: bool) -> int | None:
    """What one owed job needs; None when it looks orphaned (to be looked at again)."""
    leased, queued, marked = await _state(deps, item.job_id)
    if leased or (queued and not marked):
        return 0
    if marked:
        return None
    if item.started:
        # Looked at again now: Redis may have lost its data since the sweep began.
        if settling or await _redis_is_new(deps):
            return 0
        if await _recovered_too_often(deps, item):
            return 0
    if await _enqueue(deps, item):
        metrics.RECOVERIES.inc(action="requeued")
        log.info("recording %s: %s re-queued by recovery", item.recording_id, item.name)
        return 1
    return 0


async def _state(deps: WorkerDeps, jid: str) -> tuple[bool, bool, bool]:
    """(leased, queued, marked started by arq) for job `jid`."""
    async with deps.redis.pipeline(transaction=False) as pipe:
        pipe.exists(LEASE_KEY + jid)
        pipe.exists(JOB_KEY + jid)
        pipe.exists(IN_PROGRESS_KEY + jid)
        leased, queued, marked = await pipe.execute()
    return bool(leased), bool(queued), bool(marked)


async def _take_over(deps: WorkerDeps, item: Owed) -> int:
    """Hand a job whose worker died to the next free worker, if it still looks orphaned."""
    jid = item.job_id
    leased, queued, marked = await _state(deps, jid)
    if leased or not marked:
        return 0
    if await _recovered_too_often(deps, item):
        return 0
    log.warning("recording %s: %s lost its worker; handing it on", item.recording_id, item.name)
    await deps.redis.delete(IN_PROGRESS_KEY + jid)
    if queued:
        await _wake(deps, item.queue)
    else:
        await _enqueue(deps, item)
    metrics.RECOVERIES.inc(action="taken_over")
    return 1


async def _recovered_too_often(deps: WorkerDeps, item: Owed) -> bool:
    """Count one more recovery; past MAX_RECOVERIES the job fails instead of running again."""
    key = RECOVERIES_KEY + item.job_id
    count = await deps.redis.incr(key)
    await deps.redis.expire(key, 7 * 24 * 3600)
    if count <= deps.settings.max_recoveries:
        return False
    log.error("recording %s: %s lost its worker too often", item.recording_id, item.name)
    await _drop_job(deps, item)
    if item.platform:
        await _give_up_publication(deps, item)
    elif item.translation:
        await translation.translation_lost(
            deps, item.workspace_id, item.recording_id, item.translation
        )
    else:
        await _give_up_stage(deps, item)
    metrics.RECOVERIES.inc(action="gave_up")
    return True


async def _drop_job(deps: WorkerDeps, item: Owed) -> None:
    jid = item.job_id
    async with deps.redis.pipeline(transaction=True) as pipe:
        pipe.delete(
            JOB_KEY + jid,
            IN_PROGRESS_KEY + jid,
            RETRY_KEY + jid,
            LEASE_KEY + jid,
            RECOVERIES_KEY + jid,
        )
        pipe.zrem(item.queue, jid)
        await pipe.execute()


async def _give_up_stage(deps: WorkerDeps, item: Owed) -> None:
    async with deps.sessions() as session:
        recording = await repo.get_recording(session, item.workspace_id, item.recording_id)
        if recording is None or recording.status.is_terminal or recording.stage != item.name:
            return
        reason = failure_text(recording.language, "worker_lost")
        run = await repo.stage_run(session, item.workspace_id, item.recording_id, item.name)
        repo.mark_finished(run, StageStatus.FAILED, f"worker_lost: {reason}")
        repo.fail_recording(recording, "worker_lost", reason)
        await session.commit()
    metrics.STAGE_FAILURES.inc(stage=item.name, reason="worker_lost")
    await stage_failed(deps, recording, dict(recording.media.get("summaries") or {}), reason)


async def _give_up_publication(deps: WorkerDeps, item: Owed) -> None:
    async with deps.sessions() as session:
        row = await session.scalar(
            sa.select(Publication).where(
                Publication.workspace_id == item.workspace_id,
                Publication.recording_id == item.recording_id,
                Publication.platform == item.platform,
            )
        )
        recording = await repo.get_recording(session, item.workspace_id, item.recording_id)
        if (
            row is None
            or recording is None
            or row.status
            in (
                PublicationStatus.DONE,
                PublicationStatus.FAILED,
            )
        ):
            return
        row.status = PublicationStatus.FAILED
        row.error = gettext(recording.language, "publish.error.internal")
        await session.commit()
    metrics.UPLOADS.inc(platform=item.platform or "", outcome="failed")
    # The links message goes out once every platform has an outcome; this one now has.
    await publish_run.announce_if_finished(deps, item.workspace_id, item.recording_id)


async def _enqueue(deps: WorkerDeps, item: Owed) -> bool:
    if item.translation:
        return await translation.enqueue_translation(
            deps.redis, item.workspace_id, item.recording_id, item.translation
        )
    if item.platform is None:
        return await enqueue_stage(deps.redis, item.workspace_id, item.recording_id, item.name)
    job = await deps.redis.enqueue_job(
        f"publish_{item.platform}",
        item.workspace_id,
        item.recording_id,
        _job_id=item.job_id,
        _queue_name=IO,
    )
    return job is not None


async def _wake(deps: WorkerDeps, queue: str) -> None:
    try:
        await deps.redis.publish(WAKE_CHANNEL + queue, b"1")
    except Exception:
        log.debug("wake-up for %s not sent", queue, exc_info=True)
