"""A translation whose worker died is not left saying "Translating…" forever. The database
says it is running and Redis knows no job (the worker was killed and its job lost): the
recovery sweep queues it again and it finishes, the file in the chat and the card done. One
taken from dead workers too often stops instead, the card and the chat saying so, and the
card's Translate button starts it again. A press whose queued job Redis lost before any
worker took it is not lost either: the card said it waits, and it is done once workers run.
In English and Russian, both directions."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from redis.asyncio import Redis

from jobs import keys, recovery
from jobs.queues import translate_job_id
from leap.app import serve
from leap.settings import Settings
from locales.format import language_name
from pipeline.translation import parse_srt
from storage.db import create_engine, session_maker
from storage.models import Recording
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, seen
from tests.bot.test_granularity_e2e import _say
from tests.bot.test_translation_e2e import _choose, _model, _review, openai_api, settings
from tests.conftest import RunningBot, running
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram
from tests.jobs.test_zoom_sync import worker_deps

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram
__all__ = ["openai_api", "settings"]
CASES = pytest.mark.parametrize(("lang", "source"), [("en", "ru"), ("ru", "en")])


async def _abandoned(settings: Settings, recording_id: int, target: str, deaths: int = 0) -> None:
    """What a worker killed in the middle of a translation leaves behind, once Redis lost its
    job too: the state still running, no job, no lease. `deaths`: earlier recoveries."""
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            row = await session.get(Recording, recording_id)
            assert row is not None
            running = {"status": "running", "done": 0, "total": 1}
            row.media = {**row.media, "translations": {target: running}}
            await session.commit()
    finally:
        await engine.dispose()
    redis = Redis.from_url(settings.redis_url)
    try:
        # Redis has been up for an hour: nothing still running can be waiting to show up.
        await redis.set(keys.EPOCH, repr(time.time() - 3600))
        if deaths:
            await redis.set(keys.RECOVERIES + translate_job_id(recording_id, target), deaths)
    finally:
        await redis.aclose()


async def _sweep(settings: Settings) -> None:
    async with worker_deps(settings) as deps:
        await recovery.recover({"deps": deps})


@CASES
async def test_a_translation_whose_job_was_lost_is_queued_again_and_finishes(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
    source: str,
) -> None:
    model = _model(source)
    openai_api.chat_check, openai_api.chat = model.check, model.answer
    target = "en" if source == "ru" else "ru"
    user_id = 2691 if lang == "en" else 2692
    made, chat, _user, card = await _review(app, telegram, lecture_video, lang, source, user_id)
    await _abandoned(app.settings, made.recording_id, target)

    mark = telegram.mark()
    await _sweep(app.settings)
    document = await telegram.wait_for_message(
        chat["id"], lambda m: m.document is not None, after=mark, timeout=30
    )
    named = language_name(lang, target)
    assert seen(document) == _say(lang, "translate.file_caption", language=named)
    translated = (made.folder / f"subtitles.{target}.srt").read_text(encoding="utf-8")
    assert document.document is not None and document.document.data.decode() == translated
    done = _say(lang, "translate.card_done", language=named, count=len(parse_srt(translated)))
    await telegram.wait_for(lambda: done in seen(card))
    assert len(openai_api.calls("chat")) == 1 and openai_api.refused == []


@CASES
async def test_a_translation_lost_too_often_stops_and_the_card_offers_it_again(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
    source: str,
) -> None:
    model = _model(source)
    openai_api.chat_check, openai_api.chat = model.check, model.answer
    target = "en" if source == "ru" else "ru"
    user_id = 2693 if lang == "en" else 2694
    made, chat, user, card = await _review(app, telegram, lecture_video, lang, source, user_id)
    deaths = app.settings.max_recoveries
    await _abandoned(app.settings, made.recording_id, target, deaths=deaths)

    mark = telegram.mark()
    await _sweep(app.settings)
    named = language_name(lang, target)
    reason = _say(lang, "translate.reason_worker_lost")
    told = await telegram.wait_for_message(
        chat["id"], lambda m: reason in seen(m), after=mark, timeout=30
    )
    assert seen(told) == _say(
        lang, "translate.failed_message", title="signals-lecture.mp4", language=named, reason=reason
    )
    stopped = _say(lang, "translate.card_failed", language=named, reason=reason)
    await telegram.wait_for(lambda: stopped in seen(card))
    assert _say(lang, "translate.button") in [t for t, _d in card.buttons]
    assert openai_api.calls("chat") == []

    # Translate again, from the card: it is done this time.
    chooser = await _choose(telegram, chat, user, card, lang)
    mark = telegram.mark()
    await telegram.press(chat, user, chooser.message_id, button(chooser, "★"))
    await telegram.wait_for_message(
        chat["id"], lambda m: m.document is not None, after=mark, timeout=30
    )
    translated = (made.folder / f"subtitles.{target}.srt").read_text(encoding="utf-8")
    done = _say(lang, "translate.card_done", language=named, count=len(parse_srt(translated)))
    await telegram.wait_for(lambda: done in seen(card))
    assert stopped not in seen(card)


@contextlib.asynccontextmanager
async def _bot_alone(settings: Settings) -> AsyncIterator[None]:
    """The bot without workers: presses are answered and jobs queued, nobody runs them."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, queues=(), stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 30)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@CASES
async def test_a_queued_translation_redis_lost_is_done_once_workers_run(
    settings: Settings,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
    source: str,
) -> None:
    model = _model(source)
    openai_api.chat_check, openai_api.chat = model.check, model.answer
    target = "en" if source == "ru" else "ru"
    user_id = 2695 if lang == "en" else 2696
    named = language_name(lang, target)
    # The card is made as the workers would make it; only its settings are read.
    alone = SimpleNamespace(settings=settings)
    async with _bot_alone(settings):
        made, chat, user, card = await _review(
            alone,  # type: ignore[arg-type]
            telegram,
            lecture_video,
            lang,
            source,
            user_id,
        )
        chooser = await _choose(telegram, chat, user, card, lang)
        query = await telegram.press(chat, user, chooser.message_id, button(chooser, "★"))
        await telegram.wait_for_answer(query)
        waiting = _say(lang, "translate.card_queued", language=named)
        await telegram.wait_for(lambda: waiting in seen(card))

    redis = Redis.from_url(settings.redis_url)
    try:
        assert await redis.exists("arq:job:" + translate_job_id(made.recording_id, target))
        await redis.flushdb()
    finally:
        await redis.aclose()

    mark = telegram.mark()
    async with running(settings, telegram):
        await telegram.wait_for_message(
            chat["id"], lambda m: m.document is not None, after=mark, timeout=30
        )
        translated = (made.folder / f"subtitles.{target}.srt").read_text(encoding="utf-8")
        count = len(parse_srt(translated))
        done = _say(lang, "translate.card_done", language=named, count=count)
        await telegram.wait_for(lambda: done in seen(card))
    assert len(openai_api.calls("chat")) == 1
