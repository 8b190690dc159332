"""The scheduled Zoom sync with real worker dependencies, a running bot and a fake Zoom."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.context import WorkerDeps
from jobs.worker import build_deps, close_deps, redis_pool
from jobs.zoom_sync import zoom_sync
from leap.settings import Settings
from pipeline.templates import MatchRules
from pipeline.templates import Template as TemplateModel
from storage import repo
from storage.models import Recording, StageRun, Template
from tests.bot.test_zoom_e2e import connect_privately, rows, zoom_settings
from tests.conftest import running
from tests.fakes.telegram import FakeTelegram
from tests.fakes.zoom import FakeMeeting, FakeZoom


@pytest.fixture
async def zoom() -> AsyncIterator[FakeZoom]:
    async with FakeZoom() as server:
        yield server


@asynccontextmanager
async def worker_deps(settings: Settings) -> AsyncIterator[WorkerDeps]:
    redis = await redis_pool(settings)
    deps = await build_deps(settings, redis)
    try:
        yield deps
    finally:
        await close_deps(deps)
        await redis.aclose()


def days_ago(days: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)


def semester(zoom: FakeZoom, video: bytes) -> dict[str, Any]:
    """This week: two lectures, a short chat, one still processing, one broken file."""
    algebra = zoom.mp4("shared_screen_with_speaker_view", video)
    physics = zoom.mp4("shared_screen", video)
    broken = zoom.mp4("active_speaker", b"\x00" * 65536, html=True)
    return {
        "algebra": algebra,
        "physics": physics,
        "broken": broken,
        "algebra_meeting": zoom.add_meeting(
            "Linear Algebra 3", days_ago(1), 90, [zoom.mp4("active_speaker", video), algebra]
        ),
        "physics_meeting": zoom.add_meeting("Physics 2", days_ago(2), 60, [physics]),
        "chat": zoom.add_meeting(
            "Hallway chat", days_ago(2), 4, [zoom.mp4("active_speaker", video)]
        ),
        "processing": zoom.add_meeting(
            "Chemistry 1", days_ago(3), 80, [zoom.mp4("shared_screen", video, status="processing")]
        ),
        "broken_meeting": zoom.add_meeting("Biology 5", days_ago(4), 45, [broken]),
    }


async def set_workspace(database_url: str, chat_id: int, **values: Any) -> int:
    """An admin changes the workspace's settings (the settings screen is not under test here)."""
    from storage.db import create_engine, session_maker

    engine = create_engine(database_url)
    try:
        async with session_maker(engine)() as session:
            workspace = await repo.workspace_by_chat(session, chat_id)
            assert workspace is not None
            workspace.settings = {**(workspace.settings or {}), **values}
            await session.commit()
            return workspace.id
    finally:
        await engine.dispose()


async def add_template(database_url: str, workspace_id: int, template: TemplateModel) -> None:
    from storage.db import create_engine, session_maker

    engine = create_engine(database_url)
    try:
        async with session_maker(engine)() as session:
            session.add(
                Template(
                    workspace_id=workspace_id,
                    name=template.name,
                    priority=template.priority,
                    body=template.model_dump(mode="json"),
                )
            )
            await session.commit()
    finally:
        await engine.dispose()


