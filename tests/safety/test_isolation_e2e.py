"""Two team workspaces on one bot: nothing of one is seen or touched from the other.

Workspace B ("Bravo") builds everything through its own chat: a processed recording with its
review card and topic editor, a failed one, a template from a file, a Telegram channel, Zoom,
changed settings, a member, and the audit trail all that leaves. Then the admin and a member of
workspace A ("Alpha") run every command the bot has in their chat and press every button any of
B's messages carries, with B's own callback data. A sees nothing of B, B's rows and files stay
exactly as they were, and B's own buttons still work afterwards.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from bot.app import COMMANDS
from tests.bot.chat_fixtures import button
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.fakes.zoom import FakeZoom
from tests.safety.conftest import (
    Inputs,
    World,
    at_rest,
    labels,
    recordings_of,
    reply_to,
    seen,
    snapshot,
    workspace_of,
    world_at,
)

B_CHAT, A_CHAT = -1007801, -1007802
BOB, BEA, ALICE, ANN = 7801, 7802, 7803, 7804
CHANNEL = -1007899
# Every name of B's contains this word; A's chat must never show it.
MARK = "bravo"


@pytest.fixture(scope="module")
async def zoom() -> AsyncIterator[FakeZoom]:
    async with FakeZoom(email="bravo.lecturer@example.edu") as server:
        yield server


@pytest.fixture(scope="module")
async def two(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, zoom: FakeZoom
) -> AsyncIterator[World]:
    # Limits high enough that every press is handled rather than politely turned away.
    async with world_at(
        tmp_path_factory.mktemp("safety-isolation"),
        redis_url,
        zoom_api_url=zoom.api_url,
        zoom_oauth_url=zoom.oauth_url,
        zoom_min_minutes=20,
        zoom_min_mb=0.0,
        throttle_burst=10_000,
        rate_workspace_per_minute=100_000,
        rate_workspace_per_hour=100_000,
        rate_user_per_hour=100_000,
    ) as world:
        yield world


async def _say(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], text: str, expect: str
) -> BotMessage:
    mark = telegram.mark()
    await telegram.send_text(chat, user, text)
    return await reply_to(telegram, chat["id"], mark, expect)


async def _press(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], msg: BotMessage, label: str
) -> None:
    query = await telegram.press(chat, user, msg.message_id, button(msg, label))
    await telegram.wait_for_answer(query)


async def _build_bravo(
    world: World, zoom: FakeZoom, inputs: Inputs, b: dict[str, Any], bob: dict[str, Any]
) -> None:
    """Workspace B, made the way its people make it."""
    telegram, settings = world.telegram, world.settings
    await telegram.add_bot_to_group(b, bob)
    await telegram.wait_for_message(B_CHAT, after=0)
    bea = telegram.user(BEA, "Bea Bravo", language_code="en")
    await _say(telegram, b, bea, "/start", "team workspace")

    # Recordings: one processed to its review card, one that fails.
    await telegram.send_document(
        b, bob, inputs.lecture, file_name="bravo-lecture.mp4", mime_type="video/mp4"
    )
    card = await telegram.wait_for_message(
        B_CHAT, lambda m: "Ready for review: bravo-lecture" in seen(m), after=0, timeout=90
    )
    await telegram.send_document(
        b, bob, inputs.pdf, file_name="bravo-broken.mp4", mime_type="video/mp4"
    )
    await telegram.wait_for_message(
        B_CHAT, lambda m: "bravo-broken" in seen(m) and "❌" in seen(m), after=0
    )
    await _press(telegram, b, bob, card, "Topics")
    await telegram.wait_for_message(B_CHAT, lambda m: "tp1:" in str(m.buttons), after=0)

    # A template from a file, a Telegram channel, changed settings.
    body = {
        "name": "Bravo seminars",
        "match": {"keywords_any": ["bravo seminar"]},
        "title_template": "Bravo: {{ title }}",
    }
    mark = telegram.mark()
    await telegram.send_document(
        b, bob, yaml.safe_dump(body).encode(), file_name="bravo.yaml", mime_type="text/yaml"
    )
    await reply_to(telegram, B_CHAT, mark, "saved from the file")
    telegram.channel(CHANNEL, "Bravo channel", username="bravo_channel", creator=bob["id"])
    menu = await _say(telegram, b, bob, "/connect", "What should I connect?")
    mark = telegram.mark()
    await _press(telegram, b, bob, menu, "Telegram channel")
    await reply_to(telegram, B_CHAT, mark, "forward any post")
    await _say(telegram, b, bob, "https://t.me/bravo_channel", "Telegram channel connected")
    await _say(telegram, b, bob, "/connections", "Bravo channel")
    prefs = await _say(telegram, b, bob, "/settings", "")
    await telegram.wait_for(lambda: bool(prefs.buttons))
    await _press(telegram, b, bob, prefs, prefs.buttons[-1][0])

    # Zoom, connected by the admin in private, listed in the group with an import button.
    zoom.add_meeting(
        "Bravo zoom meeting",
        datetime.now(UTC) - timedelta(days=1),
        60,
        [zoom.mp4("shared_screen_with_speaker_view", inputs.pdf.read_bytes())],
    )
    await _say(telegram, b, bob, "/zoom_connect", "private chat")
    private = telegram.private_chat(bob)
    credentials = (
        f"Account ID: {zoom.account_id}\nClient ID: {zoom.client_id}\n"
        f"Client Secret: {zoom.client_secret}"
    )
    status = await _say(telegram, private, bob, credentials, "")
    await telegram.wait_for(lambda: "connected" in seen(status))
    mark = telegram.mark()
    await telegram.send_text(b, bob, "/zoom")
    await telegram.wait_for_message(
        B_CHAT, lambda m: "Bravo zoom meeting" in seen(m) and bool(m.buttons), after=mark
    )

    # The workspace's own lists, each with its buttons.
    recordings = await _say(telegram, b, bob, "/recordings", "Recordings")
    broken = next(label for label in labels(recordings) if "bravo-broken" in label)
    await _press(telegram, b, bob, recordings, broken)
    await telegram.wait_for(lambda: "rc1:retry" in str(recordings.buttons))
    await _say(telegram, b, bob, "/templates", "Bravo seminars")
    await _say(telegram, b, bob, "/roles", "Roles in Bravo faculty")
    await _say(telegram, b, bob, "/audit", "")
    await _say(telegram, b, bob, "/usage", "")
    await _say(telegram, b, bob, "/language", "")
    await at_rest(settings, B_CHAT, count=2)


def _callbacks(telegram: FakeTelegram, *chat_ids: int) -> list[str]:
    """Every callback_data any message in these chats carried, in any of its versions."""
    found: dict[str, None] = {}
    for press in telegram.calls_of("editMessageReplyMarkup") + telegram.calls_of("editMessageText"):
        if press.params.get("chat_id") in chat_ids:
            for _label, data in _buttons_of(press.params.get("reply_markup")):
                found[data] = None
    for chat_id in chat_ids:
        for message in telegram.sent(chat_id):
            for _label, data in message.buttons:
                found[data] = None
    for call in telegram.calls_of("sendMessage"):
        if call.params.get("chat_id") in chat_ids:
            for _label, data in _buttons_of(call.params.get("reply_markup")):
                found[data] = None
    return [data for data in found if data and not data.startswith(("http://", "https://"))]


def _buttons_of(markup: Any) -> list[tuple[str, str]]:
    if isinstance(markup, str):
        markup = json.loads(markup)
    if not isinstance(markup, dict):
        return []
    return [
        (b.get("text", ""), b.get("callback_data") or b.get("url") or "")
        for row in markup.get("inline_keyboard", [])
        for b in row
    ]


def _shown(telegram: FakeTelegram, chat_id: int) -> list[str]:
    """Everything A's chat was ever shown: texts in all versions, buttons, files."""
    shown: list[str] = []
    for message in telegram.sent(chat_id):
        shown += [text or "" for text in message.texts]
        shown += [f"{label} {data}" for label, data in message.buttons]
        if message.file is not None:
            shown.append(message.file.file_name or "")
            if message.file.size < 1_000_000:
                shown.append(message.file.data.decode("utf-8", "replace"))
    return shown


