"""Chapters in the chat: only real topics, YouTube's minimum only when YouTube is chosen, and
an error names the line to change. In English and in Russian."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from locales import gettext
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, seen
from tests.bot.test_audio_intake_e2e import connect_picture_platforms
from tests.conftest import RunningBot
from tests.fakes.telegram import BotMessage, FakeTelegram

lecture_video = chat_fixtures.lecture_video
LANGS = pytest.mark.parametrize("lang", ["en", "ru"])


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def _say(lang: str, key: str, **params: Any) -> str:
    return _plain(gettext(lang, key, **params))


def _metadata(folder: Path) -> dict[str, Any]:
    data = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


async def _card(telegram: FakeTelegram, chat_id: int, lang: str) -> BotMessage:
    heading = _say(lang, "review.heading", title="").strip()
    return await telegram.wait_for_message(chat_id, lambda m: heading in seen(m), after=0)


async def _editor(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], card: BotMessage, lang: str
) -> BotMessage:
    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, _say(lang, "review.button_top")))
    listing = _say(lang, "topics_edit.button_list")
    return await telegram.wait_for_message(
        chat["id"], lambda m: listing in str(m.buttons), after=mark
    )


async def _delete(
    telegram: FakeTelegram,
    chat: dict[str, Any],
    user: dict[str, Any],
    editor: BotMessage,
    label: str,
    lang: str,
) -> dict[str, Any]:
    number = int(label.split(".")[0])
    await telegram.wait_for(lambda: label in str(editor.buttons))
    await telegram.press(chat, user, editor.message_id, button(editor, label))
    shown = _say(lang, "topics_edit.topic", number=number, time="", title="").split(":")[0]
    await telegram.wait_for(lambda: shown in seen(editor))
    delete = _say(lang, "topics_edit.button_delete")
    query = await telegram.press(chat, user, editor.message_id, button(editor, delete))
    answer = await telegram.wait_for_answer(query)
    assert isinstance(answer, dict)
    return answer


@LANGS
async def test_a_file_only_export_keeps_two_topics_when_one_is_deleted(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    user = telegram.user(1501 if lang == "en" else 1502, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    card = await _card(telegram, chat["id"], lang)
    editor = await _editor(telegram, chat, user, card, lang)

    await _delete(telegram, chat, user, editor, "4. Questions", lang)
    await telegram.wait_for(lambda: "Questions" not in seen(card))
    answer = await _delete(telegram, chat, user, editor, "3. Aliasing", lang)
    # Nothing here goes to YouTube: its minimum of three is not asked for.
    assert answer.get("show_alert") is not True, answer
    assert answer["text"] == _say(lang, "topics_edit.deleted")
    await telegram.wait_for(lambda: "Aliasing" not in seen(card))
    assert [c["title"] for c in _metadata(made.folder)["chapters"]] == ["Introduction", "Sampling"]
    assert "0:20 Sampling" in seen(card)
    assert _say(lang, "review.youtube_no_chapters", min=3, count=2) not in seen(card)


@LANGS
async def test_with_youtube_chosen_two_topics_go_without_a_chapter_list_and_the_card_says_so(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    user = telegram.user(1511 if lang == "en" else 1512, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    await connect_picture_platforms(app.settings, chat)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    card = await _card(telegram, chat["id"], lang)
    assert "0:41 Aliasing" in _metadata(made.folder)["description"]
    note = _say(lang, "review.youtube_no_chapters", min=3, count=2)
    assert note not in seen(card)

    editor = await _editor(telegram, chat, user, card, lang)
    await _delete(telegram, chat, user, editor, "4. Questions", lang)
    await telegram.wait_for(lambda: "Questions" not in seen(card))
    answer = await _delete(telegram, chat, user, editor, "3. Aliasing", lang)
    assert answer["text"] == _say(lang, "topics_edit.deleted")

    # The card tells what YouTube will lack; nothing is padded to make up three.
    await telegram.wait_for(lambda: note in seen(card))
    assert "YouTube" in seen(card)
    metadata = _metadata(made.folder)
    assert [c["title"] for c in metadata["chapters"]] == ["Introduction", "Sampling"]
    assert not re.search(r"^\d+:\d\d ", metadata["description"], re.MULTILINE), metadata
    assert "(2)" not in json.dumps(metadata, ensure_ascii=False)


@LANGS
async def test_a_topic_too_short_is_reported_on_its_own_line(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    user = telegram.user(1521 if lang == "en" else 1522, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    card = await _card(telegram, chat["id"], lang)
    editor = await _editor(telegram, chat, user, card, lang)
    mark = telegram.mark()
    await telegram.press(
        chat, user, editor.message_id, button(editor, _say(lang, "topics_edit.button_list"))
    )
    prompt = await telegram.wait_for_message(
        chat["id"], lambda m: "00:00:20 Sampling" in seen(m), after=mark
    )

    # The first topic lasts five seconds: line 1 is the one to change, not line 2.
    mark = telegram.mark()
    listing = "00:00 Welcome\n00:05 Sampling\n00:41 Aliasing"
    await telegram.send_text(chat, user, listing, reply_to=prompt.message_id)
    heading = _say(lang, "topics_edit.errors")
    error = await telegram.wait_for_message(chat["id"], lambda m: heading in seen(m), after=mark)
    reason = _say(lang, "topics_edit.err_too_close", min=10)
    first = _say(lang, "topics_edit.error_line", line=1, reason=reason, text="00:00 Welcome")
    assert first in seen(error), seen(error)
    wrong = _say(lang, "topics_edit.error_line", line=2, reason=reason, text="00:05 Sampling")
    assert wrong not in seen(error)
