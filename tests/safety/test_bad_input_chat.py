"""What people type and press that the bot must not take at face value.

Templates that try to reach Python's internals, buttons naming someone else's recording or
nothing we ever made, topic lists past the end of the video or thousands of lines long: each
gets a clear answer, and nothing of anyone's changes.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from bot.callbacks import recordings as rec_cb
from bot.callbacks import review as topic_cb
from bot.callbacks.recordings import RecCb
from bot.callbacks.review import TopicCb
from jobs import cards
from jobs.cards import PlatformCb, RetryCb, ReviewCb
from storage.models import AuditEvent, RecordingStatus
from storage.models import Template as TemplateRow
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, recording_row, reviewable
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.safety.conftest import World, reply_to, seen, select, snapshot, workspace_of

lecture_video = chat_fixtures.lecture_video

# Ways into Python from a template: attributes, items, format fields, the helpers' globals.
REACHING_IN = (
    "{{ title.__class__.__mro__[1].__subclasses__() }}",
    "{{ title['__class__'] }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ self._TemplateReference__context }}",
    "{{ '{0.__class__}'.format(title) }}",
)
# What would show that something of Python's got out.
LEAKS = ("<class", "<function", "<module", "<built-in", "<TemplateReference")


async def _card(telegram: FakeTelegram, chat_id: int) -> BotMessage:
    return await telegram.wait_for_message(
        chat_id, lambda m: "Ready for review" in seen(m), after=0
    )


def _no_leaks(telegram: FakeTelegram, chat_id: int) -> None:
    for message in telegram.sent(chat_id):
        for text in message.texts:
            assert not any(leak in html.unescape(text or "") for leak in LEAKS), text


async def test_templates_reaching_into_python_are_refused_from_a_file_and_the_dialogue(
    world: World, lecture_video: Path
) -> None:
    telegram, settings = world.telegram, world.settings
    user = telegram.user(7401, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await reviewable(settings, telegram, chat, user, lecture_video)
    await _card(telegram, 7401)

    # A file: every way in is refused, and no template is kept.
    for number, source in enumerate(REACHING_IN):
        body = {"name": f"Sneaky {number}", "title_template": source}
        mark = telegram.mark()
        await telegram.send_document(
            chat, user, yaml.safe_dump(body).encode(), file_name="t.yaml", mime_type="text/yaml"
        )
        refusal = await reply_to(telegram, 7401, mark, "not saved")
        assert "title_template" in seen(refusal), source
    workspace = await workspace_of(settings, 7401)
    assert workspace is not None
    assert await select(settings, sa.select(TemplateRow)) == []

    # The dialogue: the failing step is asked again until a harmless answer comes.
    await telegram.send_text(chat, user, "/templates")
    listing = await telegram.wait_for_message(7401, lambda m: "Templates" in seen(m))
    await telegram.press(chat, user, listing.message_id, button(listing, "New template"))
    await telegram.wait_for_message(7401, lambda m: "name for the new template" in seen(m))
    await telegram.send_text(chat, user, "Lectures")
    await telegram.wait_for_message(7401, lambda m: "Which recordings" in seen(m))
    await telegram.send_text(chat, user, "-")
    await telegram.wait_for_message(7401, lambda m: "title template" in seen(m))
    await telegram.send_text(chat, user, REACHING_IN[0])
    await telegram.wait_for_message(7401, lambda m: "description template" in seen(m))
    mark = telegram.mark()
    await telegram.send_text(chat, user, REACHING_IN[2])
    refusal = await reply_to(telegram, 7401, mark, "not saved")
    assert "title_template" in seen(refusal) and "description_template" in seen(refusal)
    assert "internal names" in seen(refusal)
    await telegram.wait_for_message(7401, lambda m: "title template" in seen(m), after=mark)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "{{ title }}")
    await telegram.wait_for_message(7401, lambda m: "description template" in seen(m), after=mark)
    # "-" keeps the default, in place of the refused description too.
    mark = telegram.mark()
    await telegram.send_text(chat, user, "-")
    card = await reply_to(telegram, 7401, mark, "Template «Lectures» created")
    [row] = await select(settings, sa.select(TemplateRow))
    assert not any("__" in str(v) for v in row.body.values())

    # Changing a field of the saved template: refused the same way.
    await telegram.press(chat, user, card.message_id, button(card, "Title"))
    await telegram.wait_for_message(7401, lambda m: "title template" in seen(m))
    mark = telegram.mark()
    await telegram.send_text(chat, user, REACHING_IN[3])
    await reply_to(telegram, 7401, mark, "not saved")
    [row] = await select(settings, sa.select(TemplateRow))
    assert "__" not in row.body["title_template"]

    # The saved template still renders, and nothing of Python ever reached the chat.
    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, "Preview"))
    await reply_to(telegram, 7401, mark, "signals-lecture")
    _no_leaks(telegram, 7401)


def _forged(rec: int) -> list[str]:
    """Every button that names a recording, pointed at `rec`."""
    data: list[str] = [RetryCb(rec=rec).pack(), PlatformCb(rec=rec, p="export").pack()]
    data += [ReviewCb(action=action, rec=rec).pack() for action in cards.REVIEW_ACTIONS]
    for action in (
        rec_cb.OPEN, rec_cb.RETRY, rec_cb.CANCEL, rec_cb.DELETE, rec_cb.DELETE_SURE, rec_cb.REVIEW,
    ):  # fmt: skip
        data.append(RecCb(action=action, rec=rec).pack())
    for action in (
        topic_cb.PICK, topic_cb.RENAME, topic_cb.RETIME, topic_cb.DELETE, topic_cb.ADD,
        topic_cb.LIST, topic_cb.BACK, topic_cb.CLOSE,
    ):  # fmt: skip
        data.append(TopicCb(action=action, rec=rec, idx=0).pack())
    return data


async def test_buttons_naming_another_workspaces_recording_are_refused(
    world: World, lecture_video: Path
) -> None:
    telegram, settings = world.telegram, world.settings
    owner = telegram.user(7411, "Olga", language_code="en")
    theirs = await reviewable(
        settings, telegram, telegram.private_chat(owner), owner, lecture_video
    )
    await _card(telegram, 7411)

    eve = telegram.user(7412, "Eve", language_code="ru")
    chat = telegram.private_chat(eve)
    await telegram.send_text(chat, eve, "/start")
    greeting = await telegram.wait_for_message(7412, after=0)
    before = await snapshot(settings)
    forged = _forged(theirs.recording_id)
    answers = []
    for data in forged:
        query = await telegram.press(chat, eve, greeting.message_id, data, force=True)
        answers.append(await telegram.wait_for_answer(query))

    assert all(a["text"] == "Этой записи нет в пространстве этого чата." for a in answers)
    assert all(a["show_alert"] for a in answers)
    recording = await recording_row(settings, theirs.recording_id)
    assert recording.status is RecordingStatus.AWAITING_REVIEW
    assert (theirs.folder / "video.mp4").is_file()
    # Eve's chat got no card, prompt or list of the other recording.
    assert [m.message_id for m in telegram.sent(7412)] == [greeting.message_id]
    eves = await workspace_of(settings, 7412)
    assert eves is not None
    # Only Eve's own workspace has something new: the trace of each refusal.
    assert before.changed_beyond(await snapshot(settings), eves.id) == []
    traces = await select(
        settings, sa.select(AuditEvent).where(AuditEvent.action == "refused_foreign")
    )
    assert len(traces) == len(forged)
    assert {t.workspace_id for t in traces} == {eves.id}


NOT_OURS = (
    "x",
    "zz9:anything:at:all",
    "ÿþ\x01\x02",
    "rv1",
    "rv1:pub",
    "rv1:pub:abc",
    "rv1:pub:-1",
    "rv1:pub:99999999999999999999999999",
    "rc1:delok:1:notanumber",
    "rt1:" + "9" * 60,
    "tp1:pick:1:99999",
    "tm1:open:1:x:extra",
    "tm1:delok:-5:",
    "st1:lang:../../etc",
    "lg1:xx",
    "cn1:evil",
    "cn2:abc",
    "zm1:",
    "lk1:y",
    "rl1:-3",
    "rl1:" + "9" * 40,
)


async def test_buttons_that_are_not_ours_are_answered_and_change_nothing(
    world: World, lecture_video: Path
) -> None:
    telegram, settings = world.telegram, world.settings
    user = telegram.user(7421, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    made = await reviewable(settings, telegram, chat, user, lecture_video)
    card = await _card(telegram, 7421)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/recordings")
    listing = await reply_to(telegram, 7421, mark, "Recordings")
    card_text = card.content
    before = await snapshot(settings)
    sent_before = len(telegram.sent(7421))

    queries = []
    for data in NOT_OURS:
        assert len(data.encode()) <= 64
        # Page turns are pressed where they belong, on a list; the rest on the review card.
        target = listing if data.startswith("rl1:") else card
        queries.append(await telegram.press(chat, user, target.message_id, data, force=True))
    answers = [await telegram.wait_for_answer(q) for q in queries]

    # Every press is answered (no endless spinner); none opens, changes or sends anything.
    assert len(answers) == len(NOT_OURS)
    assert len(telegram.sent(7421)) == sent_before
    assert card.content == card_text
    recording = await recording_row(settings, made.recording_id)
    assert recording.status is RecordingStatus.AWAITING_REVIEW
    changes = before.changed_beyond(await snapshot(settings))
    assert [c for c in changes if "audit_events" not in c] == []
    # The bot is still there for the next person.
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/help")
    await telegram.wait_for_message(7421, after=mark)


async def _list_prompt(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], card: BotMessage
) -> BotMessage:
    chat_id = chat["id"]
    await telegram.press(chat, user, card.message_id, button(card, "Topics"))
    editor = await telegram.wait_for_message(
        chat_id, lambda m: "corrected list" in str(m.buttons), after=0
    )
    mark = telegram.mark()
    await telegram.press(chat, user, editor.message_id, button(editor, "corrected list"))
    return await telegram.wait_for_message(
        chat_id, lambda m: "corrected list" in seen(m), after=mark
    )


@pytest.mark.parametrize(
    ("user_id", "text", "says"),
    [
        (
            7431,
            "00:00 Welcome\n00:20 Sampling\n01:30 Beyond the end\n12:00:00 Far beyond",
            ("Line 3: the time is after the end", "Line 4: the time is after the end"),
        ),
        (
            7432,
            "\n".join(f"{n // 60:02d}:{n % 60:02d} Topic {n}" for n in range(10_000)),
            ("the list is far too long",),
        ),
    ],
    ids=["times_past_the_end", "ten_thousand_lines"],
)
async def test_corrected_topic_lists_that_cannot_be_chapters_are_refused(
    world: World, lecture_video: Path, user_id: int, text: str, says: tuple[str, ...]
) -> None:
    telegram, settings = world.telegram, world.settings
    user = telegram.user(user_id, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    made = await reviewable(settings, telegram, chat, user, lecture_video)
    card = await _card(telegram, user_id)
    prompt = await _list_prompt(telegram, chat, user, card)
    topics_before = (made.folder / "topics.json").read_bytes()
    metadata_before = (made.folder / "metadata.json").read_bytes()
    before = await snapshot(settings)

    mark = telegram.mark()
    await telegram.send_text(chat, user, text, reply_to=prompt.message_id)
    refusal = await reply_to(telegram, user_id, mark, "not saved")
    for words in says:
        assert words in seen(refusal)
    assert len(refusal.content or "") < 4096

    assert (made.folder / "topics.json").read_bytes() == topics_before
    assert (made.folder / "metadata.json").read_bytes() == metadata_before
    assert before.changed_beyond(await snapshot(settings)) == []
    assert "0:20 Sampling" in seen(card)
    # The prompt stays open: a good list is still taken.
    mark = telegram.mark()
    good = "00:00 Welcome\n00:20 Sampling\n00:41 Aliasing"
    await telegram.send_text(chat, user, good, reply_to=prompt.message_id)
    await reply_to(telegram, user_id, mark, "Topics saved (3)")
