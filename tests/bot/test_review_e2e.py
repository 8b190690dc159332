"""The review card: what it shows, who may publish, topic corrections, foreign ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.cards import ReviewCb
from storage.models import AuditEvent, Publication, RecordingStatus
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, recording_row, reviewable, rows, seen
from tests.conftest import RunningBot
from tests.fakes.telegram import BotMessage, FakeTelegram

lecture_video = chat_fixtures.lecture_video


async def _card(
    telegram: FakeTelegram, chat_id: int, marker: str = "Ready for review"
) -> BotMessage:
    return await telegram.wait_for_message(chat_id, lambda m: marker in seen(m), after=0)


async def test_review_card_shows_the_trim_chapters_warnings_and_subtitles(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    user = telegram.user(801, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    made = await reviewable(
        app.settings,
        telegram,
        chat,
        user,
        lecture_video,
        flags=[{"code": "repeated_phrases", "detail": "loop at 00:00:12"}],
    )
    card = await _card(telegram, 801)
    text = seen(card)
    assert "signals-lecture" in text
    assert "1:35 → 1:20" in text
    for line in ("0:00 Introduction", "0:20 Sampling", "0:41 Aliasing", "1:02 Questions"):
        assert line in text
    assert "same words repeat" in text
    assert card.reply_to_message_id == made.progress_id
    labels = [label for label, _ in card.buttons]
    for wanted in ("Publish", "Topics", "Title", "Description", "Preview", "Discard", "File"):
        assert any(wanted in label for label in labels), labels

    subtitles = await telegram.wait_for_message(801, lambda m: m.document is not None, after=0)
    assert subtitles.document.file_name == "signals-lecture.srt"
    assert "Good morning everyone." in subtitles.document.data.decode()
    assert subtitles.reply_to_message_id == card.message_id

    await telegram.press(chat, user, card.message_id, button(card, "Preview"))
    preview = await telegram.wait_for_message(801, lambda m: "A lecture on signals" in seen(m))
    assert "0:41 Aliasing" in seen(preview)


async def test_group_member_cannot_publish_but_an_admin_can(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    group = telegram.group(-100801, "Signals course")
    owner = telegram.user(811, "Olga", language_code="en")
    admin = telegram.user(812, "Adam", language_code="en")
    student = telegram.user(813, "Sam", language_code="en")
    telegram.set_admins(group["id"], [admin["id"]], creator=owner["id"])
    made = await reviewable(app.settings, telegram, group, owner, lecture_video)
    card = await _card(telegram, group["id"])
    publish = button(card, "Publish")

    refused = await telegram.press(group, student, card.message_id, publish)
    answer = await telegram.wait_for_answer(refused)
    assert answer["show_alert"] is True
    assert "Only admins" in answer["text"]
    recording = await recording_row(app.settings, made.recording_id)
    assert recording.status == RecordingStatus.AWAITING_REVIEW
    assert await rows(app.settings, Publication) == []

    accepted = await telegram.press(group, admin, card.message_id, publish)
    answer = await telegram.wait_for_answer(accepted)
    assert answer["show_alert"] is False
    publications = await rows(app.settings, Publication, recording_id=made.recording_id)
    assert [p.platform for p in publications] == ["export"]
    recording = await recording_row(app.settings, made.recording_id)
    assert recording.status != RecordingStatus.AWAITING_REVIEW
    # The export publisher delivers the archive to the group, and the card ends with it.
    await telegram.wait_for_message(
        group["id"],
        lambda m: m.document is not None and m.document.file_name.endswith(".zip"),
        after=0,
        timeout=30,
    )
    await telegram.wait_for(lambda: "the archive is in the chat above" in seen(card), timeout=30)
    assert "✅ Published." in seen(card)
    assert [label for label, _ in card.buttons] == ["🚀 Publish again", "🗑 Delete"]


async def test_a_button_naming_another_workspaces_recording_is_refused_and_logged(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    ann = telegram.user(821, "Ann", language_code="en")
    ann_chat = telegram.private_chat(ann)
    theirs = await reviewable(app.settings, telegram, ann_chat, ann, lecture_video)
    await _card(telegram, 821)

    eve = telegram.user(822, "Eve", language_code="en")
    eve_chat = telegram.private_chat(eve)
    await telegram.send_text(eve_chat, eve, "/start")
    greeting = await telegram.wait_for_message(822, after=0)
    forged = ReviewCb(action="pub", rec=theirs.recording_id).pack()
    query = await telegram.press(eve_chat, eve, greeting.message_id, forged, force=True)
    answer = await telegram.wait_for_answer(query)
    assert answer["show_alert"] is True
    assert "not in this chat's workspace" in answer["text"]

    recording = await recording_row(app.settings, theirs.recording_id)
    assert recording.status == RecordingStatus.AWAITING_REVIEW
    assert await rows(app.settings, Publication) == []
    events = await rows(app.settings, AuditEvent, action="refused_foreign")
    assert [e.target for e in events] == [f"recording:{theirs.recording_id}"]
    assert events[0].workspace_id != theirs.workspace_id
    assert events[0].user_id == eve["id"]


async def test_a_corrected_topic_list_with_a_bad_line_gets_an_error_naming_the_line(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    group = telegram.group(-100831, "Signals", forum=True)
    thread = telegram.create_topic(group)
    owner = telegram.user(830, "Olga", language_code="en")
    member = telegram.user(831, "Mia", language_code="en")
    telegram.set_admins(group["id"], [], creator=owner["id"])
    made = await reviewable(app.settings, telegram, group, owner, lecture_video, thread_id=thread)
    card = await _card(telegram, group["id"])
    assert card.thread_id == thread

    # A member may correct topics; every answer is a reply, as privacy mode requires.
    await telegram.press(group, member, card.message_id, button(card, "Topics"))
    editor = await telegram.wait_for_message(
        group["id"], lambda m: "corrected list" in str(m.buttons)
    )
    assert editor.thread_id == thread
    await telegram.press(group, member, editor.message_id, button(editor, "corrected list"))
    prompt = await telegram.wait_for_message(group["id"], lambda m: "corrected list" in seen(m))
    assert prompt.thread_id == thread
    assert "00:00:20 Sampling" in seen(prompt)
    assert "Mia" in seen(prompt)

    bad = "00:00 Welcome\n00:20 Sampling theory\n0:3x Aliasing\n01:02 Questions"
    await telegram.send_text(group, member, bad, reply_to=prompt.message_id, thread_id=thread)
    error = await telegram.wait_for_message(group["id"], lambda m: "not saved" in seen(m))
    assert "Line 3: no time at its start" in seen(error)
    assert "0:3x Aliasing" in seen(error)
    assert error.thread_id == thread

    good = "00:00 Welcome\n00:20 Sampling theory\n00:41 Aliasing\n01:02 Questions"
    await telegram.send_text(group, member, good, reply_to=prompt.message_id, thread_id=thread)
    await telegram.wait_for_message(group["id"], lambda m: "Topics saved (4)" in seen(m))
    await telegram.wait_for(lambda: "0:20 Sampling theory" in seen(card))
    assert "0:00 Welcome" in seen(card)
    metadata = json.loads((made.folder / "metadata.json").read_text())
    assert [c["title"] for c in metadata["chapters"]] == [
        "Welcome",
        "Sampling theory",
        "Aliasing",
        "Questions",
    ]
    assert "0:20 Sampling theory" in metadata["description"]
    topics = json.loads((made.folder / "topics.json").read_text())
    assert topics["topics"][0]["title"] == "Welcome"
    assert topics["summary"] == "A lecture on signals."

    # One topic at a time: deleting the fourth works, and so does another (nothing here goes
    # to YouTube, whose minimum is three).
    await telegram.wait_for(lambda: "4. Questions" in str(editor.buttons))
    await telegram.press(group, member, editor.message_id, button(editor, "4. Questions"))
    await telegram.wait_for(lambda: "Topic 4" in seen(editor))
    await telegram.press(group, member, editor.message_id, button(editor, "Delete"))
    await telegram.wait_for(lambda: "Questions" not in seen(card))
    await telegram.wait_for(lambda: "3. Aliasing" in str(editor.buttons))
    await telegram.press(group, member, editor.message_id, button(editor, "3. Aliasing"))
    await telegram.wait_for(lambda: "Topic 3" in seen(editor))
    query = await telegram.press(group, member, editor.message_id, button(editor, "Delete"))
    answer = await telegram.wait_for_answer(query)
    assert answer["text"] == "Topic deleted."
    metadata = json.loads((made.folder / "metadata.json").read_text())
    assert len(metadata["chapters"]) == 2


async def test_title_edit_reaches_metadata_and_auto_publish_waits_for_clean_transcripts(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    user = telegram.user(841, "Ann", language_code="ru")
    chat = telegram.private_chat(user)
    held = await reviewable(
        app.settings,
        telegram,
        chat,
        user,
        lecture_video,
        language="ru",
        compose={"auto_publish": True, "platforms": ["export"]},
        flags=[{"code": "text_in_silence", "detail": "00:00:30"}],
    )
    card = await _card(telegram, 841, "Готово к проверке")
    assert "не при предупреждениях" in seen(card)
    assert (await recording_row(app.settings, held.recording_id)).status == (
        RecordingStatus.AWAITING_REVIEW
    )

    await telegram.press(chat, user, card.message_id, button(card, "Название"))
    await telegram.wait_for_message(841, lambda m: "новым названием" in seen(m))
    # In a private chat a plain message answers the open prompt.
    await telegram.send_text(chat, user, "Сигналы и дискретизация")
    await telegram.wait_for_message(841, lambda m: "Сохранено" in seen(m))
    await telegram.wait_for(lambda: "Сигналы и дискретизация" in seen(card))
    metadata = json.loads((held.folder / "metadata.json").read_text())
    assert metadata["title"] == "Сигналы и дискретизация"
    assert "0:20 Sampling" in metadata["description"]

    clean = await reviewable(
        app.settings,
        telegram,
        chat,
        user,
        lecture_video,
        name="second.mp4",
        language="ru",
        compose={"auto_publish": True, "platforms": ["export"]},
    )
    await telegram.wait_for_message(841, lambda m: "Публикую сам: Файл" in seen(m), after=0)
    publications = await rows(app.settings, Publication, recording_id=clean.recording_id)
    assert [p.platform for p in publications] == ["export"]


@pytest.mark.parametrize(
    ("lang", "ask", "sure", "keep"),
    [
        ("en", "Discard «", "Yes, discard", "Keep it"),
        ("ru", "Отклонить «", "Да, отклонить", "Оставить"),
    ],
)
async def test_discard_asks_first_and_only_admins_answer(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str, ask: str, sure: str,
    keep: str,
) -> None:  # fmt: skip
    base = 861 if lang == "en" else 871
    group = telegram.group(-100000 - base, "Signals course")
    owner = telegram.user(base, "Olga", language_code=lang)
    student = telegram.user(base + 1, "Sam", language_code=lang)
    telegram.set_admins(group["id"], [], creator=owner["id"])
    made = await reviewable(app.settings, telegram, group, owner, lecture_video, language=lang)
    card = await _card(telegram, group["id"], "📋")

    # One tap asks; nothing is discarded yet.
    mark = telegram.mark()
    await telegram.press(group, owner, card.message_id, button(card, "🗑"))
    question = await telegram.wait_for_message(group["id"], after=mark)
    assert ask in seen(question)
    assert [label for label, _ in question.buttons] == [f"🗑 {sure}", f"↩️ {keep}"]
    recording = await recording_row(app.settings, made.recording_id)
    assert recording.status == RecordingStatus.AWAITING_REVIEW

    # A member may not answer it.
    refused = await telegram.press(group, student, question.message_id, question.buttons[0][1])
    assert (await telegram.wait_for_answer(refused))["show_alert"] is True
    assert (await recording_row(app.settings, made.recording_id)).status == (
        RecordingStatus.AWAITING_REVIEW
    )

    # "Keep it" leaves the card as it was; asking again and confirming discards.
    await telegram.press(group, owner, question.message_id, question.buttons[1][1])
    await telegram.wait_for(lambda: question.buttons == [])
    assert (await recording_row(app.settings, made.recording_id)).status == (
        RecordingStatus.AWAITING_REVIEW
    )
    mark = telegram.mark()
    await telegram.press(group, owner, card.message_id, button(card, "🗑"))
    question = await telegram.wait_for_message(group["id"], after=mark)
    await telegram.press(group, owner, question.message_id, question.buttons[0][1])
    await telegram.wait_for(lambda: question.buttons == [])
    recording = await recording_row(app.settings, made.recording_id)
    assert recording.status == RecordingStatus.SKIPPED
    await telegram.wait_for(lambda: card.buttons == [] or "🗑" in seen(card))
