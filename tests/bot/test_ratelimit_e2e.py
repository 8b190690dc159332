"""Rate limits: one person's flood, a whole chat's, and everyone else going on as before."""

from __future__ import annotations

import asyncio

from leap.settings import Settings
from tests.conftest import running
from tests.fakes.telegram import FakeTelegram

POLITE = "faster than I can read"


async def settled(telegram: FakeTelegram) -> None:
    """Every update taken by the bot, and a moment for the last ones to be answered.

    Refused updates leave no trace to wait for; this only keeps a late answer from being
    missed, and the counts asserted afterwards are exact.
    """
    await telegram.wait_for(lambda: telegram.pending_updates == 0)
    await asyncio.sleep(0.5)


async def test_a_flood_is_answered_once_while_others_in_the_group_and_elsewhere_go_on(
    settings: Settings, telegram: FakeTelegram
) -> None:
    strict = settings.model_copy(update={"throttle_rate": 0.2, "throttle_burst": 3})
    async with running(strict, telegram):
        group = telegram.group(-100901, "Physics 101")
        flooder = telegram.user(2001, "Fast", language_code="ru")
        calm = telegram.user(2002, "Calm", language_code="en")
        elsewhere = telegram.user(2003, "Away", language_code="en")
        # /audit is answered to each member by a reply, so every answer shows whom it is for.
        flood: list[int] = []
        for _ in range(10):
            flood.append((await telegram.send_text(group, flooder, "/audit"))["message_id"])
        asked = (await telegram.send_text(group, calm, "/audit"))["message_id"]
        await telegram.send_text(telegram.private_chat(elsewhere), elsewhere, "/start")

        def replies_to(message_id: int) -> list[str]:
            return [
                m.content or ""
                for m in telegram.sent(group["id"])
                if m.reply_to_message_id == message_id
            ]

        await telegram.wait_for(lambda: replies_to(asked))
        await telegram.wait_for(lambda: len(telegram.sent(elsewhere["id"])) == 1)
        await settled(telegram)

        to_flooder = [text for m in flood for text in replies_to(m)]
        # Three answers within the burst and one polite notice, in the flooder's language.
        assert len(to_flooder) == 4
        assert sum("быстрее, чем я успеваю читать" in text for text in to_flooder) == 1
        assert replies_to(asked) == ["Only admins of this workspace can do that."]
        assert "Hi, Away" in (telegram.sent(elsewhere["id"])[0].content or "")


async def test_an_hourly_limit_per_person(settings: Settings, telegram: FakeTelegram) -> None:
    hourly = settings.model_copy(update={"rate_user_per_hour": 2})
    async with running(hourly, telegram):
        user = telegram.user(2011, "Hour", language_code="en")
        chat = telegram.private_chat(user)
        for _ in range(4):
            await telegram.send_text(chat, user, "/help")
        await telegram.wait_for(lambda: len(telegram.sent(user["id"])) == 3)
        await settled(telegram)
        texts = [m.content or "" for m in telegram.sent(user["id"])]
        assert len(texts) == 3
        assert sum("more than 2 messages from you within an hour" in t for t in texts) == 1
        assert any("try again in about 30 min" in t for t in texts)


async def test_the_chats_bucket_holds_the_whole_chat_and_no_other(
    settings: Settings, telegram: FakeTelegram
) -> None:
    busy = settings.model_copy(update={"rate_workspace_per_minute": 3})
    async with running(busy, telegram):
        group = telegram.group(-100911, "Busy")
        quiet = telegram.group(-100912, "Quiet")
        people = [telegram.user(2020 + n, f"P{n}", language_code="en") for n in range(5)]
        for person in people:
            await telegram.send_text(group, person, "/start")
        await telegram.send_text(quiet, people[0], "/start")
        await telegram.wait_for(lambda: len(telegram.sent(quiet["id"])) == 1)
        await telegram.wait_for(lambda: len(telegram.sent(group["id"])) >= 4)
        await settled(telegram)

        answers = [m.content or "" for m in telegram.sent(group["id"])]
        # Three answered, the fourth told once for the chat, the fifth not told again.
        assert len(answers) == 4
        told = "This chat is sending me more than I can take (3 a minute)"
        assert sum(told in a for a in answers) == 1
        assert "team workspace" in telegram.sent(quiet["id"])[0].content


async def test_a_pressed_button_over_the_limit_gets_an_answer(
    settings: Settings, telegram: FakeTelegram
) -> None:
    strict = settings.model_copy(update={"throttle_rate": 0.1, "throttle_burst": 2})
    async with running(strict, telegram):
        user = telegram.user(2031, "Kate", language_code="en")
        chat = telegram.private_chat(user)
        await telegram.send_text(chat, user, "/language")
        prompt = await telegram.wait_for_message(chat["id"], after=0)
        english = next(data for text, data in prompt.buttons if "English" in text)
        first = await telegram.press(chat, user, prompt.message_id, english)
        second = await telegram.press(chat, user, prompt.message_id, english)
        answers = [await telegram.wait_for_answer(q) for q in (first, second)]
        assert sum(POLITE in (a.get("text") or "") for a in answers) == 1
