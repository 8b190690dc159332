"""The fake Bot API takes quiz polls the way Telegram does: within the quiz limits, refused
beyond them, and aiogram reads the poll it answers with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest

from jobs.quiz import post_quiz
from pipeline.questions import Question
from tests.fakes.telegram import FakeTelegram
from tests.test_fake_telegram import QuickSession


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(files_dir=tmp_path / "files") as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    api = TelegramAPIServer.from_base(fake.base_url)
    made = Bot(
        fake.token, session=QuickSession(api=api), default=DefaultBotProperties(parse_mode="HTML")
    )
    yield made
    await made.session.close()


async def test_a_quiz_poll_carries_the_right_option_and_the_explanation_with_its_time(
    fake: FakeTelegram, bot: Bot
) -> None:
    user = fake.user(7001, "Ann")
    chat = fake.private_chat(user)
    question = Question(
        question="Which of <these> makes sugar?",
        options=["Leaves & light", "Castles"],
        correct=0,
        explanation="Plants use light.",
        at=195,
    )
    assert await post_quiz(bot, chat["id"], [question, question]) == 2
    first, second = fake.sent(chat["id"])
    assert first.poll is not None and second.poll is not None
    assert first.poll["type"] == "quiz"
    assert first.poll["question"] == "Which of <these> makes sugar?"
    assert [o["text"] for o in first.poll["options"]] == ["Leaves & light", "Castles"]
    assert first.poll["correct_option_id"] == 0
    assert first.poll["explanation"] == "Plants use light. ⏱ 3:15"


async def test_polls_beyond_the_quiz_limits_are_refused(fake: FakeTelegram, bot: Bot) -> None:
    user = fake.user(7002, "Ann")
    chat = fake.private_chat(user)
    with pytest.raises(TelegramBadRequest, match="2-10 options"):
        await bot.send_poll(chat["id"], "Q?", ["only one"], type="quiz", correct_option_id=0)
    with pytest.raises(TelegramBadRequest, match="explanation"):
        await bot.send_poll(
            chat["id"], "Q?", ["a", "b"], type="quiz", correct_option_id=0, explanation="x" * 201
        )
    with pytest.raises(TelegramBadRequest, match="300"):
        await bot.send_poll(chat["id"], "Q" * 301, ["a", "b"], type="quiz", correct_option_id=0)
    with pytest.raises(TelegramBadRequest, match="100"):
        await bot.send_poll(chat["id"], "Q?", ["a" * 101, "b"], type="quiz", correct_option_id=0)
    with pytest.raises(TelegramBadRequest, match="correct option"):
        await bot.send_poll(chat["id"], "Q?", ["a", "b"], type="quiz", correct_option_id=2)
    assert fake.sent(chat["id"]) == []