async def wait_until(predicate: Any, timeout: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_sync_imports_what_a_template_automates_once_and_processes_it(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    world = semester(zoom, small_video.read_bytes())
    config = zoom_settings(settings, zoom)
    async with running(config, telegram), worker_deps(config) as deps:
        user = telegram.user(911, "Lena", language_code="en")
        await connect_privately(telegram, user, zoom)
        workspace_id = await set_workspace(config.database_url, 911)
        await add_template(
            config.database_url,
            workspace_id,
            TemplateModel(
                name="Algebra",
                match=MatchRules(source_kinds=["zoom"], keywords_any=["algebra"]),
                title_template="{{ title }} ({{ date }})",
                auto_publish=True,
            ),
        )

        mark = telegram.mark()
        assert await zoom_sync({"deps": deps}) == 1
        progress = await telegram.wait_for_message(911, after=mark)
        assert "Linear Algebra 3" in (progress.content or "")

        async def fetched() -> Recording | None:
            found = await rows(config.database_url, Recording)
            done = [r for r in await rows(config.database_url, StageRun) if r.stage == "fetch"]
            if found and done and done[0].status == "done" and found[0].stage != "fetch":
                return found[0]
            return None

        recording = await wait_until(fetched)
        assert recording.source_ref == f"zoom:{world['algebra_meeting'].uuid}:{world['algebra'].id}"
        assert recording.options["auto_publish"] is True
        assert recording.options["facts"]["title"] == "Linear Algebra 3"
        await telegram.wait_for(lambda: "Received: 0:08" in (progress.content or ""))

        # The next run finds everything known: nothing new, nothing posted.
        before = len(telegram.sent(911))
        assert await zoom_sync({"deps": deps}) == 0
        assert len(await rows(config.database_url, Recording)) == 1
        assert len(telegram.sent(911)) == before


async def test_auto_import_takes_every_finished_lecture_once(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    world = semester(zoom, small_video.read_bytes())
    config = zoom_settings(settings, zoom)
    async with running(config, telegram), worker_deps(config) as deps:
        user = telegram.user(912, "Lena", language_code="en")
        await connect_privately(telegram, user, zoom)
        await set_workspace(config.database_url, 912, zoom_auto_import=True)

        assert await zoom_sync({"deps": deps}) == 3
        found = {r.source_name: r for r in await rows(config.database_url, Recording)}
        # The short chat is filtered out; the one Zoom still processes waits.
        assert set(found) == {"Linear Algebra 3", "Physics 2", "Biology 5"}
        assert found["Physics 2"].source_ref.endswith(world["physics"].id)
        assert "auto_publish" not in found["Physics 2"].options

        assert await zoom_sync({"deps": deps}) == 0

        processing: FakeMeeting = world["processing"]
        zoom.finish_processing(processing)
        assert await zoom_sync({"deps": deps}) == 1
        names = [r.source_name for r in await rows(config.database_url, Recording)]
        assert sorted(names) == ["Biology 5", "Chemistry 1", "Linear Algebra 3", "Physics 2"]

        # The file Zoom answered with a web page fails with a reason, and nothing else does.
        async def broken() -> Recording | None:
            recordings = await rows(config.database_url, Recording)
            return next(
                (r for r in recordings if r.source_name == "Biology 5" and r.status == "failed"),
                None,
            )

        failed = await wait_until(broken)
        assert "web page" in (failed.failure_reason or "")
        await telegram.wait_for(
            lambda: any("web page" in (m.content or "") for m in telegram.sent(912))
        )


async def test_dry_run_posts_the_plan_and_changes_nothing(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    semester(zoom, small_video.read_bytes())
    config = zoom_settings(settings, zoom)
    async with running(config, telegram), worker_deps(config) as deps:
        user = telegram.user(913, "Lena", language_code="en")
        await connect_privately(telegram, user, zoom)
        workspace_id = await set_workspace(config.database_url, 913, zoom_dry_run=True)
        await add_template(
            config.database_url,
            workspace_id,
            TemplateModel(
                name="Physics",
                match=MatchRules(keywords_any=["physics"]),
                title_template="Physics lecture: {{ title }}",
                auto_publish=True,
                platforms=["export"],
            ),
        )

        mark = telegram.mark()
        assert await zoom_sync({"deps": deps}) == 0
        plan = await telegram.wait_for_message(913, after=mark)
        text = plan.content or ""
        assert "dry run" in text
        assert "«Physics 2» → template «Physics» → «Physics lecture: Physics 2»" in text
        assert "publishes by itself" in text
        assert "Linear Algebra 3" not in text

        # Told once: the next run has nothing new to say.
        before = len(telegram.sent(913))
        assert await zoom_sync({"deps": deps}) == 0
        assert len(telegram.sent(913)) == before

    assert await rows(config.database_url, Recording) == []
    assert zoom.downloads == []


async def test_a_scheduled_import_ends_with_a_review_card_in_the_chat(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    zoom.add_meeting(
        "Linear Algebra 4", days_ago(1), 90, [zoom.mp4("shared_screen", small_video.read_bytes())]
    )
    config = zoom_settings(settings, zoom)
    async with running(config, telegram), worker_deps(config) as deps:
        user = telegram.user(914, "Lena", language_code="en")
        await connect_privately(telegram, user, zoom)
        await set_workspace(config.database_url, 914, zoom_auto_import=True)

        mark = telegram.mark()
        assert await zoom_sync({"deps": deps}) == 1
        card = await telegram.wait_for_message(
            914, lambda m: any("Publish" in text for text, _ in m.buttons),
            timeout=60, after=mark,
        )  # fmt: skip
        assert "Linear Algebra 4" in (card.content or "")
        (recording,) = await rows(config.database_url, Recording)
        assert recording.status == "awaiting_review"


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_lecture_language_the_engine_lacks_leaves_recordings_in_zoom_and_says_so_once(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path, lang: str
) -> None:
    semester(zoom, small_video.read_bytes())
    english_only = zoom_settings(settings, zoom).model_copy(
        update={"local_whisper_model": "tiny.en"}
    )
    user_id = 915 if lang == "en" else 916
    async with running(english_only, telegram), worker_deps(english_only) as deps:
        user = telegram.user(user_id, "Lena", language_code=lang)
        await connect_privately(telegram, user, zoom)
        await set_workspace(
            english_only.database_url, user_id, zoom_auto_import=True, transcribe_language="ru"
        )

        mark = telegram.mark()
        assert await zoom_sync({"deps": deps}) == 0
        notice = await telegram.wait_for_message(user_id, after=mark)
        says = {"en": "does not know the lecture language", "ru": "не знает язык лекций"}
        assert says[lang] in (notice.content or "")

        # The next runs keep the recordings in Zoom without saying it again.
        before = len(telegram.sent(user_id))
        assert await zoom_sync({"deps": deps}) == 0
        assert len(telegram.sent(user_id)) == before

        # Auto-detect is something the engine can do: the lectures come in.
        await set_workspace(english_only.database_url, user_id, transcribe_language="auto")
        assert await zoom_sync({"deps": deps}) == 3

    assert zoom.downloads or await rows(english_only.database_url, Recording)
