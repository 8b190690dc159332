"""A cancel that lands while a stage is finishing stays a cancel, whatever the stage did.

The abort a cancel sends cannot reach a stage that is already past its last await (saving
its outcome, say), so the stage's end meets a recording that is cancelled already. Here the
stage is held until the cancel is in, then let go: it succeeds, fails, or asks for a retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from arq.connections import ArqRedis, create_pool

from jobs import control, runner
from jobs.context import WorkerDeps
from jobs.runner import StageFailure, StageJob, TransientFailure, run_stage
from jobs.worker import build_deps, close_deps, redis_settings
from leap.settings import Settings
from storage import repo
from storage.models import (
    Recording,
    RecordingStatus,
    Role,
    SourceKind,
    StageRun,
    StageStatus,
    WorkspaceKind,
)
from tests.bot.chat_fixtures import rows, seen
from tests.fakes.telegram import FakeTelegram


@dataclass
class Held:
    """The compose stage, stopped until `release`; then it ends as `outcome` says."""

    outcome: str
    started: asyncio.Event
    release: asyncio.Event

    async def __call__(self, job: StageJob) -> None:
        self.started.set()
        await self.release.wait()
        if self.outcome == "fails":
            raise StageFailure("internal")
        if self.outcome == "retries":
            raise TransientFailure("stage_timeout", defer=1)
        job.summarize("📝 Described")
        job.save(media={"compose": {"template": "default", "title": "Signals"}})


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[tuple[WorkerDeps, ArqRedis]]:
    redis = await create_pool(redis_settings(settings))
    deps = await build_deps(settings, redis)
    yield deps, redis
    await close_deps(deps)
    await redis.aclose()


async def _composing(deps: WorkerDeps, telegram: FakeTelegram) -> Recording:
    """A recording whose last stage, compose, is about to run; its chat shows the progress."""
    user = telegram.user(1301, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    progress = await deps.bot.send_message(chat["id"], "🎬 signals.mp4")
    async with deps.sessions() as session:
        workspace, _ = await repo.ensure_workspace(
            session, chat["id"], WorkspaceKind.PERSONAL, "Ann"
        )
        await repo.upsert_member(session, workspace.id, user["id"], role=Role.OWNER)
        recording = await repo.create_recording(
            session,
            workspace.id,
            created_by=user["id"],
            source_kind=SourceKind.TELEGRAM,
            source_ref="file-id",
            source_name="signals.mp4",
            source_ext="mp4",
            status=RecordingStatus.PROCESSING,
            stage="compose",
            chat_id=chat["id"],
            progress_message_id=progress.message_id,
        )
        await repo.stage_run(session, workspace.id, recording.id, "compose")
        await session.commit()
        return recording


@pytest.mark.parametrize("outcome", ["succeeds", "fails", "retries"])
async def test_a_stage_ending_after_a_cancel_leaves_the_recording_cancelled(
    settings: Settings,
    telegram: FakeTelegram,
    worker: tuple[WorkerDeps, ArqRedis],
    monkeypatch: pytest.MonkeyPatch,
    outcome: str,
) -> None:
    deps, redis = worker
    held = Held(outcome, asyncio.Event(), asyncio.Event())
    monkeypatch.setitem(runner.STAGES, "compose", held)
    recording = await _composing(deps, telegram)
    ctx = {"deps": deps, "job_try": 1}
    stage = asyncio.create_task(run_stage(ctx, "compose", recording.workspace_id, recording.id))
    await asyncio.wait_for(held.started.wait(), 10)

    async with deps.sessions() as session:
        stopped = await control.cancel(
            session, redis, recording.workspace_id, recording.id, "⏹ Cancelled by Ann.", wait=0.1
        )
    assert stopped == "compose"
    held.release.set()
    await asyncio.wait_for(stage, 10)  # a retry is not raised to arq: nothing runs again
    await deps.progress.drain_all()

    [after] = await rows(settings, Recording, id=recording.id)
    assert after.status == RecordingStatus.FAILED
    assert after.failure_code == "cancelled"
    assert after.failure_reason == "⏹ Cancelled by Ann."
    assert after.stage == "compose"
    [run] = await rows(settings, StageRun, recording_id=recording.id)
    assert (run.status, run.error) == (StageStatus.FAILED, "cancelled")
    # No review card, no failure message: the chat sees only what the cancel said.
    shown = [seen(m) for m in telegram.sent(1301)]
    assert not [text for text in shown if "Ready for review" in text or "went wrong" in text]
    assert len(shown) == 1
