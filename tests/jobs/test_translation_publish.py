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
import sqlalchemy as sa
from arq.connections import RedisSettings, create_pool
from pydantic import SecretStr

from jobs.cards.translation import translation_lines
from jobs.translate import enqueue_translation
from locales import Translator, gettext
from locales.format import language_name
from pipeline.translation import parse_srt
from storage.models import Recording
from tests.conftest import running
from tests.fakes.openai import FakeOpenAI
from tests.fakes.translator import SubtitleModel
from tests.jobs.conftest import SRT, World
from tests.jobs.test_retention import run_sql


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


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_translating_again_replaces_the_youtube_track_and_the_card_says_so(
    llm_world: World, openai_api: FakeOpenAI, lang: str
) -> None:
    world = llm_world
    await _speaks(world, lang)
    first = SubtitleModel("English", "Russian", {"Good morning everyone.": "Доброе утро всем."})
    openai_api.chat_check, openai_api.chat = first.check, first.answer
    await world.connect_youtube()
    await _publish_then_translate(world)
    [track] = [c for c in world.google.captions if c.language == "ru"]

    # A better wording, asked for again: the same track gets the new text.
    second = SubtitleModel("English", "Russian", {"Good morning everyone.": "Всем доброе утро."})
    openai_api.chat_check, openai_api.chat = second.check, second.answer
    await _translate_again(world)

    tracks = [c for c in world.google.captions if c.language == "ru"]
    assert [c.id for c in tracks] == [track.id], world.google.captions
    assert tracks[0].content.decode() == (world.folder / "subtitles.ru.srt").read_text()
    assert "Всем доброе утро." in tracks[0].content.decode()
    assert world.google.caption_updates == [track.id]
    recording = await world.recording()
    state = recording.media["translations"]["ru"]
    assert state == {"status": "done", "cues": 1, "youtube": True, "replaced": True}
    assert recording.media["publish"]["youtube"]["captions:ru"] == track.id

    # The card says the track was replaced, in the chat's language.
    lines = "\n".join(translation_lines(recording, Translator(lang)))
    named = language_name(lang, "ru")
    assert gettext(lang, "translate.card_done_youtube_replaced", language=named, count=1) in lines

    # The same text once more changes nothing at YouTube.
    await _translate_again(world)
    assert world.google.caption_updates == [track.id]
    assert len(world.google.captions) == 2


async def _speaks(world: World, lang: str) -> None:
    """The chat speaks `lang`; the lecture itself was heard in English."""
    media = dict((await world.recording()).media)
    media["transcript"] = {"language": "en"}
    media["compose"] = {**media["compose"], "language": "en"}
    await run_sql(
        world.settings.database_url,
        sa.update(Recording)
        .where(Recording.id == world.recording_id)
        .values(language=lang, media=media),
    )


async def _translate_again(world: World) -> None:
    async def replaced_or_kept() -> bool:
        state = (await world.recording()).media["translations"]["ru"]
        return state.get("status") == "done" and "youtube" in state

    async with running(world.settings, world.telegram):
        redis = await create_pool(RedisSettings.from_dsn(world.settings.redis_url))
        try:
            mark = world.telegram.mark()
            assert await enqueue_translation(redis, world.workspace_id, world.recording_id, "ru")
        finally:
            await redis.aclose()
        await world.telegram.wait_for_message(
            world.chat["id"], lambda m: m.document is not None, after=mark, timeout=30
        )
        for _ in range(200):
            if await replaced_or_kept():
                break
            await asyncio.sleep(0.05)


async def test_a_track_remembered_without_its_id_is_found_and_one_deleted_on_youtube_made_again(
    llm_world: World, openai_api: FakeOpenAI
) -> None:
    world = llm_world
    first = SubtitleModel("English", "Russian", {"Good morning everyone.": "Доброе утро всем."})
    openai_api.chat_check, openai_api.chat = first.check, first.answer
    await world.connect_youtube()
    await _publish_then_translate(world)
    [track] = [c for c in world.google.captions if c.language == "ru"]

    # An earlier try whose answer was lost remembers the track as made, without its id.
    media = dict((await world.recording()).media)
    remembered = {**media["publish"]["youtube"], "captions:ru": True}
    remembered.pop("captions_text:ru")
    media["publish"] = {**media["publish"], "youtube": remembered}
    await run_sql(
        world.settings.database_url,
        sa.update(Recording).where(Recording.id == world.recording_id).values(media=media),
    )
    second = SubtitleModel("English", "Russian", {"Good morning everyone.": "Всем доброе утро."})
    openai_api.chat_check, openai_api.chat = second.check, second.answer
    await _translate_again(world)
    assert [c.id for c in world.google.captions if c.language == "ru"] == [track.id]
    assert world.google.caption_updates == [track.id]
    assert ("GET", "/youtube/v3/captions") in world.google.requests

    # Someone deletes the track on YouTube; the next translation makes it again, once.
    world.google.captions = [c for c in world.google.captions if c.id != track.id]
    third = SubtitleModel("English", "Russian", {"Good morning everyone.": "Доброе утро."})
    openai_api.chat_check, openai_api.chat = third.check, third.answer
    await _translate_again(world)
    [made] = [c for c in world.google.captions if c.language == "ru"]
    assert made.id != track.id and "Доброе утро." in made.content.decode()
    recording = await world.recording()
    assert recording.media["publish"]["youtube"]["captions:ru"] == made.id
    assert recording.media["translations"]["ru"]["youtube"] is True
