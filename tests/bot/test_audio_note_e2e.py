"""A sound-only recording's card says where sound can go: Yandex Disk takes it too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leap.settings import Settings
from storage import repo
from storage.db import create_engine, session_maker
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import SlowFilesTelegram, button, reviewable, seen
from tests.conftest import running

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram

WORDS = {
    "en": ("Ready for review", "File", "Sound only", "Yandex Disk"),
    "ru": ("Готово к проверке", "Файл", "Только звук", "Яндекс Диск"),
}


async def _sound_only(settings: Settings, workspace_id: int, recording_id: int) -> None:
    """What fetch records of a file without a picture."""
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            recording = await repo.get_recording(session, workspace_id, recording_id)
            assert recording is not None
            source: dict[str, Any] = {**recording.media.get("source", {}), "has_video": False}
            recording.media = {**recording.media, "source": source}
            await session.commit()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_the_sound_only_note_names_yandex_disk(
    settings: Settings, telegram: SlowFilesTelegram, lecture_video: Path, lang: str
) -> None:
    card_word, file_word, note, yandex = WORDS[lang]
    base = 2851 if lang == "en" else 2861
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    async with running(settings, telegram):
        made = await reviewable(settings, telegram, chat, user, lecture_video, language=lang)
        card = await telegram.wait_for_message(base, lambda m: card_word in seen(m), after=0)
        await _sound_only(settings, made.workspace_id, made.recording_id)
        # Any press draws the card again, from the recording as stored.
        query = await telegram.press(chat, user, card.message_id, button(card, file_word))
        await telegram.wait_for_answer(query)
        await telegram.wait_for(lambda: note in seen(card))
        line = next(line for line in seen(card).splitlines() if note in line)
        assert yandex in line and "YouTube" in line
