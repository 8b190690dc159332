"""A sign-in to YouTube or VK completes only for the person who started it.

In a group the consent link goes to the admin who asked, in a private message; whoever else
gets hold of it and approves with their own account only makes the bot ask the group "Connect
X?", a question only that admin can answer. A forged code does not use a sign-in up, and a
pasted redirect address is taken from its starter alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from redis.asyncio import Redis

from leap.settings import Settings
from storage.crypto import SecretBox
from storage.db import create_engine
from storage.models import AuditEvent, Credential, Role
from tests.bot.test_roles_e2e import wait_for_role
from tests.conftest import running
from tests.fakes.google import FakeGoogle
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.fakes.vk import FakeVk

ADMIN_VK = 7
MEMBER_VK = 8


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


@pytest.fixture
async def vk() -> AsyncIterator[FakeVk]:
    async with FakeVk() as fake:
        fake.add_user(ADMIN_VK, "Anna", "Petrova")
        fake.add_user(MEMBER_VK, "Mallory")
        yield fake


def _configured(settings: Settings, google: FakeGoogle, vk: FakeVk, *, public: bool) -> Settings:
    base = f"http://127.0.0.1:{settings.web_port}"
    vk.redirect_uris.add(f"{base}/oauth/vk/callback")
    return settings.model_copy(
        update={
            "public_base_url": base if public else None,
            "youtube_client_id": google.client_id,
            "youtube_client_secret": SecretStr(google.client_secret),
            "google_auth_url": google.auth_url,
            "google_token_url": google.token_url,
            "youtube_api_url": google.api_url,
            "vk_client_id": vk.client_id,
            "vk_api_url": vk.api_url,
            "vk_oauth_url": vk.oauth_url,
        }
    )


@pytest.fixture
def public(settings: Settings, google: FakeGoogle, vk: FakeVk) -> Settings:
    return _configured(settings, google, vk, public=True)


async def _rows(settings: Settings, model: type) -> list[Any]:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.select(model))).all())
    finally:
        await engine.dispose()


def _links(telegram: FakeTelegram, chat_id: int) -> list[str]:
    """Every address a button of the bot's messages in the chat opens."""
    return [
        target
        for message in telegram.sent(chat_id)
        for _label, target in message.buttons
        if target.startswith("http")
    ]


async def _start(
    telegram: FakeTelegram, group: dict[str, Any], admin: dict[str, Any], button: str
) -> BotMessage:
    """The admin asks for /connect in the group and picks `button`; the group's answer."""
    mark = telegram.mark()
    await telegram.send_text(group, admin, "/connect")
    menu = await telegram.wait_for_message(group["id"], lambda m: bool(m.buttons), after=mark)
    data = next(target for text, target in menu.buttons if text == button)
    mark = telegram.mark()
    await telegram.press(group, admin, menu.message_id, data)
    return await telegram.wait_for_message(group["id"], after=mark)


async def _private_link(telegram: FakeTelegram, person: dict[str, Any], after: int) -> str:
    """The consent page's address the bot sent the person privately."""
    message = await telegram.wait_for_message(person["id"], lambda m: bool(m.buttons), after=after)
    [(_label, link)] = message.buttons
    return link


async def _question(telegram: FakeTelegram, chat_id: int, account: str) -> BotMessage:
    return await telegram.wait_for_message(
        chat_id, lambda m: account in (m.content or "") and bool(m.buttons), after=0
    )


