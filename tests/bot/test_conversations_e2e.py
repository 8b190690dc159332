"""What the bot waits for: one conversation per person and chat, and /cancel ends it.

The newest prompt takes plain messages, a reply goes to the prompt it replies to, every prompt
says how to leave it, and in a group the bot does not take the group's talk for an answer.
"""

from __future__ import annotations

import pytest

from tests.bot.chat_fixtures import button, seen
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

SAYS = {
    "en": {
        "name": "name for the new template",
        "keywords": "Which recordings",
        "channel": "forward any post from the channel",
        "nag": "Forward a post from the channel",
        "hint": "/cancel — stop",
        "cancelled": "Cancelled: I am no longer waiting",
        "nothing": "There is nothing to cancel",
        "unknown": "I didn't understand that",
        "new": "New template",
        "tg": "Telegram channel",
    },
    "ru": {
        "name": "нового шаблона",
        "keywords": "Для каких записей",
        "channel": "перешлите сюда любой пост из канала",
        "nag": "Перешлите пост из канала",
        "hint": "/cancel — отменить",
        "cancelled": "Отменено: я больше не жду",
        "nothing": "Отменять нечего",
        "unknown": "Я не понял сообщение",
        "new": "Новый шаблон",
        "tg": "Telegram-канал",
    },
}


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_reply_goes_to_its_prompt_and_cancel_ends_every_wait(
    app: RunningBot, telegram: FakeTelegram, lang: str
) -> None:
    says = SAYS[lang]
    user_id = 5101 if lang == "en" else 5102
    user = telegram.user(user_id, "Ann", language_code=lang)
    chat = telegram.private_chat(user)

    mark = telegram.mark()
    await telegram.send_text(chat, user, "/cancel")
    assert says["nothing"] in seen(await telegram.wait_for_message(user_id, after=mark))

    # Two prompts open: a template's name, then (newer) the channel to connect.
    await telegram.send_text(chat, user, "/templates")
    listing = await telegram.wait_for_message(user_id, lambda m: bool(m.buttons), after=mark)
    mark = telegram.mark()
    await telegram.press(chat, user, listing.message_id, button(listing, says["new"]))
    name_prompt = await telegram.wait_for_message(
        user_id, lambda m: says["name"] in seen(m), after=mark
    )
    assert says["hint"] in seen(name_prompt)
    await telegram.send_text(chat, user, "/connect")
    menu = await telegram.wait_for_message(user_id, lambda m: "/connect" not in seen(m) and bool(
        [b for b in m.buttons if says["tg"] in b[0]]
    ), after=mark)  # fmt: skip
    mark = telegram.mark()
    await telegram.press(chat, user, menu.message_id, button(menu, says["tg"]))
    channel_prompt = await telegram.wait_for_message(user_id, after=mark)
    assert says["channel"] in seen(channel_prompt) and says["hint"] in seen(channel_prompt)

    # A reply to the older prompt answers that prompt, not the newest one.
    mark = telegram.mark()
    await telegram.send_text(chat, user, "Physics", reply_to=name_prompt.message_id)
    answer = await telegram.wait_for_message(user_id, after=mark)
    assert says["keywords"] in seen(answer), seen(answer)
    assert says["nag"] not in seen(answer)

    # /cancel is never taken for an answer, and ends all of them.
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/cancel")
    assert says["cancelled"] in seen(await telegram.wait_for_message(user_id, after=mark))
    mark = telegram.mark()
    await telegram.send_text(chat, user, "hello there")
    after = await telegram.wait_for_message(user_id, after=mark)
    assert says["unknown"] in seen(after), seen(after)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "Nothing", reply_to=answer.message_id)
    after = await telegram.wait_for_message(user_id, after=mark)
    assert says["keywords"] not in seen(after) and says["nag"] not in seen(after)


async def test_in_a_group_the_channel_prompt_does_not_take_the_groups_talk(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group = telegram.group(-100951, "Physics team")
    admin = telegram.user(5111, "Adam", language_code="en")
    telegram.set_admins(group["id"], [], creator=admin["id"])
    await telegram.add_bot_to_group(group, admin)
    await telegram.wait_for_message(group["id"], after=0)

    mark = telegram.mark()
    await telegram.send_text(group, admin, "/connect")
    menu = await telegram.wait_for_message(group["id"], lambda m: bool(m.buttons), after=mark)
    mark = telegram.mark()
    await telegram.press(group, admin, menu.message_id, button(menu, "Telegram channel"))
    await telegram.wait_for_message(group["id"], after=mark)

    # The admin talks to the group: no nagging.
    mark = telegram.mark()
    await telegram.send_text(group, admin, "Colleagues, the lecture starts at ten")
    await telegram.send_text(group, admin, "/cancel")
    answer = await telegram.wait_for_message(group["id"], after=mark)
    assert "Cancelled" in seen(answer), seen(answer)
    assert [m for m in telegram.sent(group["id"]) if "Forward a post" in seen(m)] == []


async def test_zoom_credentials_prompt_ends_with_cancel(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    user = telegram.user(5121, "Zoe", language_code="ru")
    chat = telegram.private_chat(user)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/zoom_connect")
    prompt = await telegram.wait_for_message(5121, after=mark)
    assert "/cancel" in seen(prompt)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/cancel")
    assert "Отменено" in seen(await telegram.wait_for_message(5121, after=mark))
    # Three bare words are no longer read as an account id, a client id and a secret.
    mark = telegram.mark()
    await telegram.send_text(chat, user, "abcdefghijklmnop qrstuvwxyz0123 ZYXWVUTSRQPONMLK")
    after = await telegram.wait_for_message(5121, after=mark)
    assert "Zoom" not in seen(after), seen(after)
    assert not after.deleted
