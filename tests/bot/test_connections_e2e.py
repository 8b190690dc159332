"""Connecting YouTube, VK and a Telegram channel as a person does: commands, buttons, browser."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
from tests.bot.test_zoom_e2e import connect_privately, zoom_settings
from tests.conftest import running
from tests.fakes.google import FakeGoogle
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.fakes.vk import FakeVk
from tests.fakes.zoom import FakeZoom

VK_USER = 7
CHANNEL = -1009876543210


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


@pytest.fixture
async def vk() -> AsyncIterator[FakeVk]:
    async with FakeVk() as fake:
        fake.add_user(VK_USER, "Ann")
        fake.add_group(42, "Lectures", admins={VK_USER})
        fake.add_group(43, "Chess club")
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


def _box(settings: Settings) -> SecretBox:
    assert settings.secret_key is not None
    return SecretBox(settings.secret_key.get_secret_value())


async def _choose(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], button: str
) -> BotMessage:
    """/connect, press `button`; the bot's next message."""
    await telegram.send_text(chat, user, "/connect")
    menu = await telegram.wait_for_message(chat["id"], lambda m: bool(m.buttons))
    data = next(target for text, target in menu.buttons if text == button)
    mark = telegram.mark()
    await telegram.press(chat, user, menu.message_id, data)
    return await telegram.wait_for_message(chat["id"], after=mark)


async def confirm(
    telegram: FakeTelegram,
    chat: dict[str, Any],
    user: dict[str, Any],
    account: str,
    *,
    label: str = "Connect",
) -> BotMessage:
    """The bot asks whether to connect `account`; `user` presses `label`; the answered question."""
    question = await telegram.wait_for_message(
        chat["id"], lambda m: account in (m.content or "") and bool(m.buttons), after=0
    )
    data = next(target for text, target in question.buttons if label in text)
    await telegram.press(chat, user, question.message_id, data)
    await telegram.wait_for(lambda: not question.buttons)
    return question


