"""A workspace's time zone, chosen in /settings: publication times read and shown in it.

A lecturer in Moscow picks Europe/Moscow from the list; one in London types her zone (after a
name that is no zone). A time typed on the review card is then read in that zone, YouTube (the
fake Google on 127.0.0.1) receives it in UTC, and the card and the published link show it in
the zone with its name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from leap.settings import Settings
from storage.models import AuditEvent, Workspace
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import SlowFilesTelegram, button, reviewable, rows, seen
from tests.bot.test_card_outcome_e2e import connect_youtube
from tests.bot.test_presets_e2e import _template
from tests.conftest import running
from tests.fakes.google import FakeGoogle
from tests.fakes.telegram import BotMessage

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram

WORDS = {
    "en": {
        "menu_utc": "Time zone: UTC",
        "button": "Time zone",
        "type": "Type another zone",
        "ask": "IANA name",
        "unknown": "I don't know a time zone called “Mars/Olympus”",
        "saved": "✅ Time zone: Europe/London",
        "zone": "Europe/London",
        "back": "Back",
        "card": "Ready for review",
        "presets": "Presets",
        "file": "File",
        "publish": "🚀 Publish",
        "scheduled": "YouTube: private until",
        "outcome": "Scheduled for",
        "months": ("Jan", "Dec"),
    },
    "ru": {
        "menu_utc": "Часовой пояс: UTC",
        "button": "Часовой пояс",
        "type": "Написать другой пояс",
        "ask": "названием часового пояса",
        "unknown": "Не знаю часового пояса «Mars/Olympus»",
        "saved": "Сохранено.",
        "zone": "Europe/Moscow",
        "back": "Назад",
        "card": "Готово к проверке",
        "presets": "Настройки публикации",
        "file": "Файл",
        "publish": "🚀 Опубликовать",
        "scheduled": "YouTube: закрыто до",
        "outcome": "Публикация запланирована на",
        "months": ("янв", "дек"),
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
) -> dict:
    query = await telegram.press(chat, user, message.message_id, button(message, label))
    return await telegram.wait_for_answer(query)


async def _choose_zone(
    telegram: SlowFilesTelegram, chat: dict, user: dict, lang: str, base: int
) -> None:
    """Moscow from the list in Russian; London typed in English, after a name that is none."""
    words = WORDS[lang]
    await telegram.send_text(chat, user, "/settings")
    menu = await telegram.wait_for_message(base, lambda m: bool(m.buttons), after=0)
    assert words["menu_utc"] in seen(menu)
    await _press(telegram, chat, user, menu, words["button"])
    await telegram.wait_for(lambda: "Asia/Yekaterinburg" in str(menu.buttons))
    labels = [label for label, _data in menu.buttons]
    # A Russian chat sees Moscow first, an English one London.
    assert labels[0] == ("Europe/Moscow" if lang == "ru" else "Europe/London")
    if lang == "ru":
        answer = await _press(telegram, chat, user, menu, "Europe/Moscow")
        assert answer["text"] == words["saved"]
        await telegram.wait_for(lambda: "✅ Europe/Moscow" in str(menu.buttons))
        assert "Europe/Moscow (MSK" in seen(menu)
    else:
        mark = telegram.mark()
        await _press(telegram, chat, user, menu, words["type"])
        prompt = await telegram.wait_for_message(base, after=mark)
        assert words["ask"] in seen(prompt)
        mark = telegram.mark()
        await telegram.send_text(chat, user, "Mars/Olympus")
        refusal = await telegram.wait_for_message(base, after=mark)
        assert words["unknown"] in seen(refusal)
        mark = telegram.mark()
        await telegram.send_text(chat, user, "europe/london")
        saved = await telegram.wait_for_message(base, after=mark)
        assert words["saved"] in seen(saved)
    await _press(telegram, chat, user, menu, words["back"])
    await telegram.wait_for(lambda: words["zone"] in seen(menu))


def _two_days_on(zone: ZoneInfo) -> datetime:
    """Ten o'clock two days on, in the chosen zone ("+2d 10:00")."""
    day = datetime.now(zone).date() + timedelta(days=2)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=zone)


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_time_typed_on_the_card_is_read_and_shown_in_the_workspaces_zone(
    yt_settings: Settings,
    telegram: SlowFilesTelegram,
    google: FakeGoogle,
    lecture_video: Path,
    lang: str,
) -> None:
    words = WORDS[lang]
    base = 2801 if lang == "en" else 2811
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    await connect_youtube(yt_settings, google, chat, user)
    zone = ZoneInfo(words["zone"])

    async with running(yt_settings, telegram):
        await _choose_zone(telegram, chat, user, lang, base)
        [workspace] = await rows(yt_settings, Workspace)
        assert workspace.settings["timezone"] == words["zone"]
        [event] = [
            e
            for e in await rows(yt_settings, AuditEvent, action="settings_changed")
            if e.target == "timezone"
        ]
        assert event.details == {"value": words["zone"]}

        await reviewable(yt_settings, telegram, chat, user, lecture_video, language=lang)
        card = await telegram.wait_for_message(base, lambda m: words["card"] in seen(m), after=0)
        await _press(telegram, chat, user, card, words["file"])
        mark = telegram.mark()
        await _press(telegram, chat, user, card, words["presets"])
        editor = await telegram.wait_for_message(base, after=mark)
        mark = telegram.mark()
        await _press(telegram, chat, user, editor, "🕒")
        prompt = await telegram.wait_for_message(base, after=mark)
        assert str(datetime.now(zone).tzname()) in seen(prompt)
        mark = telegram.mark()
        await telegram.send_text(chat, user, "+2d 10:00")
        await telegram.wait_for_message(base, after=mark)
        local = _two_days_on(zone)
        # GMT or BST in London, MSK in Moscow: the zone's own name for that day.
        shown = f"10:00 {local.tzname()}"
        await telegram.wait_for(lambda: words["scheduled"] in seen(card) and shown in seen(card))
        await telegram.wait_for(lambda: shown in seen(editor))

        await _press(telegram, chat, user, card, words["publish"])
        await telegram.wait_for(lambda: "youtu.be" in seen(card) and bool(card.buttons), timeout=60)

    # YouTube gets the moment in UTC: ten o'clock in the chosen zone.
    [video] = google.videos.values()
    assert video.resource["status"]["publishAt"] == local.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert words["outcome"] in seen(card)
    outcome = seen(card).split(words["outcome"], 1)[1]
    assert f"{local.day} " in outcome and shown in outcome


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_templates_time_is_shown_in_the_zone_it_was_resolved_in(
    settings: Settings, telegram: SlowFilesTelegram, lecture_video: Path, lang: str
) -> None:
    """What the compose stage writes for a workspace in Yekaterinburg: the time and its zone."""
    words = WORDS[lang]
    base = 2821 if lang == "en" else 2831
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    zone = ZoneInfo("Asia/Yekaterinburg")
    day = (datetime.now(zone) + timedelta(days=3)).date()
    when = datetime(day.year, day.month, day.day, 9, 30, tzinfo=zone)
    async with running(settings, telegram):
        await reviewable(
            settings,
            telegram,
            chat,
            user,
            lecture_video,
            language=lang,
            compose={
                "publish_at": when.isoformat(),
                "timezone": "Asia/Yekaterinburg",
            },
        )
        card = await telegram.wait_for_message(base, lambda m: words["card"] in seen(m), after=0)
        mark = telegram.mark()
        await _press(telegram, chat, user, card, words["presets"])
        editor = await telegram.wait_for_message(base, after=mark)
        assert f"{day.day} " in seen(editor) and "09:30 Asia/Yekaterinburg" in seen(editor)


