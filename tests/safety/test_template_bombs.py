"""Templates built to freeze the bot: nested-list bombs, dozens of costly tags.

A template is a person's text that the bot runs. One of a few hundred bytes can ask for
gigabytes (each level a list of ten copies of the one before, printed at the end), and a
template with many tags could once spend a budget per tag. Whatever the template, a preview
answers in seconds with a refusal in the person's language, other chats keep being answered
meanwhile, and a recording whose compose stage meets such a template fails that stage with a
reason, to be tried again once the template is fixed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from pipeline.templates import MAX_TAGS
from storage.models import RecordingStatus
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.safety.conftest import Inputs, World, at_rest, labels, reply_to, seen

lecture_video = chat_fixtures.lecture_video

# Generous: the bomb below kept the bot's event loop busy for 24 s before these limits.
ANSWER_SECONDS = 10.0


def nested_list_bomb(levels: int) -> str:
    """Each level a list of ten copies of the one before; printing the last one is the bomb."""
    source = "{% set a0=[1,2] %}"
    for level in range(1, levels + 1):
        copies = ",".join([f"a{level - 1}"] * 10)
        source += f"{{% set a{level}=[{copies}] %}}"
    return source + f"{{{{ a{levels}|string|length }}}}"


# Each tag alone stays under a render's operation budget while building 40,000 characters
# thousands of times over.
COSTLY_TAG = "{% for i in range(9000) %}{% set x = ('ab' * 20000)|upper %}{% endfor %}tag"


async def _upload(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], body: dict[str, Any]
) -> BotMessage:
    mark = telegram.mark()
    await telegram.send_document(
        chat, user, yaml.safe_dump(body).encode(), file_name="t.yaml", mime_type="text/yaml"
    )
    return await telegram.wait_for_message(chat["id"], _template_card, after=mark)


def _template_card(message: BotMessage) -> bool:
    return any("Preview" in label or "Предпросмотр" in label for label in labels(message))


async def test_nested_list_bombs_are_refused_in_preview_while_other_chats_are_answered(
    world: World, lecture_video: Path
) -> None:
    telegram, settings = world.telegram, world.settings
    ann = telegram.user(7801, "Ann", language_code="en")
    olga = telegram.user(7802, "Olga", language_code="ru")
    bystander = telegram.user(7803, "Ben", language_code="en")
    for user in (ann, olga):
        chat = telegram.private_chat(user)
        await reviewable(settings, telegram, chat, user, lecture_video)
        await telegram.wait_for_message(user["id"], lambda m: "📋" in seen(m), after=0)
    assert len(nested_list_bomb(8)) < 500

    cases = [(ann, 8, "too costly"), (ann, 9, "too costly"), (olga, 8, "слишком затратный")]
    for user, levels, says in cases:
        chat = telegram.private_chat(user)
        bomb = {"name": f"Bomb {levels}", "description_template": nested_list_bomb(levels)}
        card = await _upload(telegram, chat, user, bomb)
        preview = "Preview" if user is ann else "Предпросмотр"
        mark = telegram.mark()
        await telegram.press(chat, user, card.message_id, button(card, preview))
        # Someone else asks for help while the bomb is being rendered.
        await telegram.send_text(telegram.private_chat(bystander), bystander, "/help")
        _helped, refused = await asyncio.gather(
            reply_to(telegram, 7803, mark, "What I do", timeout=ANSWER_SECONDS),
            reply_to(telegram, user["id"], mark, says, timeout=ANSWER_SECONDS),
        )
        assert "On «" not in seen(refused) and "На записи" not in seen(refused)

    # The bot is none the worse: an ordinary template previews as before.
    chat = telegram.private_chat(ann)
    card = await _upload(telegram, chat, ann, {"name": "Plain", "title_template": "{{ title }}!"})
    mark = telegram.mark()
    await telegram.press(chat, ann, card.message_id, button(card, "Preview"))
    preview = await reply_to(telegram, 7801, mark, "On «signals-lecture.mp4»")
    assert "signals-lecture!" in seen(preview)


async def test_many_costly_tags_share_one_budget_and_their_number_is_limited(
    world: World, lecture_video: Path
) -> None:
    telegram, settings = world.telegram, world.settings
    user = telegram.user(7811, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await reviewable(settings, telegram, chat, user, lecture_video)
    await telegram.wait_for_message(7811, lambda m: "Ready for review" in seen(m), after=0)

    mark = telegram.mark()
    body = {"name": "Tags", "tags": [f"tag {n}" for n in range(MAX_TAGS + 10)]}
    await telegram.send_document(
        chat, user, yaml.safe_dump(body).encode(), file_name="t.yaml", mime_type="text/yaml"
    )
    refusal = await reply_to(telegram, 7811, mark, "not saved")
    assert "tags" in seen(refusal)

    tags = [f"{COSTLY_TAG}{n}" for n in range(25)]
    card = await _upload(telegram, chat, user, {"name": "Costly tags", "tags": tags})
    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, "Preview"))
    await reply_to(telegram, 7811, mark, "too costly", timeout=ANSWER_SECONDS)


async def test_a_bomb_fails_the_compose_stage_with_a_reason_and_a_fixed_template_goes_through(
    world: World, inputs: Inputs
) -> None:
    telegram, settings = world.telegram, world.settings
    user = telegram.user(7821, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await _upload(
        telegram, chat, user, {"name": "Lectures", "description_template": nested_list_bomb(9)}
    )

    mark = telegram.mark()
    await telegram.send_document(
        chat, user, inputs.lecture, file_name="bomb-lecture.mp4", mime_type="video/mp4"
    )
    progress = await reply_to(telegram, 7821, mark, "❌", timeout=90)
    await telegram.wait_for(lambda: "too costly" in seen(progress))
    assert "«Lectures»" in seen(progress)
    [recording] = await at_rest(settings, 7821)
    assert recording.status is RecordingStatus.FAILED
    assert (recording.stage, recording.failure_code) == ("compose", "template_too_costly")

    # Fixed (the same name replaces it), the recording goes through from where it stopped.
    await _upload(telegram, chat, user, {"name": "Lectures", "title_template": "{{ title }}!"})
    assert "🔁 Try again" in labels(progress)
    mark = telegram.mark()
    await telegram.press(chat, user, progress.message_id, button(progress, "Try again"))
    await reply_to(telegram, 7821, mark, "Ready for review: bomb-lecture!", timeout=60)
    [recording] = await at_rest(settings, 7821)
    assert recording.status is RecordingStatus.AWAITING_REVIEW
