"""Old media is deleted on schedule; the recordings, their metadata and links stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from jobs.retention import retention
from leap.settings import Settings
from storage.db import create_engine
from storage.models import Publication, Recording, RecordingStatus
from tests.bot.test_zoom_e2e import rows
from tests.conftest import running
from tests.fakes.telegram import FakeTelegram
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
            r.id: settings.storage_dir / "workspaces" / str(workspace_id) / "recordings" / str(r.id)
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
