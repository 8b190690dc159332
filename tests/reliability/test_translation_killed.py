"""A worker SIGKILLed in the middle of a subtitle translation: another worker takes it over.

The card's Translate button starts the job; the worker is killed while the language model
still holds its request, and the card says "Translating…". A second worker finds the dead
worker's lease run out, runs the job again from the first batch, and the card ends done
with the file in the chat, the translation made once. In English and Russian. The sweep's
reading of the database is checked on PostgreSQL too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.translate import owed_translations
from locales.format import language_name
from pipeline.translation import parse_srt
from storage import repo
from storage.db import create_engine, session_maker
from storage.models import RecordingStatus, SourceKind, WorkspaceKind
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, seen
from tests.bot.test_granularity_e2e import _say
from tests.bot.test_translation_e2e import _choose, _model, _review
from tests.fakes.openai import FakeOpenAI, Fault
from tests.fakes.telegram import BotMessage
from tests.jobs.test_zoom_sync import worker_deps
from tests.reliability.conftest import Site

lecture_video = chat_fixtures.lecture_video


@pytest.fixture
def site_overrides(fakes: tuple[Any, FakeOpenAI, Any]) -> dict[str, Any]:
    """The workers (and the bot) have a language model: the fake one."""
    _telegram, openai, _google = fakes
    return {"llm_base_url": openai.base_url, "llm_api_key": openai.api_key, "llm_model": "m"}


@pytest.mark.parametrize(("lang", "source"), [("en", "ru"), ("ru", "en")])
async def test_a_worker_killed_while_translating_is_replaced_and_the_card_ends_done(
    bot: Site, lecture_video: Path, lang: str, source: str
) -> None:
    site = bot
    model = _model(source)
    site.openai.chat_check, site.openai.chat = model.check, model.answer
    target = "en" if source == "ru" else "ru"
    user_id = 2701 if lang == "en" else 2702
    made, chat, user, card = await _review(
        site,
        site.telegram,
        lecture_video,
        lang,
        source,
        user_id,  # type: ignore[arg-type]
    )
    # The model holds the first request until the worker is gone.
    site.openai.fail("chat", Fault(delay=600))
    first = site.worker()
    chooser = await _choose(site.telegram, chat, user, card, lang)
    await site.telegram.press(chat, user, chooser.message_id, button(chooser, "★"))
    await site.until(lambda: site.openai.in_flight["chat"] > 0, process=first)
    named = language_name(lang, target)
    running = _say(lang, "translate.card_running", language=named, done=0, total=1)
    await site.until(lambda: running in seen(card), process=first)
    first.kill()

    mark = site.telegram.mark()
    second = site.worker()

    def sent_file() -> BotMessage | None:
        found = [m for m in site.telegram.sent(chat["id"]) if m.seq > mark and m.document]
        return found[0] if found else None

    document: BotMessage = await site.until(sent_file, process=second)
    assert seen(document) == _say(lang, "translate.file_caption", language=named)
    translated = (made.folder / f"subtitles.{target}.srt").read_text(encoding="utf-8")
    assert document.document is not None and document.document.data.decode() == translated
    done = _say(lang, "translate.card_done", language=named, count=len(parse_srt(translated)))
    await site.until(lambda: done in seen(card), process=second)
    # The request the dead worker waited on, and the one that made the translation.
    assert len(site.openai.calls("chat")) == 2 and site.openai.refused == []
    assert model.batches == [[1, 2, 3, 4, 5]]
    assert [m for m in site.telegram.sent(chat["id"]) if m.document and m.seq > mark] == [document]


async def test_the_sweep_finds_queued_and_running_translations_in_postgresql(
    postgres_url: str, site: Site
) -> None:
    """What the sweep owes is read from PostgreSQL's JSON as from SQLite's: queued and running
    translations of recordings under review or published, nothing else."""
    settings = site.settings.model_copy(update={"database_url": postgres_url})
    engine = create_engine(postgres_url)
    states = {
        RecordingStatus.AWAITING_REVIEW: {"en": {"status": "queued"}, "de": {"status": "done"}},
        RecordingStatus.READY: {"ru": {"status": "running", "done": 1, "total": 3}},
        RecordingStatus.FAILED: {"en": {"status": "running", "done": 0, "total": 1}},
    }
    made: dict[RecordingStatus, int] = {}
    try:
        async with session_maker(engine)() as session:
            workspace, _ = await repo.ensure_workspace(session, 42, WorkspaceKind.PERSONAL, "Ann")
            for status, translations in states.items():
                recording = await repo.create_recording(
                    session,
                    workspace.id,
                    created_by=42,
                    source_kind=SourceKind.TELEGRAM,
                    source_ref="file-id",
                    source_name="lecture.mp4",
                    status=status,
                    language="en",
                    chat_id=42,
                    media={"translations": translations, "review": {"status": "running"}},
                )
                made[status] = recording.id
            await session.commit()
            workspace_id = workspace.id
    finally:
        await engine.dispose()

    async with worker_deps(settings) as deps:
        found = await owed_translations(deps)
    assert sorted(found) == [
        (workspace_id, made[RecordingStatus.AWAITING_REVIEW], "en", False),
        (workspace_id, made[RecordingStatus.READY], "ru", True),
    ]
