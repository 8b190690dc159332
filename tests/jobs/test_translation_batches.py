"""A translation run again asks the model only for what an earlier run did not finish.

A lecture of 45 subtitles goes in two batches. The model answers the first and fails the
second twice (the run ends with the reason in the chat); pressed again, only the second batch
is asked for, and the subtitles come out whole. In English and Russian chats.
"""

from __future__ import annotations

from typing import Any

import pytest
from arq.connections import RedisSettings, create_pool

from jobs.translate import enqueue_translation
from locales import gettext
from pipeline.subtitles import Cue, to_srt
from pipeline.translation import parse_srt
from tests.conftest import running
from tests.fakes.openai import FakeOpenAI
from tests.fakes.translator import SubtitleModel, user_request
from tests.jobs.conftest import World
from tests.jobs.test_translation_publish import _speaks, llm_world, openai_api

__all__ = ["llm_world", "openai_api"]

SAID = [f"Sentence number {i + 1} of the lecture." for i in range(45)]
GLOSSARY = {text: f"Предложение номер {i + 1} из лекции." for i, text in enumerate(SAID)}


async def _translate(world: World, until: Any) -> None:
    async with running(world.settings, world.telegram):
        redis = await create_pool(RedisSettings.from_dsn(world.settings.redis_url))
        try:
            mark = world.telegram.mark()
            assert await enqueue_translation(redis, world.workspace_id, world.recording_id, "ru")
        finally:
            await redis.aclose()
        await world.telegram.wait_for_message(world.chat["id"], until, after=mark, timeout=30)


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_translation_run_again_asks_only_for_the_batches_not_kept(
    llm_world: World, openai_api: FakeOpenAI, lang: str
) -> None:
    world = llm_world
    await _speaks(world, lang)
    cues = [Cue(i * 2.0, i * 2.0 + 1.5, [text]) for i, text in enumerate(SAID)]
    (world.folder / "subtitles.srt").write_text(to_srt(cues), encoding="utf-8")
    model = SubtitleModel("English", "Russian", GLOSSARY)
    failing = True

    def answer(body: dict[str, Any]) -> str:
        first = user_request(body)["cues"][0]["id"]
        return "Not now." if failing and first > 40 else model.answer(body)

    # Every answer takes a moment, so the first batch is back before the second has failed.
    openai_api.chat_check, openai_api.chat, openai_api.latency = model.check, answer, 0.3
    reason = gettext(lang, "translate.reason_bad_answer")
    await _translate(world, lambda m: reason in (m.content or ""))
    kept = world.folder / "subtitles.ru.batches.json"
    assert kept.is_file()
    assert (await world.recording()).media["translations"]["ru"]["status"] == "failed"
    asked = len(openai_api.calls("chat"))
    assert asked == 3, model.batches  # the first batch, the second and its repair

    failing = False
    await _translate(world, lambda m: m.document is not None)
    later = [user_request(c.body)["cues"] for c in openai_api.calls("chat")[asked:]]
    assert [[c["id"] for c in batch] for batch in later] == [[41, 42, 43, 44, 45]]
    translated = parse_srt((world.folder / "subtitles.ru.srt").read_text(encoding="utf-8"))
    assert [c.lines[0] for c in translated] == [GLOSSARY[t] for t in SAID]
    assert not kept.exists()
