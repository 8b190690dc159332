"""Connecting Yandex Disk as people do: /connect, Yandex's consent page, Confirm in the chat.

The sign-in uses a state and PKCE, stores nothing before its starter confirms, and in a group
only the admin who started it can finish it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from leap.settings import Settings
from storage.crypto import SecretBox
from storage.db import create_engine
from storage.models import Credential
from tests.conftest import running
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.fakes.yandex import FakeYandex


@pytest.fixture
async def yandex() -> AsyncIterator[FakeYandex]:
    async with FakeYandex() as fake:
        fake.add_account("ann", "Ann Petrova")
        fake.add_account("mallory", "Mallory")
        yield fake


def yandex_settings(settings: Settings, yandex: FakeYandex, *, public: bool = True) -> Settings:
    base = f"http://127.0.0.1:{settings.web_port}"
    return settings.model_copy(
        update={
            "public_base_url": base if public else None,
            "yandex_client_id": yandex.client_id,
            "yandex_client_secret": SecretStr(yandex.client_secret),
            "yandex_oauth_url": yandex.oauth_url,
            "yandex_disk_api_url": yandex.api_url,
        }
    )


async def credentials(settings: Settings) -> list[Any]:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.select(Credential))).all())
    finally:
        await engine.dispose()


def payload_of(settings: Settings, credential: Any) -> dict[str, Any]:
    assert settings.secret_key is not None
    return SecretBox(settings.secret_key.get_secret_value()).decrypt(credential.payload)


async def choose(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], button: str
) -> BotMessage:
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/connect")
    menu = await telegram.wait_for_message(chat["id"], lambda m: bool(m.buttons), after=mark)
    data = next(target for text, target in menu.buttons if text == button)
    mark = telegram.mark()
    await telegram.press(chat, user, menu.message_id, data)
    return await telegram.wait_for_message(chat["id"], after=mark)


async def press(
    telegram: FakeTelegram,
    chat: dict[str, Any],
    person: dict[str, Any],
    question: BotMessage,
    label: str,
) -> dict[str, Any]:
    data = next(target for text, target in question.buttons if label in text)
    return await telegram.wait_for_answer(
        await telegram.press(chat, person, question.message_id, data)
    )


async def connect_yandex(
    telegram: FakeTelegram,
    yandex: FakeYandex,
    chat: dict[str, Any],
    user: dict[str, Any],
    *,
    login: str = "ann",
    button: str = "Yandex Disk",
    confirm: str = "Connect",
) -> BotMessage:
    """The whole sign-in in a private chat with a public web server; the answered question."""
    prompt = await choose(telegram, chat, user, button)
    [(_label, link)] = prompt.buttons
    async with httpx.AsyncClient() as http:
        page = await http.get(yandex.approve(link, login=login))
    assert page.status_code == 200
    question = await telegram.wait_for_message(
        chat["id"], lambda m: "<b>" in (m.content or "") and bool(m.buttons), after=0
    )
    await press(telegram, chat, user, question, confirm)
    await telegram.wait_for(lambda: not question.buttons)
    return question


@pytest.mark.parametrize(
    ("lang", "button", "sign_in", "asked", "done", "listed"),
    [
        (
            "en",
            "Yandex Disk",
            "Sign in with Yandex",
            "Connect the Yandex Disk of <b>Ann Petrova (ann)</b> here? Only Olga",
            "Yandex Disk connected: <b>Ann Petrova (ann)</b>.",
            "• Yandex Disk: Ann Petrova (ann)",
        ),
        (
            "ru",
            "Яндекс Диск",
            "Войти через Яндекс",
            "Подключить здесь Яндекс Диск аккаунта <b>Ann Petrova (ann)</b>? Подтвердить",
            "Яндекс Диск подключён: <b>Ann Petrova (ann)</b>.",
            "• Яндекс Диск: Ann Petrova (ann)",
        ),
    ],
)
async def test_yandex_disk_connects_through_the_web_callback(
    settings: Settings,
    telegram: FakeTelegram,
    yandex: FakeYandex,
    lang: str,
    button: str,
    sign_in: str,
    asked: str,
    done: str,
    listed: str,
) -> None:
    configured = yandex_settings(settings, yandex)
    user = telegram.user(5101 if lang == "en" else 5102, "Olga", language_code=lang)
    chat = telegram.private_chat(user)

    async with running(configured, telegram), httpx.AsyncClient() as http:
        prompt = await choose(telegram, chat, user, button)
        [(label, link)] = prompt.buttons
        query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        redirect = yandex.approve(link, login="ann")
        page = await http.get(redirect)
        question = await telegram.wait_for_message(
            chat["id"], lambda m: "Ann Petrova" in (m.content or "") and bool(m.buttons), after=0
        )
        # Nothing is kept before the person says the account is the right one.
        assert await credentials(configured) == []
        asked_text = question.content or ""
        await press(telegram, chat, user, question, "✅")
        await telegram.wait_for(lambda: not question.buttons)
        again = await http.get(redirect)
        mark = telegram.mark()
        await telegram.send_text(chat, user, "/connections")
        listing = await telegram.wait_for_message(chat["id"], after=mark)

    assert label == sign_in
    assert link.startswith(f"{yandex.oauth_url}/authorize?")
    assert query["code_challenge_method"] == "S256" and len(query["state"]) >= 32
    assert query["redirect_uri"] == f"{configured.public_base_url}/oauth/yandex/callback"
    assert page.status_code == 200
    assert asked in asked_text
    assert (question.content or "").startswith(done)
    assert again.status_code == 400
    assert listed in listing.content
    [credential] = await credentials(configured)
    assert (credential.provider, credential.account_name) == ("yandex", "Ann Petrova (ann)")
    payload = payload_of(configured, credential)
    assert yandex.owner_of(payload["access_token"]) == "ann"
    assert payload["refresh_token"] in yandex.refresh_tokens
    assert payload["access_token"] not in credential.payload
    # The code was traded with the verifier whose challenge the consent page saw.
    assert yandex.token_requests[-1]["code_verifier"]


async def test_in_a_group_only_the_admin_who_started_it_can_connect_the_disk(
    settings: Settings, telegram: FakeTelegram, yandex: FakeYandex
) -> None:
    configured = yandex_settings(settings, yandex)
    group = telegram.group(-100520, "Physics")
    admin = telegram.user(521, "Adam")
    member = telegram.user(522, "Sam", language_code="ru")
    telegram.private_chat(admin)
    telegram.private_chat(member)
    telegram.set_admins(group["id"], [admin["id"]])

    async with running(configured, telegram), httpx.AsyncClient() as http:
        mark = telegram.mark()
        said = await choose(telegram, group, admin, "Yandex Disk")
        private = await telegram.wait_for_message(
            admin["id"], lambda m: bool(m.buttons), after=mark
        )
        [(_label, link)] = private.buttons
        # The link leaks; the member approves with their own Yandex account.
        page = await http.get(yandex.approve(link, login="mallory"))
        question = await telegram.wait_for_message(
            group["id"], lambda m: "Mallory" in (m.content or "") and bool(m.buttons), after=0
        )
        refused = await press(telegram, group, member, question, "Connect")
        stored_then = await credentials(configured)
        await press(telegram, group, admin, question, "Cancel")
        await telegram.wait_for(lambda: not question.buttons)

    assert "sent you the sign-in link in a private message" in said.content
    assert not [
        t for m in telegram.sent(group["id"]) for _l, t in m.buttons if t.startswith("http")
    ]
    assert page.status_code == 200
    assert refused["show_alert"] is True and refused["text"] == "Подтвердить это может только Adam."
    assert stored_then == []
    assert question.content == "Yandex Disk was not connected: the sign-in was cancelled."
    assert await credentials(configured) == []


async def test_a_pasted_address_finishes_the_sign_in_without_a_public_server(
    settings: Settings, telegram: FakeTelegram, yandex: FakeYandex
) -> None:
    configured = yandex_settings(settings, yandex, public=False)
    user = telegram.user(531, "Ирина", language_code="ru")
    chat = telegram.private_chat(user)

    async with running(configured, telegram):
        prompt = await choose(telegram, chat, user, "Яндекс Диск")
        [(_label, link)] = prompt.buttons
        redirect = yandex.approve(link, login="ann")
        await telegram.send_text(chat, user, redirect)
        question = await telegram.wait_for_message(
            chat["id"], lambda m: "Ann Petrova" in (m.content or "") and bool(m.buttons), after=0
        )
        await press(telegram, chat, user, question, "Подключить")
        await telegram.wait_for(lambda: not question.buttons)

    assert "скопируйте весь адрес" in prompt.content
    assert (question.content or "").startswith("Яндекс Диск подключён")
    [credential] = await credentials(configured)
    assert credential.provider == "yandex"