async def test_youtube_connects_through_the_web_callback(
    public: Settings,
    telegram: FakeTelegram,
    google: FakeGoogle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    user = telegram.user(301, "Olga")
    chat = telegram.private_chat(user)

    async with running(public, telegram):
        prompt = await _choose(telegram, chat, user, "YouTube")
        [(label, link)] = prompt.buttons
        assert label == "Sign in with Google"
        assert "paste" not in prompt.content
        redirect = google.approve(link)
        assert redirect.startswith(f"{public.public_base_url}/oauth/google/callback?")
        async with httpx.AsyncClient() as http:
            page = await http.get(redirect)
            question = await telegram.wait_for_message(
                chat["id"], lambda m: "Connect the YouTube channel" in (m.content or ""), after=0
            )
            # Nothing is kept before the person says the account is the right one.
            assert await _rows(public, Credential) == []
            assert "<b>Lecture Hall</b>" in (question.content or "")
            done = await confirm(telegram, chat, user, "Lecture Hall")
            again = await http.get(redirect)

    assert page.status_code == 200 and "confirm the account" in page.text
    assert done.content == "YouTube connected: <b>Lecture Hall</b>"
    # A state works once: the same redirect a second time stores nothing.
    assert again.status_code == 400 and "already used" in again.text
    [credential] = await _rows(public, Credential)
    assert (credential.provider, credential.account_name) == ("youtube", "Lecture Hall")
    [refresh_token] = google.refresh_tokens
    payload = _box(public).decrypt(credential.payload)
    assert payload["refresh_token"] == refresh_token
    assert refresh_token not in credential.payload
    [event] = await _rows(public, AuditEvent)
    assert (event.action, event.target, event.user_id) == ("connection_added", "youtube", 301)
    database = Path(public.database_url.split("///", 1)[1])
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for secret in (refresh_token, payload["access_token"]):
        assert secret.encode() not in stored
        assert secret not in caplog.text


async def test_unknown_and_expired_states_are_refused(
    public: Settings, telegram: FakeTelegram, google: FakeGoogle
) -> None:
    user = telegram.user(302, "Igor")
    chat = telegram.private_chat(user)
    base = public.public_base_url

    async with running(public, telegram):
        prompt = await _choose(telegram, chat, user, "YouTube")
        redirect = google.approve(prompt.buttons[0][1])
        redis = Redis.from_url(public.redis_url)
        try:
            [key] = await redis.keys("leap:oauth:youtube:*")
            assert 590 <= await redis.ttl(key) <= 600
            await redis.delete(key)  # ten minutes later
        finally:
            await redis.aclose()
        async with httpx.AsyncClient() as http:
            expired = await http.get(redirect)
            forged = await http.get(f"{base}/oauth/google/callback?state=forged&code=4/0Aabc")
            bare = await http.get(f"{base}/oauth/google/callback?code=4/0Aabc")

    for page in (expired, forged):
        assert page.status_code == 400
        assert "expired or was already used" in page.text
        assert "Nothing was connected" in page.text
    assert bare.status_code == 400
    assert google.token_grants == []
    assert await _rows(public, Credential) == []
    assert [m.content for m in telegram.sent(chat["id"])][-1] == prompt.content


async def test_pasted_redirect_address_finishes_the_sign_in(
    settings: Settings, telegram: FakeTelegram, google: FakeGoogle, vk: FakeVk
) -> None:
    private = _configured(settings, google, vk, public=False)
    user = telegram.user(303, "Dina", language_code="ru")
    chat = telegram.private_chat(user)
    stranger = telegram.user(304, "Egor")

    async with running(private, telegram):
        prompt = await _choose(telegram, chat, user, "YouTube")
        assert "адресной строки" in prompt.content
        redirect = google.approve(prompt.buttons[0][1])
        assert redirect.startswith(f"http://127.0.0.1:{settings.web_port}/oauth/google/callback")

        # Someone else pasting it in their own chat gets nowhere, and the code is not spent.
        await telegram.send_text(telegram.private_chat(stranger), stranger, redirect)
        refusal = await telegram.wait_for_message(304)
        assert "someone else" in refusal.content

        pasted = await telegram.send_text(chat, user, f"вот: {redirect}")
        done = await confirm(telegram, chat, user, "Lecture Hall", label="Подключить")

    assert done.content == "YouTube подключён: <b>Lecture Hall</b>"
    assert (chat["id"], pasted["message_id"]) in telegram.deleted_user_messages
    [credential] = await _rows(private, Credential)
    assert credential.account_name == "Lecture Hall"


async def test_only_admins_connect_in_a_group(public: Settings, telegram: FakeTelegram) -> None:
    group = telegram.group(-100700, "Physics")
    admin = telegram.user(311, "Adam")
    student = telegram.user(312, "Sam")
    telegram.set_admins(group["id"], [admin["id"]])

    async with running(public, telegram):
        await telegram.send_text(group, student, "/connect")
        refusal = await telegram.wait_for_message(group["id"])
        assert (
            refusal.content == "Only admins of this workspace can connect or disconnect accounts."
        )
        assert refusal.buttons == []

        await telegram.send_text(group, admin, "/connect")
        menu = await telegram.wait_for_message(group["id"], lambda m: bool(m.buttons))
        assert [text for text, _ in menu.buttons] == ["YouTube", "VK", "Telegram channel"]
        query = await telegram.press(group, student, menu.message_id, menu.buttons[0][1])
        answer = await telegram.wait_for_answer(query)

        await telegram.send_text(group, student, "/connections")
        listing = await telegram.wait_for_message(
            group["id"], lambda m: "Only admins" in (m.content or "")
        )

    assert answer["show_alert"] is True and "Only admins" in answer["text"]
    assert listing.buttons == []


async def test_in_a_group_only_admins_disconnect_and_a_demoted_admin_is_not_heard(
    public: Settings, telegram: FakeTelegram
) -> None:
    group = telegram.group(-100701, "Physics")
    admin = telegram.user(313, "Adam")
    student = telegram.user(314, "Sam")
    telegram.set_admins(group["id"], [admin["id"]])
    telegram.channel(CHANNEL, "Lectures channel", username="lectures_channel", admins=(313,))
    refusal_text = "Only admins of this workspace can connect or disconnect accounts."

    async with running(public, telegram):
        await _choose(telegram, group, admin, "Telegram channel")
        mark = telegram.mark()
        await telegram.send_text(group, admin, "https://t.me/lectures_channel")
        await telegram.wait_for_message(group["id"], after=mark)
        mark = telegram.mark()
        await telegram.send_text(group, admin, "/connections")
        listing = await telegram.wait_for_message(group["id"], after=mark)
        [(_label, disconnect)] = listing.buttons

        query = await telegram.press(group, student, listing.message_id, disconnect)
        refused = await telegram.wait_for_answer(query)
        assert refused["show_alert"] is True and refused["text"] == refusal_text
        assert len(await _rows(public, Credential)) == 1

        query = await telegram.press(group, admin, listing.message_id, disconnect)
        assert (await telegram.wait_for_answer(query))["text"] == "Telegram channel disconnected."
        assert await _rows(public, Credential) == []

        # Asked for a channel, then demoted in Telegram: the answer is no longer taken.
        await _choose(telegram, group, admin, "Telegram channel")
        await telegram.chat_member_changed(group, admin, old="administrator", new="member")
        await wait_for_role(public, admin["id"], Role.MEMBER)
        mark = telegram.mark()
        await telegram.send_text(group, admin, "@lectures_channel")
        answer = await telegram.wait_for_message(group["id"], after=mark)
        assert answer.content == refusal_text

    assert await _rows(public, Credential) == []


async def test_vk_connects_and_the_community_is_chosen(
    public: Settings, telegram: FakeTelegram, vk: FakeVk
) -> None:
    user = telegram.user(321, "Anna")
    chat = telegram.private_chat(user)

    async with running(public, telegram):
        prompt = await _choose(telegram, chat, user, "VK")
        assert prompt.buttons[0][0] == "Sign in with VK ID"
        redirect = await vk.approve(prompt.buttons[0][1], user_id=VK_USER)
        async with httpx.AsyncClient() as http:
            page = await http.get(redirect)
        asked = await confirm(telegram, chat, user, "Ann (id7)")

        answers = []
        for text in ("not a link at all!", "https://vk.com/nosuchclub", "vk.com/club43"):
            mark = telegram.mark()
            await telegram.send_text(chat, user, text)
            answers.append((await telegram.wait_for_message(chat["id"], after=mark)).content)
        mark = telegram.mark()
        await telegram.send_text(chat, user, "https://vk.com/club42")
        chosen = await telegram.wait_for_message(chat["id"], after=mark)

        mark = telegram.mark()
        await telegram.send_text(chat, user, "/connections")
        listing = await telegram.wait_for_message(chat["id"], after=mark)

    assert page.status_code == 200
    assert "VK connected (Ann (id7))" in asked.content
    assert "send me the link to the VK community" in asked.content
    assert "Send the link to the VK community" in answers[0]
    assert "couldn't find that VK community" in answers[1]
    assert "not an administrator of «Chess club»" in answers[2]
    assert chosen.content == "VK: videos will be uploaded to «Lectures»."
    [credential] = await _rows(public, Credential)
    payload = _box(public).decrypt(credential.payload)
    assert (payload["group_id"], payload["group_name"], payload["user_id"]) == (42, "Lectures", 7)
    assert vk.owner_of(payload["access_token"]) == ("user", VK_USER)
    assert payload["refresh_token"] and payload["device_id"]
    assert "• VK: Lectures" in listing.content


async def test_telegram_channel_is_checked_before_it_is_connected(
    public: Settings, telegram: FakeTelegram
) -> None:
    user = telegram.user(331, "Rita")
    chat = telegram.private_chat(user)
    channel = telegram.channel(
        CHANNEL, "Lectures channel", username="lectures_channel", creator=user["id"]
    )
    telegram.channel(-1005555555555, "Other channel", username="other_channel")
    telegram.set_admins(-1005555555555, [], bot_is_admin=False)

    async with running(public, telegram):
        prompt = await _choose(telegram, chat, user, "Telegram channel")
        assert "forward any post from the channel" in prompt.content

        answers = []
        for text in ("@no_such_channel", "@other_channel"):
            mark = telegram.mark()
            await telegram.send_text(chat, user, text)
            answers.append((await telegram.wait_for_message(chat["id"], after=mark)).content)

        mark = telegram.mark()
        post = await telegram.send_text(chat, user, "A lecture announcement")
        # The person forwards a post from the channel.
        post["forward_origin"] = {
            "type": "channel",
            "chat": channel,
            "message_id": 12,
            "date": int(time.time()),
        }
        done = await telegram.wait_for_message(chat["id"], after=mark)

    assert "can't find that channel" in answers[0]
    assert "I am not an administrator of that channel" in answers[1]
    assert (
        done.content
        == "Telegram channel connected: <b>Lectures channel</b>. Videos will be posted there."
    )
    [credential] = await _rows(public, Credential)
    assert credential.provider == "telegram"
    assert _box(public).decrypt(credential.payload)["chat_id"] == CHANNEL


async def test_connections_are_listed_and_disconnecting_revokes_at_google(
    public: Settings, telegram: FakeTelegram, google: FakeGoogle
) -> None:
    user = telegram.user(341, "Pavel")
    chat = telegram.private_chat(user)
    telegram.channel(CHANNEL, "Lectures channel", username="lectures_channel", admins=(341,))

    async with running(public, telegram):
        await telegram.send_text(chat, user, "/connections")
        empty = await telegram.wait_for_message(chat["id"])
        assert empty.content == "No accounts are connected yet. Use /connect."

        prompt = await _choose(telegram, chat, user, "YouTube")
        async with httpx.AsyncClient() as http:
            await http.get(google.approve(prompt.buttons[0][1]))
        await confirm(telegram, chat, user, "Lecture Hall")
        await _choose(telegram, chat, user, "Telegram channel")
        mark = telegram.mark()
        await telegram.send_text(chat, user, "https://t.me/lectures_channel")
        await telegram.wait_for_message(chat["id"], after=mark)

        mark = telegram.mark()
        await telegram.send_text(chat, user, "/connections")
        listing = await telegram.wait_for_message(chat["id"], after=mark)
        assert listing.content.splitlines() == [
            "<b>Connected accounts</b>",
            "• YouTube: Lecture Hall",
            "• Telegram channel: Lectures channel",
        ]
        [youtube, _channel] = listing.buttons
        assert youtube[0] == "Disconnect YouTube: Lecture Hall"
        query = await telegram.press(chat, user, listing.message_id, youtube[1])
        answer = await telegram.wait_for_answer(query)
        await telegram.wait_for(lambda: "YouTube" not in (listing.content or ""))

    assert answer["text"] == "YouTube disconnected."
    [refresh_token] = google.refresh_tokens
    assert google.revoked == [refresh_token]
    assert google.refresh_tokens[refresh_token].revoked
    [credential] = await _rows(public, Credential)
    assert credential.provider == "telegram"
    assert listing.content.splitlines()[1:] == ["• Telegram channel: Lectures channel"]
    actions = [(e.action, e.target) for e in await _rows(public, AuditEvent)]
    assert actions[-1] == ("connection_removed", "youtube")


async def test_only_who_runs_a_channel_connects_it(
    public: Settings, telegram: FakeTelegram
) -> None:
    dana = telegram.user(351, "Dana")  # created the channel
    boris = telegram.user(352, "Boris")  # runs nothing there
    vera = telegram.user(353, "Vera")  # an administrator without the right to post
    channel = telegram.channel(
        CHANNEL,
        "Department lectures",
        username="dept_lectures",
        creator=dana["id"],
        admins=(vera["id"],),
        cannot_post=(vera["id"],),
    )
    refusal = "You can connect only a channel you run"

    async def name_channel(person: dict[str, Any]) -> str:
        chat = telegram.private_chat(person)
        await _choose(telegram, chat, person, "Telegram channel")
        mark = telegram.mark()
        await telegram.send_text(chat, person, "@dept_lectures")
        return (await telegram.wait_for_message(chat["id"], after=mark)).content or ""

    async with running(public, telegram):
        assert "Telegram channel connected" in await name_channel(dana)
        assert refusal in await name_channel(boris)
        assert refusal in await name_channel(vera)

        # A post forwarded from the channel is no key to it either.
        chat = telegram.private_chat(boris)
        mark = telegram.mark()
        post = await telegram.send_text(chat, boris, "Lecture 3 is up")
        post["forward_origin"] = {
            "type": "channel",
            "chat": channel,
            "message_id": 7,
            "date": int(time.time()),
        }
        forwarded = await telegram.wait_for_message(chat["id"], after=mark)
        assert refusal in (forwarded.content or "")

        mark = telegram.mark()
        await telegram.send_text(chat, boris, "/connections")
        listing = await telegram.wait_for_message(chat["id"], after=mark)

    assert listing.content == "No accounts are connected yet. Use /connect."
    [credential] = await _rows(public, Credential)
    assert _box(public).decrypt(credential.payload)["chat_id"] == CHANNEL
    assert credential.created_by == dana["id"]


async def test_a_connected_zoom_account_is_listed_by_its_name(
    settings: Settings, telegram: FakeTelegram
) -> None:
    user = telegram.user(361, "Nina")
    chat = telegram.private_chat(user)
    async with FakeZoom() as zoom, running(zoom_settings(settings, zoom), telegram):
        await connect_privately(telegram, user, zoom)
        mark = telegram.mark()
        await telegram.send_text(chat, user, "/connections")
        listing = await telegram.wait_for_message(chat["id"], after=mark)

    assert listing.content.splitlines() == [
        "<b>Connected accounts</b>",
        f"• Zoom: {zoom.email}",
    ]
    assert [label for label, _data in listing.buttons] == [f"Disconnect Zoom: {zoom.email}"]


@pytest.mark.parametrize(
    ("lang", "missing", "export"),
    [
        ("en", "Not set up on this installation: YouTube, VK", "publish a recording as a file"),
        ("ru", "Не настроено на этом сервере: YouTube, ВКонтакте", "опубликовать файлом"),
    ],
)
async def test_connect_offers_only_what_this_installation_can_connect(
    settings: Settings,
    public: Settings,
    telegram: FakeTelegram,
    lang: str,
    missing: str,
    export: str,
) -> None:
    user = telegram.user(4801 if lang == "en" else 4802, "Olga", language_code=lang)
    chat = telegram.private_chat(user)
    # No Google or VK app: only the channel, and a word on what else there is.
    async with running(settings, telegram):
        await telegram.send_text(chat, user, "/connect")
        menu = await telegram.wait_for_message(chat["id"], lambda m: bool(m.buttons))
    assert len(menu.buttons) == 1 and "Telegram" in menu.buttons[0][0]
    assert missing in menu.content and export in menu.content

    # Every app set up (Yandex's too): nothing is said to be missing.
    everything = public.model_copy(
        update={"yandex_client_id": "app", "yandex_client_secret": SecretStr("secret")}
    )
    async with running(everything, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, "/connect")
        menu = await telegram.wait_for_message(chat["id"], lambda m: bool(m.buttons), after=mark)
    assert len(menu.buttons) == 4
    assert missing.split(":")[0] not in menu.content and export in menu.content