async def _press(
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


def _payload(settings: Settings, credential: Any) -> dict[str, Any]:
    assert settings.secret_key is not None
    return SecretBox(settings.secret_key.get_secret_value()).decrypt(credential.payload)


async def _connections_added(settings: Settings) -> list[tuple[int | None, str, str]]:
    return [
        (event.user_id, event.target, event.details.get("account"))
        for event in await _rows(settings, AuditEvent)
        if event.action == "connection_added"
    ]


async def test_a_member_who_approves_the_admins_youtube_link_cannot_connect_their_channel(
    public: Settings, telegram: FakeTelegram, google: FakeGoogle
) -> None:
    group = telegram.group(-100810, "Physics")
    admin = telegram.user(811, "Adam")
    member = telegram.user(812, "Sam", language_code="ru")
    telegram.private_chat(admin)
    telegram.private_chat(member)
    telegram.set_admins(group["id"], [admin["id"]])

    async with running(public, telegram), httpx.AsyncClient() as http:
        mark = telegram.mark()
        said = await _start(telegram, group, admin, "YouTube")
        assert said.content == "Adam, I sent you the sign-in link in a private message. " + (
            "Once you allow access, I will ask you here to confirm the account."
        )
        link = await _private_link(telegram, admin, mark)
        assert link.startswith(google.auth_url)
        assert _links(telegram, group["id"]) == []

        # The link leaks; the member approves with their own Google account.
        page = await http.get(google.approve(link, channel_title="Sam's vlog"))
        assert page.status_code == 200 and "confirm the account" in page.text
        question = await _question(telegram, group["id"], "Sam's vlog")
        assert question.content == (
            "Connect the YouTube channel <b>Sam's vlog</b> here? "
            "Only Adam, who started the sign-in, can confirm."
        )
        refused = await _press(telegram, group, member, question, "Connect")
        assert refused["show_alert"] is True
        assert refused["text"] == "Подтвердить это может только Adam."
        assert await _rows(public, Credential) == []
        await _press(telegram, group, admin, question, "Cancel")
        await telegram.wait_for(lambda: not question.buttons)
        assert question.content == "YouTube was not connected: the sign-in was cancelled."

        # The admin's own sign-in: the member still cannot answer it, the admin can.
        mark = telegram.mark()
        await _start(telegram, group, admin, "YouTube")
        page = await http.get(google.approve(await _private_link(telegram, admin, mark)))
        assert page.status_code == 200
        question = await _question(telegram, group["id"], "Lecture Hall")
        refused = await _press(telegram, group, member, question, "Connect")
        assert refused["text"] == "Подтвердить это может только Adam."
        assert await _rows(public, Credential) == []
        await _press(telegram, group, admin, question, "Connect")
        await telegram.wait_for(lambda: not question.buttons)

    assert question.content == "YouTube connected: <b>Lecture Hall</b>"
    assert _links(telegram, group["id"]) == []
    [credential] = await _rows(public, Credential)
    assert (credential.account_name, credential.created_by) == ("Lecture Hall", admin["id"])
    assert await _connections_added(public) == [(admin["id"], "youtube", "Lecture Hall")]


async def test_a_member_who_approves_the_admins_vk_link_cannot_connect_their_account(
    public: Settings, telegram: FakeTelegram, vk: FakeVk
) -> None:
    group = telegram.group(-100820, "Физика")
    admin = telegram.user(821, "Анна", language_code="ru")
    member = telegram.user(822, "Mallory", language_code="en")
    telegram.private_chat(admin)
    telegram.set_admins(group["id"], [admin["id"]])

    async with running(public, telegram), httpx.AsyncClient() as http:
        mark = telegram.mark()
        said = await _start(telegram, group, admin, "ВКонтакте")
        assert said.content == (
            "Анна, я отправил вам ссылку для входа в личные сообщения. "
            "Когда вы разрешите доступ, я попрошу здесь подтвердить аккаунт."
        )
        link = await _private_link(telegram, admin, mark)
        assert link.startswith(vk.oauth_url)
        assert _links(telegram, group["id"]) == []

        page = await http.get(await vk.approve(link, user_id=MEMBER_VK))
        assert page.status_code == 200
        question = await _question(telegram, group["id"], "Mallory (id8)")
        assert question.content == (
            "Подключить здесь аккаунт ВКонтакте <b>Mallory (id8)</b>? "
            "Подтвердить может только Анна — тот, кто начал вход."
        )
        refused = await _press(telegram, group, member, question, "Подключить")
        assert refused["show_alert"] is True
        assert refused["text"] == "Only Анна can confirm this."
        await _press(telegram, group, admin, question, "Отмена")
        await telegram.wait_for(lambda: not question.buttons)
        assert question.content == "ВКонтакте не подключён: вход отменён."
        assert await _rows(public, Credential) == []

        mark = telegram.mark()
        await _start(telegram, group, admin, "ВКонтакте")
        link = await _private_link(telegram, admin, mark)
        page = await http.get(await vk.approve(link, user_id=ADMIN_VK))
        question = await _question(telegram, group["id"], "Anna Petrova (id7)")
        refused = await _press(telegram, group, member, question, "Подключить")
        assert refused["text"] == "Only Анна can confirm this."
        await _press(telegram, group, admin, question, "Подключить")
        await telegram.wait_for(lambda: not question.buttons)

    assert "ВКонтакте подключён (Anna Petrova (id7))" in (question.content or "")
    [credential] = await _rows(public, Credential)
    assert credential.created_by == admin["id"]
    assert vk.owner_of(_payload(public, credential)["access_token"]) == ("user", ADMIN_VK)
    assert await _connections_added(public) == [(admin["id"], "vk", "Anna Petrova (id7)")]


async def test_a_forged_code_leaves_the_sign_in_usable_and_a_state_succeeds_once(
    public: Settings, telegram: FakeTelegram, google: FakeGoogle, vk: FakeVk
) -> None:
    user = telegram.user(831, "Olga")
    chat = telegram.private_chat(user)
    base = public.public_base_url

    async with running(public, telegram), httpx.AsyncClient() as http:
        [(_label, link)] = (await _start(telegram, chat, user, "YouTube")).buttons
        state = parse_qs(urlsplit(link).query)["state"][0]
        forged = await http.get(
            f"{base}/oauth/google/callback?" + urlencode({"state": state, "code": "4/0Aforged"})
        )
        assert forged.status_code == 400 and "refused" in forged.text
        assert google.token_grants == ["authorization_code"]

        # The person's own consent, opened twice at once: one goes on, the other is told.
        first, second = google.approve(link), google.approve(link)
        pages = await asyncio.gather(http.get(first), http.get(second))
        assert sorted(page.status_code for page in pages) == [200, 400]
        assert "already used" in next(p.text for p in pages if p.status_code == 400)
        question = await _question(telegram, chat["id"], "Lecture Hall")
        await _press(telegram, chat, user, question, "Connect")
        await telegram.wait_for(lambda: not question.buttons)
        assert question.content == "YouTube connected: <b>Lecture Hall</b>"

        [(_label, link)] = (await _start(telegram, chat, user, "VK")).buttons
        state = parse_qs(urlsplit(link).query)["state"][0]
        forged_vk = await http.get(
            f"{base}/oauth/vk/callback?"
            + urlencode({"state": state, "code": "vk2.forged", "device_id": "d" * 32})
        )
        page = await http.get(await vk.approve(link, user_id=ADMIN_VK))
        question = await _question(telegram, chat["id"], "Anna Petrova (id7)")
        await _press(telegram, chat, user, question, "Connect")
        await telegram.wait_for(lambda: not question.buttons)

    assert forged_vk.status_code == 400 and page.status_code == 200
    # One question per sign-in, each answered by the one Confirm.
    answers = [m.content for m in telegram.sent(chat["id"]) if " connected" in (m.content or "")]
    assert answers == ["YouTube connected: <b>Lecture Hall</b>", question.content]
    assert sorted(row.provider for row in await _rows(public, Credential)) == ["vk", "youtube"]
    assert [target for _u, target, _a in await _connections_added(public)] == ["youtube", "vk"]


async def test_a_pasted_address_is_taken_only_from_the_person_who_started_the_sign_in(
    settings: Settings, telegram: FakeTelegram, google: FakeGoogle, vk: FakeVk
) -> None:
    private = _configured(settings, google, vk, public=False)
    group = telegram.group(-100840, "Physics")
    admin = telegram.user(841, "Adam")
    member = telegram.user(842, "Sam")
    admin_chat = telegram.private_chat(admin)
    member_chat = telegram.private_chat(member)
    telegram.set_admins(group["id"], [admin["id"]])

    async with running(private, telegram):
        mark = telegram.mark()
        await _start(telegram, group, admin, "YouTube")
        sent = await telegram.wait_for_message(admin["id"], lambda m: bool(m.buttons), after=mark)
        assert "copy the whole address" in (sent.content or "")
        assert "«Physics»" in (sent.content or "")
        redirect = google.approve(sent.buttons[0][1])

        for chat in (group, member_chat):
            mark = telegram.mark()
            pasted = await telegram.send_text(chat, member, redirect)
            refusal = await telegram.wait_for_message(chat["id"], after=mark)
            assert "started by someone else" in (refusal.content or "")
            assert (chat["id"], pasted["message_id"]) in telegram.deleted_user_messages

        mark = telegram.mark()
        pasted = await telegram.send_text(admin_chat, admin, redirect)
        told = await telegram.wait_for_message(admin["id"], after=mark)
        assert told.content == "Now confirm the account in the chat where you started the sign-in."
        assert (admin["id"], pasted["message_id"]) in telegram.deleted_user_messages
        question = await _question(telegram, group["id"], "Lecture Hall")
        await _press(telegram, group, admin, question, "Connect")
        await telegram.wait_for(lambda: not question.buttons)

    assert question.content == "YouTube connected: <b>Lecture Hall</b>"
    assert await _connections_added(private) == [(admin["id"], "youtube", "Lecture Hall")]


@pytest.mark.parametrize(
    ("language", "words", "button"),
    [
        ("en", "Adam, I can't send you the sign-in link", "Open a chat with the bot"),
        ("ru", "Adam, не могу отправить вам ссылку для входа", "Открыть чат с ботом"),
    ],
)
async def test_an_admin_the_bot_cannot_write_to_gets_no_link_in_the_group(
    public: Settings,
    telegram: FakeTelegram,
    google: FakeGoogle,
    language: str,
    words: str,
    button: str,
) -> None:
    group = telegram.group(-100850, "Physics")
    admin = telegram.user(851, "Adam", language_code=language)
    blocked = telegram.user(852, "Bea", language_code=language)
    telegram.private_chat(blocked)
    telegram.block_bot(blocked)
    telegram.set_admins(group["id"], [admin["id"], blocked["id"]])

    async with running(public, telegram):
        # Adam never opened a chat with the bot: Telegram answers 403 to a private message.
        said = await _start(telegram, group, admin, "YouTube")
        bea = await _start(telegram, group, blocked, "YouTube")
        redis = Redis.from_url(public.redis_url)
        try:
            pending = await redis.keys("leap:oauth:youtube:*")
        finally:
            await redis.aclose()

    assert (said.content or "").startswith(words)
    assert said.buttons == [(button, f"https://t.me/{telegram.bot_username}?start=connect")]
    assert (bea.content or "").startswith(words.replace("Adam", "Bea"))
    assert not any(google.auth_url in link for link in _links(telegram, group["id"]))
    assert not any(m.buttons for m in telegram.sent(blocked["id"]))
    assert pending == []
    assert google.token_grants == []


async def test_an_admin_demoted_before_confirming_cannot_connect(
    public: Settings, telegram: FakeTelegram, google: FakeGoogle
) -> None:
    group = telegram.group(-100860, "Physics")
    admin = telegram.user(861, "Adam")
    telegram.private_chat(admin)
    telegram.set_admins(group["id"], [admin["id"]])

    async with running(public, telegram), httpx.AsyncClient() as http:
        mark = telegram.mark()
        await _start(telegram, group, admin, "YouTube")
        page = await http.get(google.approve(await _private_link(telegram, admin, mark)))
        assert page.status_code == 200
        question = await _question(telegram, group["id"], "Lecture Hall")
        await telegram.chat_member_changed(group, admin, old="administrator", new="member")
        await wait_for_role(public, admin["id"], Role.MEMBER)
        refused = await _press(telegram, group, admin, question, "Connect")

    assert refused["show_alert"] is True
    assert refused["text"] == "Only admins of this workspace can connect or disconnect accounts."
    assert await _rows(public, Credential) == []
    assert await _connections_added(public) == []