async def test_workspace_a_neither_sees_nor_touches_workspace_b(
    two: World, zoom: FakeZoom, inputs: Inputs
) -> None:
    telegram, settings = two.telegram, two.settings
    b = telegram.group(B_CHAT, "Bravo faculty")
    bob = telegram.user(BOB, "Bob Bravo", language_code="en")
    telegram.set_admins(B_CHAT, [], creator=BOB)
    await _build_bravo(two, zoom, inputs, b, bob)
    bravo_buttons = _callbacks(telegram, B_CHAT, BOB)
    prefixes = {data.split(":", 1)[0] for data in bravo_buttons}
    # The buttons of every concern B's chat showed are among them.
    assert {"rv1", "rp1", "rt1", "tp1", "rc1", "rl1", "tm1", "cn1", "cn2", "st1", "zm1"} <= prefixes
    assert {"us1", "lg1"} <= prefixes

    a = telegram.group(A_CHAT, "Alpha faculty")
    alice = telegram.user(ALICE, "Alice", language_code="en")
    ann = telegram.user(ANN, "Ann", language_code="en")
    telegram.set_admins(A_CHAT, [], creator=ALICE)
    await telegram.add_bot_to_group(a, alice)
    await telegram.wait_for_message(A_CHAT, after=0)
    alpha = await workspace_of(settings, A_CHAT)
    bravo = await workspace_of(settings, B_CHAT)
    assert alpha is not None and bravo is not None and alpha.id != bravo.id
    before = await snapshot(settings)

    # Every command, from A's admin and from A's member.
    for person in (alice, ann):
        for command in COMMANDS:
            mark = telegram.mark()
            await telegram.send_text(a, person, f"/{command}")
            await telegram.wait_for_message(A_CHAT, after=mark)

    # Every button of B's, pressed in A's chat by both.
    target = telegram.sent(A_CHAT)[-1]
    answers: list[dict[str, Any]] = []
    for person in (alice, ann):
        for data in bravo_buttons:
            query = await telegram.press(a, person, target.message_id, data, force=True)
            answers.append(await telegram.wait_for_answer(query))
    await telegram.wait_for(lambda: telegram.pending_updates == 0)
    mark = telegram.mark()
    await telegram.send_text(a, alice, "/help")
    await telegram.wait_for_message(A_CHAT, after=mark)

    # A saw nothing of B: no name, no file, no account, no template, no recording.
    leaked = [text for text in _shown(telegram, A_CHAT) if MARK in text.casefold()]
    assert leaked == []
    assert [a for a in answers if MARK in str(a.get("text", "")).casefold()] == []
    assert await recordings_of(settings, A_CHAT) == []
    # Nothing outside A's own workspace changed: B's rows and files are as they were.
    assert before.changed_beyond(await snapshot(settings), alpha.id) == []

    # B's own buttons still work: the Zoom import A pressed is still there for Bob.
    listing = next(m for m in reversed(telegram.sent(B_CHAT)) if "Bravo zoom meeting" in seen(m))
    pick = next(data for _label, data in listing.buttons if data.startswith("zm1:"))
    mark = telegram.mark()
    query = await telegram.press(b, bob, listing.message_id, pick)
    assert "queued" in (await telegram.wait_for_answer(query)).get("text", "").lower()
    await at_rest(settings, B_CHAT, count=3)
