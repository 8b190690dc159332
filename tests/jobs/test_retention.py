"""Old media is deleted on schedule; the recordings, their metadata and links stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from jobs.retention import expirable, expire_recording, retention
from leap.settings import Settings
from storage.db import create_engine
from storage.files import MediaStore
from storage.models import AuditEvent, Publication, Recording, RecordingStatus
from tests.bot.test_zoom_e2e import rows
from tests.conftest import running
from tests.fakes.telegram import FakeTelegram
from tests.jobs.conftest import World
from tests.jobs.test_zoom_sync import set_workspace, worker_deps


async def settled(url: str, count: int, timeout: float = 90.0) -> list[Recording]:
    """The chat's recordings once no worker owes any of them anything."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await rows(url, Recording)
        if len(found) == count and all(RecordingStatus(r.status).is_terminal for r in found):
            return found
        assert loop.time() < deadline, found
        await asyncio.sleep(0.1)


async def run_sql(url: str, statement: sa.Executable) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(statement)
    finally:
        await engine.dispose()


async def test_old_media_is_freed_and_the_chat_is_told(
    settings: Settings, telegram: FakeTelegram, small_video: Path
) -> None:
    async with running(settings, telegram), worker_deps(settings) as deps:
        user = telegram.user(921, "Lena", language_code="en")
        chat = telegram.private_chat(user)
        await telegram.send_document(
            chat, user, small_video, file_name="old lecture.mp4", mime_type="video/mp4"
        )
        await settled(settings.database_url, 1)
        await telegram.send_document(
            chat, user, small_video, file_name="new lecture.mp4", mime_type="video/mp4"
        )
        old, new = await settled(settings.database_url, 2)
        workspace_id = await set_workspace(settings.database_url, 921, retention_days=30)
        folders = {
            r.id: MediaStore(settings.storage_dir).recording_dir(workspace_id, r.id, create=False)
            for r in (old, new)
        }
        assert all((folder / "source.mp4").exists() for folder in folders.values())

        # The old lecture was published forty days ago and nobody touched it since.
        await run_sql(
            settings.database_url,
            sa.insert(Publication).values(
                workspace_id=workspace_id,
                recording_id=old.id,
                platform="youtube",
                status="done",
                remote_id="yt-1",
                url="https://youtu.be/yt-1",
                attempts=1,
            ),
        )
        await run_sql(
            settings.database_url,
            sa.update(Recording)
            .where(Recording.id == old.id)
            .values(updated_at=datetime.now(UTC) - timedelta(days=40)),
        )

        mark = telegram.mark()
        freed = await retention({"deps": deps})
        assert freed > small_video.stat().st_size
        notice = await telegram.wait_for_message(921, after=mark)
        text = notice.content or ""
        assert "Storage cleanup" in text and "older than 30 days" in text
        assert "old lecture.mp4" in text and "new lecture.mp4" not in text

        assert not folders[old.id].exists()
        assert (folders[new.id] / "source.mp4").exists()

        # A second sweep has nothing left to free and stays quiet.
        before = len(telegram.sent(921))
        assert await retention({"deps": deps}) == 0
        assert len(telegram.sent(921)) == before

    kept = {r.id: r for r in await rows(settings.database_url, Recording)}
    assert kept[old.id].status == RecordingStatus.EXPIRED.value
    assert kept[old.id].source_name == "old lecture.mp4"
    assert kept[old.id].media["metadata"]["title"]
    assert kept[new.id].status != RecordingStatus.EXPIRED.value
    links = await rows(settings.database_url, Publication)
    assert [(p.recording_id, p.url) for p in links] == [(old.id, "https://youtu.be/yt-1")]
    # The log says the sweep removed the old lecture's media, and no person did.
    events = [
        e for e in await rows(settings.database_url, AuditEvent) if e.action == "media_expired"
    ]
    assert [(e.target, e.user_id) for e in events] == [(f"recording:{old.id}", None)]
    assert events[0].details["name"] == "old lecture.mp4"
    assert events[0].details["by"] == "retention"
    assert events[0].details["bytes"] > 0


async def test_a_recording_published_while_the_sweep_runs_keeps_its_media(world: World) -> None:
    url = world.settings.database_url
    await run_sql(
        url,
        sa.update(Recording)
        .where(Recording.id == world.recording_id)
        .values(updated_at=datetime.now(UTC) - timedelta(days=40)),
    )
    cutoff = datetime.now(UTC) - timedelta(days=30)

    async with worker_deps(world.settings) as deps:
        assert await expirable(deps.sessions, world.workspace_id, cutoff) == [world.recording_id]
        # Between the sweep's look and its change, a person presses Publish.
        assert await world.publish(["export"]) == ["export"]
        expired = await expire_recording(
            deps.sessions,
            deps.store,
            world.workspace_id,
            world.recording_id,
            cutoff,
            days=30,
            by="retention",
        )

    assert expired is None
    assert (world.folder / "video.mp4").read_bytes()
    recording = await world.recording()
    assert recording.status == RecordingStatus.UPLOADING.value
    assert "expired_at" not in recording.media
    assert not [e for e in await world.audit() if e.action == "media_expired"]


async def test_a_recording_touched_while_the_sweep_runs_keeps_its_media(world: World) -> None:
    url = world.settings.database_url
    old = datetime.now(UTC) - timedelta(days=40)
    where = Recording.id == world.recording_id
    await run_sql(url, sa.update(Recording).where(where).values(updated_at=old))
    cutoff = datetime.now(UTC) - timedelta(days=30)

    async with worker_deps(world.settings) as deps:
        assert await expirable(deps.sessions, world.workspace_id, cutoff) == [world.recording_id]
        # Someone edits the topics in between: still awaiting review, but changed just now.
        await run_sql(url, sa.update(Recording).where(where).values(updated_at=datetime.now(UTC)))
        kept = await expire_recording(
            deps.sessions, deps.store, world.workspace_id, world.recording_id, cutoff,
            days=30, by="retention",
        )  # fmt: skip
        # Left alone, it expires once it has been untouched long enough.
        await run_sql(url, sa.update(Recording).where(where).values(updated_at=old))
        gone = await expire_recording(
            deps.sessions, deps.store, world.workspace_id, world.recording_id, cutoff,
            days=30, by="retention",
        )  # fmt: skip

    assert kept is None
    assert gone is not None and gone[0] == "lecture.mp4" and gone[1] > 0
    assert not world.folder.exists()
    assert (await world.recording()).status == RecordingStatus.EXPIRED.value
