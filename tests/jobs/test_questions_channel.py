"""The self-check quiz in the Telegram channel, right after the video: when the recording chose
it, from its questions, or from questions the language model writes at that moment; the video
is published either way, and the chat is told when the quiz could not follow."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from pydantic import SecretStr

from locales import gettext
from pipeline.questions import Question
from pipeline.topics import Topic, Topics
from pipeline.transcript import Segment, Transcript
from storage import repo
from storage.models import PublicationStatus
from tests.conftest import running
from tests.fakes.openai import FakeOpenAI
from tests.fakes.quiz_llm import QuizModel, good_answer
from tests.jobs.conftest import CHANNEL, World

QUESTIONS = [
    Question(question="What is sampled?", options=["A signal", "A cake"], correct=0, at=2.0),
    Question(
        question="Too few samples give…",
        options=["Nothing", "Aliasing", "Sound"],
        correct=1,
        explanation="Frequencies fold back.",
    ),
]


async def _choose(world: World, *, questions: list[Question], chosen: bool | None) -> None:
    async def update(session: Any) -> None:
        recording = await repo.get_recording(session, world.workspace_id, world.recording_id)
        assert recording is not None
        items = [q.model_dump() for q in questions]
        recording.media = {**recording.media, "questions": {"llm": True, "items": items}}
        if chosen is not None:
            recording.options = {**recording.options, "quiz_channel": chosen}

    await world._session_call(update)


async def test_the_quiz_follows_the_video_in_the_channel_when_chosen(world: World) -> None:
    await world.connect_channel()
    await _choose(world, questions=QUESTIONS, chosen=True)

    async with running(world.settings, world.telegram):
        assert await world.publish(["telegram"]) == ["telegram"]
        await world.links_message()

    video, first, second = world.telegram.sent(CHANNEL)
    assert video.video is not None
    assert first.poll is not None and second.poll is not None
    assert first.poll["type"] == "quiz" and first.poll["is_anonymous"]
    assert first.poll["question"] == "What is sampled?"
    assert first.poll["correct_option_id"] == 0
    assert first.poll["explanation"] == "⏱ 0:02"
    assert second.poll["correct_option_id"] == 1
    assert second.poll["explanation"] == "Frequencies fold back."
    recording = await world.recording()
    assert recording.media["publish"]["telegram"]["quiz_sent"] == 2


async def test_a_template_that_asks_for_the_quiz_is_followed_unless_the_card_said_no(
    world: World,
) -> None:
    await world.connect_channel()
    await world.set_compose(quiz_channel=True)
    await _choose(world, questions=QUESTIONS, chosen=False)

    async with running(world.settings, world.telegram):
        assert await world.publish(["telegram"]) == ["telegram"]
        await world.links_message()

    [video] = world.telegram.sent(CHANNEL)
    assert video.video is not None


async def test_without_questions_the_model_writes_them_for_the_channel(world: World) -> None:
    await world.connect_channel()
    await world.set_compose(quiz_channel=True)
    await _choose(world, questions=[], chosen=None)
    transcript = Transcript(
        language="en",
        segments=[
            Segment(start=float(t), end=t + 1.5, text=f"Point {t} of sampling.") for t in range(6)
        ],
    )
    (world.folder / "transcript.json").write_text(transcript.model_dump_json())
    topics = Topics(topics=[Topic(start=0, title="Sampling")])
    (world.folder / "topics.json").write_text(topics.dump_json())

    async with FakeOpenAI() as api:
        model = QuizModel("en", deque([good_answer("en", 3)]))
        api.chat = model
        settings = world.settings.model_copy(
            update={"llm_base_url": api.base_url, "llm_api_key": SecretStr(str(api.api_key))}
        )
        async with running(settings, world.telegram):
            assert await world.publish(["telegram"]) == ["telegram"]
            await world.links_message()

    assert model.problems == []
    polls = [m.poll for m in world.telegram.sent(CHANNEL) if m.poll]
    assert len(polls) == 3
    # The times are kept inside the six-second video.
    assert all(p["explanation"].endswith("⏱ 0:06") for p in polls)


async def test_a_quiz_that_cannot_be_made_leaves_the_video_published_and_says_why(
    world: World,
) -> None:
    await world.connect_channel()
    await _choose(world, questions=[], chosen=True)

    async with running(world.settings, world.telegram):
        assert await world.publish(["telegram"]) == ["telegram"]
        await world.links_message()
        told = gettext("en", "questions.channel_offline")
        await world.telegram.wait_for_message(
            world.chat["id"], lambda m: m.content == told, after=0
        )

    [video] = world.telegram.sent(CHANNEL)
    assert video.video is not None
    assert (await world.publications())["telegram"].status == PublicationStatus.DONE.value
    assert json.loads((world.folder / "metadata.json").read_text())["title"]
