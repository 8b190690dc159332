"""Publish presets as a person changes them: on the review card, then on a template's card.

YouTube is the fake Google on 127.0.0.1, which checks what videos.insert receives (publishAt
only on a private video and in the future, licence, category, notifySubscribers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from jobs import template_service
from leap.settings import Settings
from storage import repo
from storage.db import create_engine, session_maker
from storage.models import Role, WorkspaceKind
from storage.models import Template as TemplateRow
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import SlowFilesTelegram, button, reviewable, rows, seen
from tests.bot.test_card_outcome_e2e import connect_youtube
from tests.conftest import running
from tests.fakes.google import FakeGoogle
from tests.fakes.telegram import BotMessage

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram

WORDS = {
    "en": {
        "card": "Ready for review",
        "publish": "🚀 Publish",
        "file": "File",
        "presets": "Presets",
        "now": "What will happen",
        "public": "YouTube: public; playlist ",
        "when": "🕒",
        "bad": "I can't read that time",
        "saved": "Saved.",
        "scheduled": "YouTube: private until {time}, then public",
        "license": "Licence:",
        "notify": "Notify subscribers:",
        "category": "Category:",
        "extras": "Creative Commons; category Science & Technology; subscribers not notified",
        "outcome": "Scheduled for {time}",
        "month": "Dec",
        "done": "Done",
        "privacy": "YouTube: private",
        "tpl_line": "YouTube: private; VK: everyone",
        "tpl_public": "YouTube: public",
        "tpl_when": "YouTube: private until +1d 09:00, then public",
    },
    "ru": {
        "card": "Готово к проверке",
        "publish": "🚀 Опубликовать",
        "file": "Файл",
        "presets": "Настройки публикации",
        "now": "Что произойдёт",
        "public": "YouTube: открытое; плейлист ",
        "when": "🕒",
        "bad": "Не понимаю это время",
        "saved": "Сохранено.",
        "scheduled": "YouTube: закрыто до {time}, потом открытое",
        "license": "Лицензия:",
        "notify": "Уведомить подписчиков:",
        "category": "Категория:",
        "extras": "Creative Commons; категория «Наука и техника»; без уведомления подписчиков",
        "outcome": "Публикация запланирована на {time}",
        "month": "дек",
        "done": "Готово",
        "privacy": "YouTube: закрытое",
        "tpl_line": "YouTube: закрытое; ВКонтакте: видно всем",
        "tpl_public": "YouTube: открытое",
        "tpl_when": "YouTube: закрыто до +1d 09:00, потом открытое",
    },
}


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


@pytest.fixture
def yt_settings(settings: Settings, google: FakeGoogle) -> Settings:
    return settings.model_copy(
        update={
            "youtube_client_id": google.client_id,
            "youtube_client_secret": SecretStr(google.client_secret),
            "google_auth_url": google.auth_url,
            "google_token_url": google.token_url,
            "youtube_api_url": google.api_url,
            "publish_retry_delay": 0.02,
        }
    )


async def _press(
    telegram: SlowFilesTelegram, chat: dict, user: dict, message: BotMessage, label: str
) -> None:
    query = await telegram.press(chat, user, message.message_id, button(message, label))
    await telegram.wait_for_answer(query)


def _when_shown(lang: str) -> tuple[datetime, str]:
    day = datetime.now(UTC).date() + timedelta(days=2)
    when = datetime(day.year, day.month, day.day, 10, 0, tzinfo=UTC)
    month = WORDS[lang]["month"] if when.month == 12 else None
    shown = f"{when.day} {month} 10:00 UTC" if month else ""
    return when, shown


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_presets_on_the_card_schedule_the_youtube_video(
    yt_settings: Settings,
    telegram: SlowFilesTelegram,
    google: FakeGoogle,
    lecture_video: Path,
    lang: str,
) -> None:
    words = WORDS[lang]
    base = 1701 if lang == "en" else 1711
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    await connect_youtube(yt_settings, google, chat, user)
    playlist = google.add_playlist("Signals")
    when, shown = _when_shown(lang)

    async with running(yt_settings, telegram):
        await reviewable(
            yt_settings,
            telegram,
            chat,
            user,
            lecture_video,
            language=lang,
            compose={"privacy": "public", "playlist_id": playlist},
        )
        card = await telegram.wait_for_message(base, lambda m: words["card"] in seen(m), after=0)
        # The template's presets, in one line on the card.
        assert words["public"] + playlist in seen(card)
        await _press(telegram, chat, user, card, words["file"])

        mark = telegram.mark()
        await _press(telegram, chat, user, card, words["presets"])
        editor = await telegram.wait_for_message(base, after=mark)
        assert words["now"] in seen(editor)

        mark = telegram.mark()
        await _press(telegram, chat, user, editor, words["when"])
        prompt = await telegram.wait_for_message(base, after=mark)
        assert "+2d 10:00" in seen(prompt) and "UTC" in seen(prompt)
        mark = telegram.mark()
        await telegram.send_text(chat, user, "some day soon")
        refusal = await telegram.wait_for_message(base, after=mark)
        assert words["bad"] in seen(refusal)
        mark = telegram.mark()
        await telegram.send_text(chat, user, "+2d 10:00")
        saved = await telegram.wait_for_message(base, after=mark)
        assert seen(saved) == words["saved"]
        scheduled = words["scheduled"].format(time=shown) if shown else "10:00 UTC"
        await telegram.wait_for(lambda: scheduled in seen(editor))
        await telegram.wait_for(lambda: scheduled in seen(card))

        for label in (words["license"], words["notify"], words["category"]):
            await _press(telegram, chat, user, editor, label)
        await telegram.wait_for(lambda: words["extras"] in seen(card))
        await _press(telegram, chat, user, editor, words["done"])
        await telegram.wait_for(lambda: not editor.buttons)

        await _press(telegram, chat, user, card, words["publish"])
        await telegram.wait_for(lambda: "youtu.be" in seen(card) and bool(card.buttons), timeout=60)

    # What YouTube received, checked by the fake as YouTube checks it.
    [video] = google.videos.values()
    [session] = google.sessions.values()
    status = video.resource["status"]
    assert status["privacyStatus"] == "private"
    assert status["publishAt"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["license"] == "creativeCommon"
    assert video.resource["snippet"]["categoryId"] == "28"
    assert session.query["notifySubscribers"] == "false"
    assert [item.playlist_id for item in google.playlist_items] == [playlist]
    outcome = words["outcome"].format(time=shown) if shown else "10:00 UTC"
    assert outcome in seen(card)


async def _template(settings: Settings, chat: dict, user: dict) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace, _ = await repo.ensure_workspace(
                session, chat["id"], WorkspaceKind.PERSONAL, user["first_name"]
            )
            await repo.upsert_member(session, workspace.id, user["id"], role=Role.OWNER)
            row = await template_service.save(
                session,
                workspace.id,
                user["id"],
                {"name": "Signals", "match": {"keywords_any": ["signals"]}},
                None,
                "template_created",
            )
            return row.id
    finally:
        await engine.dispose()


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_templates_presets_are_changed_from_its_card(
    settings: Settings, telegram: SlowFilesTelegram, lang: str
) -> None:
    words = WORDS[lang]
    base = 1721 if lang == "en" else 1731
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    template_id = await _template(settings, chat, user)

    async with running(settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, "/templates")
        listing = await telegram.wait_for_message(base, lambda m: bool(m.buttons), after=mark)
        await _press(telegram, chat, user, listing, "Signals")
        await telegram.wait_for(lambda: words["tpl_line"] in seen(listing))

        mark = telegram.mark()
        await _press(telegram, chat, user, listing, words["presets"])
        editor = await telegram.wait_for_message(base, after=mark)
        await _press(telegram, chat, user, editor, words["privacy"])
        await telegram.wait_for(lambda: words["tpl_public"] in seen(editor))

        mark = telegram.mark()
        await _press(telegram, chat, user, editor, words["when"])
        await telegram.wait_for_message(base, after=mark)
        mark = telegram.mark()
        await telegram.send_text(chat, user, "+1d 09:00")
        await telegram.wait_for_message(base, after=mark)
        await telegram.wait_for(lambda: words["tpl_when"] in seen(editor))

    [row] = await rows(settings, TemplateRow, id=template_id)
    assert row.body["privacy"] == "public"
    assert row.body["publish_at"] == "+1d 09:00"


async def test_in_a_group_only_admins_change_the_presets(
    settings: Settings, telegram: SlowFilesTelegram, lecture_video: Path
) -> None:
    group = telegram.group(-1001741, "Signals course")
    owner = telegram.user(1741, "Olga", language_code="en")
    member = telegram.user(1742, "Masha", language_code="ru")
    telegram.set_admins(group["id"], [], creator=owner["id"])
    async with running(settings, telegram):
        await reviewable(settings, telegram, group, owner, lecture_video)
        card = await telegram.wait_for_message(
            group["id"], lambda m: "Ready for review" in seen(m), after=0
        )
        query = await telegram.press(group, member, card.message_id, button(card, "Presets"))
        answer = await telegram.wait_for_answer(query)
        assert answer["show_alert"] is True and "администратор" in answer["text"]

        mark = telegram.mark()
        await _press(telegram, group, owner, card, "Presets")
        editor = await telegram.wait_for_message(group["id"], after=mark)
        assert "What will happen" in seen(editor)
        query = await telegram.press(group, member, editor.message_id, button(editor, "Licence"))
        answer = await telegram.wait_for_answer(query)
        assert answer["show_alert"] is True
