"""Disconnecting Yandex Disk withdraws the bot's access at Yandex, or says that it could not.

Yandex is the fake on 127.0.0.1: it revokes only tokens issued for a device (the consent page
named one), checks the app's id and secret, and ends the refresh token with the access token.
"""

from __future__ import annotations

import pytest

from leap.settings import Settings
from tests.bot.test_yandex_connect_e2e import (
    connect_yandex,
    credentials,
    payload_of,
    press,
    yandex,
    yandex_settings,
)
from tests.conftest import running
from tests.fakes.telegram import FakeTelegram
from tests.fakes.yandex import FakeYandex

__all__ = ["yandex"]

WORDS = {
    "en": {
        "button": "Yandex Disk",
        "confirm": "Connect",
        "disconnect": "Disconnect",
        "removed": "Yandex Disk disconnected.",
        "warning": "Yandex did not confirm that it withdrew the bot's access",
    },
    "ru": {
        "button": "Яндекс Диск",
        "confirm": "Подключить",
        "disconnect": "Отключить",
        "removed": "Яндекс Диск отключён.",
        "warning": "Яндекс не подтвердил, что отозвал доступ бота",
    },
}


async def _disconnect(
    telegram: FakeTelegram, chat: dict, user: dict, words: dict[str, str]
) -> dict:
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/connections")
    listing = await telegram.wait_for_message(chat["id"], lambda m: bool(m.buttons), after=mark)
    return await press(telegram, chat, user, listing, words["disconnect"])


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_disconnecting_revokes_the_token_at_yandex(
    settings: Settings, telegram: FakeTelegram, yandex: FakeYandex, lang: str
) -> None:
    words = WORDS[lang]
    configured = yandex_settings(settings, yandex)
    user = telegram.user(5301 if lang == "en" else 5302, "Olga", language_code=lang)
    chat = telegram.private_chat(user)
    async with running(configured, telegram):
        await connect_yandex(
            telegram, yandex, chat, user, button=words["button"], confirm=words["confirm"]
        )
        [credential] = await credentials(configured)
        payload = payload_of(configured, credential)
        answer = await _disconnect(telegram, chat, user, words)
        assert answer["text"] == words["removed"]
        assert await credentials(configured) == []

    [asked] = yandex.revoke_requests
    assert asked["access_token"] == payload["access_token"]
    assert (asked["client_id"], asked["client_secret"]) == (
        yandex.client_id,
        yandex.client_secret,
    )
    assert yandex.tokens[payload["access_token"]].revoked
    assert payload["refresh_token"] not in yandex.refresh_tokens
    # All went well: nothing to warn about.
    assert not any(words["warning"] in (m.content or "") for m in telegram.sent(chat["id"]))


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_revocation_yandex_refuses_still_disconnects_and_says_so(
    settings: Settings, telegram: FakeTelegram, yandex: FakeYandex, lang: str
) -> None:
    words = WORDS[lang]
    configured = yandex_settings(settings, yandex)
    user = telegram.user(5311 if lang == "en" else 5312, "Olga", language_code=lang)
    chat = telegram.private_chat(user)
    async with running(configured, telegram):
        await connect_yandex(
            telegram, yandex, chat, user, button=words["button"], confirm=words["confirm"]
        )
        yandex.revoke_status = 503
        mark = telegram.mark()
        answer = await _disconnect(telegram, chat, user, words)
        assert answer["text"] == words["removed"]
        warning = await telegram.wait_for_message(
            chat["id"], lambda m: words["warning"] in (m.content or ""), after=mark
        )
        assert "id.yandex.ru" in (warning.content or "")
        assert await credentials(configured) == []
    assert len(yandex.revoke_requests) == 1
