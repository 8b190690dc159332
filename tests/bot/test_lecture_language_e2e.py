"""The lecture's language, honestly: chosen or detected, said on the card, refused up front.

/settings offers Auto first and says when this installation's speech engine lacks a language;
a lecture in a language the engine cannot transcribe is refused before anything is done for
it; the card names the language the lecture was heard in, and any other it switched to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leap.settings import Settings
from storage.models import Recording
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import bot_only, button, reviewable, rows, seen
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

lecture_video = chat_fixtures.lecture_video

SAYS = {
    "en": {
        "section": "Lecture language",
        "auto": "🌐 Auto-detect",
        "english_only": "understands English only",
        "refused": "does not know this language",
        "card": "🗣 Language: Russian, English 0:40",
        "flag": "some of the speech is in another language than the text",
    },
    "ru": {
        "section": "Язык лекций",
        "auto": "🌐 Определять автоматически",
        "english_only": "понимает только английский",
        "refused": "не знает этот язык",
        "card": "🗣 Язык: русский, английский 0:40",
        "flag": "часть речи звучит на другом языке",
    },
}


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_settings_offer_auto_first_and_an_english_only_engine_refuses_russian_up_front(
    settings: Settings, telegram: FakeTelegram, small_video: Path, lang: str
) -> None:
    says = SAYS[lang]
    english_only = settings.model_copy(update={"local_whisper_model": "tiny.en"})
    user_id = 1301 if lang == "en" else 1302
    async with bot_only(english_only):
        user = telegram.user(user_id, "Ann", language_code=lang)
        chat = telegram.private_chat(user)
        await telegram.send_text(chat, user, "/settings")
        menu = await telegram.wait_for_message(user_id, after=0)
        await telegram.press(chat, user, menu.message_id, button(menu, says["section"]))
        await telegram.wait_for(lambda: says["auto"] in str(menu.buttons))
        labels = [label for label, _ in menu.buttons]
        assert labels[0].endswith(says["auto"])
        assert "⚠️ Русский" in labels and "English" in labels and "⚠️ English" not in labels
        assert says["english_only"] in seen(menu)

        await telegram.press(chat, user, menu.message_id, button(menu, "Русский"))
        await telegram.wait_for(lambda: "✅ ⚠️ Русский" in str(menu.buttons))

        mark = telegram.mark()
        await telegram.send_video(chat, user, small_video, file_name="lecture.mp4")
        refusal = await telegram.wait_for_message(user_id, after=mark)
        assert says["refused"] in seen(refusal), seen(refusal)
        assert await rows(english_only, Recording) == []


async def test_the_multilingual_engine_takes_every_offered_language(
    settings: Settings, telegram: FakeTelegram
) -> None:
    async with bot_only(settings):
        user = telegram.user(1303, "Ann", language_code="en")
        chat = telegram.private_chat(user)
        await telegram.send_text(chat, user, "/settings")
        menu = await telegram.wait_for_message(1303, after=0)
        await telegram.press(chat, user, menu.message_id, button(menu, "Lecture language"))
        await telegram.wait_for(lambda: "Auto-detect" in str(menu.buttons))
        assert not [label for label, _ in menu.buttons if "⚠️" in label]
        assert "English only" not in seen(menu)


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_the_card_names_the_languages_heard_and_flags_a_mismatch(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    says = SAYS[lang]
    user_id = 1311 if lang == "en" else 1312
    user = telegram.user(user_id, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    heard = {"language": "ru", "requested": "auto", "languages": {"ru": 52.0, "en": 40.0}}
    flag = {"code": "wrong_language", "detail": "40 s of speech in 'de'"}
    await reviewable(
        app.settings, telegram, chat, user, lecture_video, language=lang, transcript=heard,
        flags=[flag],
    )  # fmt: skip
    card = await telegram.wait_for_message(user_id, lambda m: "📋" in seen(m), after=0)
    assert says["card"] in seen(card), seen(card)
    assert says["flag"] in seen(card)
