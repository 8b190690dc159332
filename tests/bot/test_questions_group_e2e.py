"""Self-check questions in a group: members look at them and quiz the group; only admins choose
the channel quiz, and a member is told who can; another chat's button finds nothing."""

from __future__ import annotations

from pathlib import Path

from jobs.cards.questions import CHANNEL, OPEN, QUIZ, QuestionsCb
from pipeline.questions import Question
from storage.db import create_engine, session_maker
from storage.models import Recording
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import recording_row, reviewable, seen
from tests.bot.test_granularity_e2e import _say
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

lecture_video = chat_fixtures.lecture_video

ASKED = [
    Question(question="Что такое дискретизация?", options=["Отсчёты", "Шум"], correct=0, at=20.0),
    Question(question="Что даёт наложение спектров?", options=["Эхо", "Алиасинг"], correct=1),
]


async def _with_questions(app: RunningBot, recording_id: int) -> None:
    engine = create_engine(app.settings.database_url)
    try:
        async with session_maker(engine)() as session:
            recording = await session.get(Recording, recording_id)
            assert recording is not None
            items = [q.model_dump() for q in ASKED]
            recording.media = {**recording.media, "questions": {"llm": True, "items": items}}
            await session.commit()
    finally:
        await engine.dispose()


async def test_members_quiz_the_group_and_only_admins_choose_the_channel_quiz(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    group = telegram.group(-100891, "Сигналы")
    owner = telegram.user(891, "Olga", language_code="ru")
    student = telegram.user(893, "Sasha", language_code="en")
    telegram.set_admins(group["id"], [], creator=owner["id"])
    made = await reviewable(app.settings, telegram, group, owner, lecture_video, language="ru")
    card = await telegram.wait_for_message(group["id"], lambda m: "📋" in seen(m), after=0)
    await _with_questions(app, made.recording_id)
    rec = made.recording_id

    # The member opens the list (in their own language) and sends the quiz to the group.
    mark = telegram.mark()
    opened = QuestionsCb(a=OPEN, rec=rec).pack()
    await telegram.wait_for_answer(
        await telegram.press(group, student, card.message_id, opened, force=True)
    )
    heading = _say("en", "questions.heading", name="").strip()
    listed = await telegram.wait_for_message(group["id"], lambda m: heading in seen(m), after=mark)
    assert "1. [0:00:20] Что такое дискретизация?" in seen(listed)
    # No channel is connected, so there is no channel switch.
    assert not any("channel" in label for label, _data in listed.buttons)
    mark = telegram.mark()
    quiz = QuestionsCb(a=QUIZ, rec=rec).pack()
    await telegram.wait_for_answer(await telegram.press(group, student, listed.message_id, quiz))
    await telegram.wait_for(
        lambda: len([m for m in telegram.sent(group["id"])[mark:] if m.poll]) == 2
    )

    # The channel quiz: the member is refused and told who can; the owner chooses it.
    channel = QuestionsCb(a=CHANNEL, rec=rec).pack()
    answer = await telegram.wait_for_answer(
        await telegram.press(group, student, card.message_id, channel, force=True)
    )
    assert answer["show_alert"] is True and "Olga" in answer["text"]
    assert "quiz_channel" not in (await recording_row(app.settings, rec)).options
    answer = await telegram.wait_for_answer(
        await telegram.press(group, owner, card.message_id, channel, force=True)
    )
    assert answer["text"] == _say("ru", "questions.channel_now_on")
    assert (await recording_row(app.settings, rec)).options["quiz_channel"] is True

    # A button naming this recording, pressed in another chat, finds nothing there.
    stranger = telegram.user(894, "Eve", language_code="en")
    own = telegram.private_chat(stranger)
    elsewhere = await reviewable(app.settings, telegram, own, stranger, lecture_video)
    other_card = await telegram.wait_for_message(
        own["id"], lambda m: "📋" in seen(m) and bool(m.buttons), after=0
    )
    assert elsewhere.recording_id != rec
    answer = await telegram.wait_for_answer(
        await telegram.press(own, stranger, other_card.message_id, opened, force=True)
    )
    assert answer["text"] == _say("en", "recs.not_found")