async def test_in_a_group_only_admins_change_the_zone(
    settings: Settings, telegram: SlowFilesTelegram
) -> None:
    group = telegram.group(-1002841, "Физика")
    admin = telegram.user(2841, "Olga", language_code="ru")
    student = telegram.user(2842, "Sam", language_code="en")
    telegram.set_admins(group["id"], [admin["id"]])
    async with running(settings, telegram):
        await telegram.send_text(group, student, "/settings")
        menu = await telegram.wait_for_message(group["id"], lambda m: bool(m.buttons), after=0)
        await _press(telegram, group, student, menu, "🕒")
        await telegram.wait_for(lambda: "Europe/Berlin" in str(menu.buttons))
        answer = await _press(telegram, group, student, menu, "Europe/Berlin")
        assert answer.get("show_alert") is True
        answer = await _press(telegram, group, student, menu, "⌨️")
        assert answer.get("show_alert") is True
        [workspace] = await rows(settings, Workspace)
        assert "timezone" not in (workspace.settings or {})

        answer = await _press(telegram, group, admin, menu, "Europe/Berlin")
        assert answer.get("show_alert") is not True
        await telegram.wait_for(lambda: "✅ Europe/Berlin" in str(menu.buttons))
    [workspace] = await rows(settings, Workspace)
    assert workspace.settings["timezone"] == "Europe/Berlin"


TEMPLATE_WORDS = {
    "en": {"presets": "Presets", "line": "YouTube: private until +1d 09:00 {zone}, then public"},
    "ru": {
        "presets": "Настройки публикации",
        "line": "YouTube: закрыто до +1d 09:00 {zone}, потом",
    },
}


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_templates_time_is_shown_with_the_zone_it_will_be_read_in(
    settings: Settings, telegram: SlowFilesTelegram, lang: str
) -> None:
    words = TEMPLATE_WORDS[lang]
    base = 2891 if lang == "en" else 2895
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    await _template(settings, chat, user)
    zone = ZoneInfo(WORDS[lang]["zone"])
    async with running(settings, telegram):
        await _choose_zone(telegram, chat, user, lang, base)
        mark = telegram.mark()
        await telegram.send_text(chat, user, "/templates")
        listing = await telegram.wait_for_message(base, lambda m: bool(m.buttons), after=mark)
        await _press(telegram, chat, user, listing, "Signals")
        await telegram.wait_for(lambda: words["presets"] in str(listing.buttons))
        mark = telegram.mark()
        await _press(telegram, chat, user, listing, words["presets"])
        editor = await telegram.wait_for_message(base, after=mark)
        mark = telegram.mark()
        await _press(telegram, chat, user, editor, "🕒")
        await telegram.wait_for_message(base, after=mark)
        mark = telegram.mark()
        await telegram.send_text(chat, user, "+1d 09:00")
        await telegram.wait_for_message(base, after=mark)
        line = words["line"].format(zone=datetime.now(zone).tzname())
        await telegram.wait_for(lambda: line in seen(editor))
