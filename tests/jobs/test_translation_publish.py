"""Translated subtitles go out with Publish: a second caption track on YouTube, and the files
in the export archive. The translation is made by the worker through the fake language model,
started as the card's button starts it."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import zipfile
from collections.abc import AsyncIterator

import pytest
from arq.connections import RedisSettings, create_pool
from pydantic import SecretStr

from jobs.translate import enqueue_translation
from pipeline.translation import parse_srt
from tests.conftest import running
from tests.fakes.openai import FakeOpenAI
from tests.fakes.translator import SubtitleModel
from tests.jobs.conftest import SRT, World


@pytest.fixture
async def openai_api() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as api:
        yield api


@pytest.fixture
def llm_world(world: World, openai_api: FakeOpenAI) -> World:
    settings = world.settings.model_copy(
        update={
            "llm_base_url": openai_api.base_url,
            "llm_api_key": SecretStr(openai_api.api_key or ""),
            "llm_model": "test-model",
        }
    )
    return dataclasses.replace(world, settings=settings)


async def test_translated_subtitles_reach_youtube_as_a_second_track_and_the_export(
    llm_world: World, openai_api: FakeOpenAI
) -> None:
    world = llm_world
    model = SubtitleModel("English", "Russian", {"Good morning everyone.": "Доброе утро всем."})
    openai_api.chat_check, openai_api.chat = model.check, model.answer
    await world.connect_youtube()

    async with running(world.settings, world.telegram):
        redis = await create_pool(RedisSettings.from_dsn(world.settings.redis_url))
        try:
            assert await enqueue_translation(redis, world.workspace_id, world.recording_id, "ru")
        finally:
            await redis.aclose()
        sent = await world.telegram.wait_for_message(
            world.chat["id"], lambda m: m.document is not None, after=0, timeout=30
        )
        assert sent.content == "🌐 Subtitles in Russian"
        assert sent.document is not None and sent.document.file_name == "lecture.ru.srt"
        assert await world.publish(["youtube", "export"]) == ["youtube", "export"]
        await world.links_message()
        await world.telegram.wait_for(lambda: len(world.links_messages()) >= 1)

    translated = (world.folder / "subtitles.ru.srt").read_text(encoding="utf-8")
    assert [c.lines for c in parse_srt(translated)] == [["Доброе утро всем."]]
    assert [(c.start, c.end) for c in parse_srt(translated)] == [(0.0, 2.0)]
    assert (world.folder / "subtitles.ru.vtt").read_text().startswith("WEBVTT")
    assert openai_api.refused == [] and model.batches == [[1]]

    [video] = world.google.videos.values()
    tracks = {c.language: c for c in world.google.captions}
    assert set(tracks) == {"en", "ru"}
    assert tracks["en"].content == SRT.encode()
    assert tracks["ru"].content.decode() == translated
    assert tracks["ru"].video_id == video.id and tracks["ru"].name == "Subtitles (русский)"
    remembered = (await world.recording()).media["publish"]["youtube"]
    assert remembered["captions:ru"] == tracks["ru"].id

    [archive] = [
        m
        for m in world.telegram.sent(world.chat["id"])
        if m.document and m.document.file_name.endswith(".zip")
    ]
    assert archive.document is not None
    with zipfile.ZipFile(io.BytesIO(archive.document.data)) as packed:
        names = packed.namelist()
        assert packed.read("subtitles.ru.srt").decode() == translated
    assert {"subtitles.srt", "subtitles.ru.srt", "subtitles.ru.vtt"} <= set(names)


async def _publish_then_translate(world: World) -> None:
    async with running(world.settings, world.telegram):
        assert await world.publish(["youtube"]) == ["youtube"]
        await world.links_message()
        mark = world.telegram.mark()
        redis = await create_pool(RedisSettings.from_dsn(world.settings.redis_url))
        try:
            assert await enqueue_translation(redis, world.workspace_id, world.recording_id, "ru")
        finally:
            await redis.aclose()
        await world.telegram.wait_for_message(
            world.chat["id"], lambda m: m.document is not None, after=mark, timeout=30
        )

        async def settled() -> bool:
            state = (await world.recording()).media["translations"]["ru"]
            return "youtube" in state

        for _ in range(200):
            if await settled():
                break
            await asyncio.sleep(0.05)


async def test_a_translation_made_after_publishing_goes_to_the_youtube_video_at_once(
    llm_world: World, openai_api: FakeOpenAI
) -> None:
    world = llm_world
    model = SubtitleModel("English", "Russian", {"Good morning everyone.": "Доброе утро всем."})
    openai_api.chat_check, openai_api.chat = model.check, model.answer
    await world.connect_youtube()
    await _publish_then_translate(world)

    [video] = world.google.videos.values()
    tracks = {c.language: c for c in world.google.captions}
    assert set(tracks) == {"en", "ru"} and tracks["ru"].video_id == video.id
    assert tracks["ru"].content.decode() == (world.folder / "subtitles.ru.srt").read_text()
    # Nothing else was made twice: one video, one thumbnail, one track per language.
    assert len(world.google.videos) == 1 and len(world.google.thumbnails) == 1
    state = (await world.recording()).media["translations"]["ru"]
    assert state == {"status": "done", "cues": 1, "youtube": True}


async def test_youtube_refusing_the_translated_track_is_said_in_the_chat(
    llm_world: World, openai_api: FakeOpenAI
) -> None:
    world = llm_world
    model = SubtitleModel("English", "Russian", {"Good morning everyone.": "Доброе утро всем."})
    openai_api.chat_check, openai_api.chat = model.check, model.answer
    await world.connect_youtube()
    world.google.fail("captions", 403, reason="forbidden", message="Captions are off", skip=1)
    await _publish_then_translate(world)

    assert {c.language for c in world.google.captions} == {"en"}
    state = (await world.recording()).media["translations"]["ru"]
    assert state == {"status": "done", "cues": 1, "youtube": False}
    told = [
        m.content or ""
        for m in world.telegram.sent(world.chat["id"])
        if (m.content or "").startswith("🌐 The subtitles in Russian did not reach YouTube")
    ]
    assert told and "Captions are off" in told[0], told
