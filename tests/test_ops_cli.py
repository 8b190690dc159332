"""`leap` operator commands in a real process against the test database, Redis and fakes."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from jobs.publish import publish_job_id
from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker
from storage.files import MediaStore
from storage.models import (
    Publication,
    Recording,
    RecordingStatus,
    SourceKind,
    StageStatus,
    WorkspaceKind,
)
from tests.conftest import TEST_SECRET_KEY, TOKEN
from tests.fakes.telegram import FakeTelegram
from tests.fakes.zoom import FakeZoom

MB = 1024 * 1024


@pytest.fixture
async def zoom() -> AsyncIterator[FakeZoom]:
    async with FakeZoom() as server:
        yield server


async def leap(settings: Settings, zoom: FakeZoom | None, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        STORAGE_DIR=str(settings.storage_dir),
        SECRET_KEY=TEST_SECRET_KEY,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=settings.telegram_api_url,
    )
    if zoom is not None:
        env.update(ZOOM_API_URL=zoom.api_url, ZOOM_OAUTH_URL=zoom.oauth_url)
    # The fakes serve from this event loop, so the command runs beside it, not in its way.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "leap.cli",
        *args,
        cwd=settings.storage_dir.parent,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def seed(settings: Settings, **kinds: Any) -> dict[str, Any]:
    """A workspace with a chat, as the bot would have made it, and what the test asks for."""
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace, _ = await repo.ensure_workspace(
                session, kinds["chat_id"], WorkspaceKind.PERSONAL, "Lena"
            )
            workspace.settings = dict(kinds.get("workspace_settings") or {})
            found: dict[str, Any] = {"workspace_id": workspace.id}
            if "zoom" in kinds:
                zoom: FakeZoom = kinds["zoom"]
                await repo.store_credential(
                    session,
                    workspace.id,
                    SecretBox(TEST_SECRET_KEY),
                    provider="zoom",
                    account_name=zoom.email,
                    payload=zoom.credentials(),
                )
            for name, fields in kinds.get("recordings", {}).items():
                recording = await repo.create_recording(
                    session,
                    workspace.id,
                    source_kind=SourceKind.TELEGRAM,
                    source_ref=f"file-{name}",
                    source_name=f"{name}.mp4",
                    chat_id=kinds["chat_id"],
                    **fields,
                )
                found[name] = recording.id
            await session.commit()
            return found
    finally:
        await engine.dispose()


async def query(settings: Settings, statement: Any) -> list[Any]:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(statement)
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


async def test_zoom_list_and_sync(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    zoom.add_meeting(
        "Algebra 7",
        now - timedelta(days=2),
        60,
        [zoom.mp4("shared_screen_with_speaker_view", b"v", listed_size=500 * MB)],
    )
    zoom.add_meeting(
        "Quick call",
        now - timedelta(days=3),
        5,
        [zoom.mp4("active_speaker", b"v", listed_size=90 * MB)],
    )
    user = telegram.user(931, "Lena", language_code="en")
    telegram.private_chat(user)
    world = await seed(
        settings, chat_id=931, zoom=zoom, workspace_settings={"zoom_auto_import": True}
    )

    code, out, err = await leap(settings, zoom, "zoom", "list", "--last", "10")
    assert code == 0, err
    assert zoom.email in out
    assert "Algebra 7" in out and "new" in out and "1:00:00" in out
    assert "Quick call" not in out

    code, out, err = await leap(settings, zoom, "zoom", "sync", "--last", "10")
    assert code == 0, err
    assert "imported" in out and "Algebra 7" in out
    rows = await query(settings, sa.select(Recording.id, Recording.source_name, Recording.stage))
    assert [(name, stage) for _id, name, stage in rows] == [("Algebra 7", "fetch")]
    redis = Redis.from_url(settings.redis_url)
    try:
        assert await redis.exists(f"arq:job:rec:{rows[0][0]}:fetch")
    finally:
        await redis.aclose()
    progress = await telegram.wait_for_message(931, after=0)
    assert "Algebra 7" in (progress.content or "")

    code, out, err = await leap(
        settings, zoom, "zoom", "list", "--workspace", str(world["workspace_id"])
    )
    assert code == 0, err
    assert "imported" in out and "new" not in out


async def test_recordings_list_reset_clean_and_publish(
    settings: Settings, telegram: FakeTelegram
) -> None:
    user = telegram.user(932, "Lena", language_code="en")
    telegram.private_chat(user)
    old = datetime.now(UTC) - timedelta(days=40)
    world = await seed(
        settings,
        chat_id=932,
        recordings={
            "broken": {
                "status": RecordingStatus.FAILED,
                "stage": "trim",
                "failure_code": "ffmpeg_failed",
                "failure_reason": "Processing the media failed.",
            },
            "reviewed": {"status": RecordingStatus.AWAITING_REVIEW, "stage": None},
            "archived": {"status": RecordingStatus.READY, "stage": None},
        },
    )
    broken, reviewed, archived = world["broken"], world["reviewed"], world["archived"]
    store = MediaStore(settings.storage_dir)
    for rec_id in (broken, reviewed, archived):
        (store.recording_dir(world["workspace_id"], rec_id) / "video.mp4").write_bytes(b"\0" * 4096)
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            run = await repo.stage_run(session, world["workspace_id"], broken, "trim")
            repo.mark_finished(run, StageStatus.FAILED, "ffmpeg_failed")
            await session.commit()
    finally:
        await engine.dispose()
    await query(
        settings, sa.update(Recording).where(Recording.id == archived).values(updated_at=old)
    )

    code, out, err = await leap(settings, None, "recordings", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    assert "failed" in lines[0] and "trim" in lines[0] and "broken.mp4" in lines[0]

    code, out, err = await leap(settings, None, "recordings", "reset", str(broken))
    assert code == 0, err
    assert "back to trim" in out
    status, stage = (
        await query(
            settings, sa.select(Recording.status, Recording.stage).where(Recording.id == broken)
        )
    )[0]
    assert (status, stage) == ("processing", "trim")
    redis = Redis.from_url(settings.redis_url)
    try:
        assert await redis.exists(f"arq:job:rec:{broken}:trim")

        code, out, err = await leap(settings, None, "recordings", "clean", "--days", "30")
        assert code == 0, err
        assert f"({archived})" in out
        assert not store.recording_dir(world["workspace_id"], archived, create=False).exists()
        assert store.recording_dir(world["workspace_id"], reviewed, create=False).exists()
        notice = await telegram.wait_for_message(932, after=0)
        assert "archived.mp4" in (notice.content or "")

        code, out, err = await leap(
            settings, None, "publish", str(reviewed), "--platform", "export"
        )
        assert code == 0, err
        assert "publishing to export" in out
        assert await redis.exists(f"arq:job:{publish_job_id(reviewed, 'export')}")
    finally:
        await redis.aclose()
    publications = await query(settings, sa.select(Publication.recording_id, Publication.platform))
    assert publications == [(reviewed, "export")]
    statuses = dict(await query(settings, sa.select(Recording.id, Recording.status)))
    assert statuses[reviewed] == "uploading"
    assert statuses[archived] == "expired"

    code, _out, err = await leap(settings, None, "recordings", "reset", "999")
    assert code == 1 and "no recording 999" in err
    code, _out, err = await leap(settings, None, "publish", str(broken), "--platform", "vk")
    assert code == 1 and "not processed yet" in err
