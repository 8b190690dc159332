"""Two hundred messages at once from one person: the bot takes a handful, says so once, and
everyone else in the group and elsewhere is answered as usual.

The person's bucket refills so slowly here (one message in 1000 s) that exactly the burst gets
through, whatever the machine's speed; the flood is files and commands mixed, so what got
through is counted as recordings made, help sent and files the workspace's quota turned away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from storage.models import RecordingStatus
from tests.fakes.telegram import BotMessage
from tests.safety.conftest import Inputs, World, at_rest, recordings_of, seen, world_at

BURST = 5
FLOOD = 200


@pytest.fixture(scope="module")
async def strict(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> AsyncIterator[World]:
    async with world_at(
        tmp_path_factory.mktemp("safety-flood"),
        redis_url,
        throttle_rate=0.001,
        throttle_burst=BURST,
    ) as world:
        yield world


async def test_a_flood_from_one_member_takes_a_handful_and_leaves_the_others_alone(
    strict: World, inputs: Inputs
) -> None:
    telegram, settings = strict.telegram, strict.settings
    group = telegram.group(-1007501, "Signals course")
    flooder = telegram.user(7501, "Fast", language_code="en")
    calm = telegram.user(7502, "Calm", language_code="en")
    elsewhere = telegram.user(7503, "Away", language_code="ru")
    telegram.set_admins(group["id"], [], creator=calm["id"])
    pdf = inputs.pdf.read_bytes()
    # Both have spoken before: the flood comes from a member the workspace knows.
    for person in (calm, flooder):
        mark = telegram.mark()
        await telegram.send_text(group, person, "/start")
        await telegram.wait_for_message(group["id"], after=mark)
    await telegram.wait_for(lambda: telegram.pending_updates == 0)

    earlier = len(telegram.sent(group["id"]))
    for number in range(FLOOD):
        if number % 2:
            await telegram.send_text(group, flooder, "/help")
        else:
            await telegram.send_document(
                group, flooder, pdf, file_name=f"lecture {number}.mp4", mime_type="video/mp4"
            )
    asked = telegram.mark()
    await telegram.send_text(group, calm, "/recordings")
    await telegram.send_text(telegram.private_chat(elsewhere), elsewhere, "/start")

    # Everyone else is answered.
    await telegram.wait_for_message(
        group["id"],
        lambda m: "Recordings · page" in seen(m) or "No recordings yet" in seen(m),
        after=asked,
    )
    greeting = await telegram.wait_for_message(7503, after=0)
    assert "Здравствуйте, Away" in seen(greeting)
    await telegram.wait_for(lambda: telegram.pending_updates == 0)

    # What the flood got: exactly the burst, each file a recording that ends with its reason,
    # and one polite notice in the group rather than one per message.
    def answered(text: str) -> list[BotMessage]:
        return [m for m in telegram.sent(group["id"])[earlier:] if text in seen(m)]

    def answers() -> int:
        # Files beyond the workspace's concurrent-recordings quota are turned away by name.
        return len(answered("What I do")) + len(answered("Not accepted right now"))

    await telegram.wait_for(lambda: answered("faster than I can read"))
    made = await _eventually_made(strict, group["id"], lambda n: n + answers())
    # Their /start took one of the burst's messages.
    assert made + answers() == BURST - 1
    assert len(answered("faster than I can read")) == 1
    for recording in await at_rest(settings, group["id"], count=made):
        assert recording.status is RecordingStatus.FAILED
        assert recording.failure_code == "not_media"
        assert recording.created_by == flooder["id"]


async def _eventually_made(world: World, chat_id: int, handled: Callable[[int], int]) -> int:
    """The number of recordings the flood made, once the flood's handled messages add up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        made = len(await recordings_of(world.settings, chat_id))
        if handled(made) >= BURST - 1 or loop.time() > deadline:
            return made
        await asyncio.sleep(0.1)
