"""Topic extraction through the real ``openai`` SDK against the fake chat API."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from integrations.llm import (
    AUTH,
    INVALID_JSON,
    TopicsError,
    extract_topics,
    parse_time,
    topic_target,
)
from pipeline.topics import Topics
from pipeline.transcript import Segment, Transcript
from tests.fakes.openai import FakeOpenAI, Fault

LINE = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] ", re.MULTILINE)


def lecture(minutes: float, every: float = 30.0) -> Transcript:
    """A transcript with a sentence every ``every`` seconds, each naming its own minute."""
    segments = []
    t = 0.0
    while t < minutes * 60:
        text = f"At minute {int(t // 60)} we discuss point {int(t // every)} of the subject."
        segments.append(Segment(start=t, end=t + every - 2, text=text))
        t += every
    return Transcript(language="en", segments=segments)


def answer(**data: Any) -> str:
    return json.dumps(data)


async def topics_from(
    api: FakeOpenAI, transcript: Transcript, duration: float, **kw: Any
) -> Topics:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("language", "en")
    return await extract_topics(
        transcript,
        duration,
        base_url=api.base_url,
        api_key=api.api_key,
        model="deepseek-chat",
        **kw,
    )


def messages(call: Any) -> list[dict[str, str]]:
    return call.body["messages"]


def line_times(text: str) -> list[float]:
    return [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in LINE.findall(text)]


def test_times_are_read_as_seconds_or_clock_times() -> None:
    assert parse_time(75) == 75.0
    assert parse_time(75.5) == 75.5
    assert parse_time("75.5") == 75.5
    assert parse_time("01:02:03") == 3723.0
    assert parse_time("62:03") == 3723.0
    assert parse_time("[00:01:05]") == 65.0
    with pytest.raises(ValueError):
        parse_time("soon")
    with pytest.raises(ValueError):
        parse_time(None)


def test_number_of_topics_grows_with_the_length() -> None:
    assert topic_target(10 * 60)[1] == 3
    assert topic_target(90 * 60)[1] == 11
    assert topic_target(5 * 3600)[1] == 20
    low, about, high = topic_target(60 * 60)
    assert low < about < high


async def test_valid_answer_becomes_topics(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(
        answer(
            summary="A lecture about the subject.",
            topics=[
                {"start": "00:00:00", "title": "Introduction", "subtopics": []},
                {
                    "start": 305,
                    "title": "Main ideas",
                    "subtopics": [{"start": "00:07:30", "title": "A detail"}],
                },
                {"start": "00:12:00", "title": "Conclusion"},
            ],
            breaks=[{"start": "00:10:00", "end": 630}],
        )
    )
    topics = await topics_from(fake_openai, lecture(20), 1200.0)

    assert topics.summary == "A lecture about the subject."
    assert [(t.start, t.title) for t in topics.topics] == [
        (0.0, "Introduction"),
        (305.0, "Main ideas"),
        (720.0, "Conclusion"),
    ]
    assert [(s.start, s.title) for s in topics.topics[1].subtopics] == [(450.0, "A detail")]
    assert [(b.start, b.end) for b in topics.breaks] == [(600.0, 630.0)]

    (call,) = fake_openai.calls("chat")
    assert call.model == "deepseek-chat"
    assert call.params["response_format"] == {"type": "json_object"}
    sent = messages(call)[-1]["content"]
    assert "[00:05:00] At minute 5 we discuss point 10 of the subject." in sent
    assert "about 3 main topics" in sent
    assert "English" in messages(call)[0]["content"]


async def test_summary_and_titles_are_asked_in_the_lecture_language(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.reply(answer(summary="Лекция.", topics=[{"start": 0, "title": "Введение"}]))
    topics = await topics_from(fake_openai, lecture(3), 180.0, language="ru")
    assert topics.topics[0].title == "Введение"
    assert "in Russian" in messages(fake_openai.calls("chat")[0])[0]["content"]


async def test_invalid_json_gets_one_repair_retry_with_the_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(
        '{"summary": "cut off", "topics": [{"start": "00:00:00", "title": "Int',
        answer(summary="Fixed.", topics=[{"start": 0, "title": "Introduction"}]),
    )
    topics = await topics_from(fake_openai, lecture(10), 600.0)
    assert topics.summary == "Fixed."
    assert [t.title for t in topics.topics] == ["Introduction"]

    first, second = fake_openai.calls("chat")
    repair = messages(second)
    assert repair[: len(messages(first))] == messages(first)
    assert repair[-2]["role"] == "assistant" and "cut off" in repair[-2]["content"]
    assert repair[-1]["role"] == "user" and "not valid JSON" in repair[-1]["content"]


async def test_schema_mismatch_is_repaired_like_invalid_json(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(
        answer(summary="x", topics=[{"title": "No time here"}]),
        answer(summary="x", topics=[{"start": "00:00:00", "title": "Now with time"}]),
    )
    topics = await topics_from(fake_openai, lecture(10), 600.0)
    assert [t.title for t in topics.topics] == ["Now with time"]
    repair = messages(fake_openai.calls("chat")[1])[-1]["content"]
    assert 'topic 1 has no "start"' in repair


async def test_invalid_twice_is_invalid_json(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply("Here are the topics: intro, body, end.", '{"topics": "intro"}')
    with pytest.raises(TopicsError) as caught:
        await topics_from(fake_openai, lecture(10), 600.0)
    assert caught.value.code == INVALID_JSON
    assert '"topics" must be a list' in caught.value.detail
    assert len(fake_openai.calls("chat")) == 2


async def test_json_in_a_code_fence_is_accepted(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(
        '```json\n{"summary": "s", "topics": [{"start": "0:00", "title": "Intro"}]}\n```'
    )
    topics = await topics_from(fake_openai, lecture(5), 300.0)
    assert [t.title for t in topics.topics] == ["Intro"]
    assert len(fake_openai.calls("chat")) == 1


async def test_times_outside_the_video_are_clamped(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(
        answer(
            summary="s",
            topics=[
                {"start": -30, "title": "Opening"},
                {"start": "00:08:00", "title": "Middle"},
                {"start": "05:00:00", "title": "Beyond the end"},
            ],
            breaks=[{"start": "00:09:00", "end": "02:00:00"}],
        )
    )
    topics = await topics_from(fake_openai, lecture(10), 600.0)
    assert all(0.0 <= t.start <= 600.0 for t in topics.topics)
    assert [t.title for t in topics.topics][:2] == ["Opening", "Middle"]
    assert topics.topics[0].start == 0.0
    assert [(b.start, b.end) for b in topics.breaks] == [(540.0, 600.0)]


async def test_duplicate_topics_are_folded_and_ordered(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(
        answer(
            summary="s",
            topics=[
                {"start": 400, "title": "Second"},
                {"start": 0, "title": "First"},
                {"start": 402, "title": "Second again"},
                {"start": 410, "title": "second"},
            ],
        )
    )
    topics = await topics_from(fake_openai, lecture(10), 600.0)
    assert [(t.start, t.title) for t in topics.topics] == [(0.0, "First"), (400.0, "Second")]


def _window_reply(body: dict[str, Any]) -> str:
    """Map answers: a topic at the first line of the window and one halfway through it."""
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    if "consecutive parts" in system:
        # Reduce: keep every part's first topic, with times a little off and out of order.
        starts = line_times(user.split("Topics:", 1)[1]) if "Topics:" in user else []
        firsts = re.findall(r"Topics:\n\[(\d\d:\d\d:\d\d)\] (.+)", user)
        topics = [{"start": parse_time(t) + 7, "title": f"Merged {title}"} for t, title in firsts]
        topics.reverse()
        assert starts
        return answer(summary="The whole lecture.", topics=topics)
    part = int(re.search(r"part (\d+) of", user).group(1))  # type: ignore[union-attr]
    times = line_times(user)
    return answer(
        summary=f"Part {part} summary.",
        topics=[
            {"start": times[0], "title": f"Part {part} opening"},
            {"start": times[len(times) // 2], "title": f"Part {part} middle"},
        ],
    )


async def test_long_transcript_is_read_in_windows_and_merged(fake_openai: FakeOpenAI) -> None:
    transcript = lecture(180, every=20.0)
    total_chars = sum(len(line) + 1 for line in transcript.to_timecoded_lines())
    fake_openai.chat = _window_reply
    fake_openai.latency = 0.1

    topics = await topics_from(fake_openai, transcript, 180 * 60.0, max_chars_per_window=8_000)

    calls = fake_openai.calls("chat")
    maps, reduces = calls[:-1], calls[-1:]
    # Windows are read concurrently, a few at a time; the reduce comes after them all.
    assert 1 < fake_openai.max_in_flight["chat"] <= 3
    assert reduces[0].received >= max(c.finished for c in maps)
    assert 3 <= -(-total_chars // 8_000) <= len(maps) <= -(-total_chars // 8_000) + 1
    # Every line went to exactly one window, and no window was larger than asked.
    seen: list[float] = []
    for call in maps:
        transcript_part = messages(call)[-1]["content"].split("Transcript:\n", 1)[1]
        assert len(transcript_part) <= 8_000
        seen += line_times(transcript_part)
    assert sorted(seen) == [s.start for s in transcript.segments]
    # The reduce request reads the parts' results, not the transcript.
    reduce_text = messages(reduces[0])[-1]["content"]
    assert "we discuss point" not in reduce_text
    assert "Part 1 summary." in reduce_text and "Part 2 opening" in reduce_text

    starts = [t.start for t in topics.topics]
    assert starts == sorted(starts)
    assert topics.summary == "The whole lecture."
    assert [t.title for t in topics.topics] == [
        f"Merged Part {i} opening" for i in range(1, len(maps) + 1)
    ]
    # Times are snapped back to the windows' own topic times (the reduce added 7 s).
    window_starts = sorted(
        {line_times(messages(c)[-1]["content"].split("Transcript:\n", 1)[1])[0] for c in maps}
    )
    assert starts[1:] == window_starts[1:]
    assert starts[0] == 0.0


async def test_unusable_reduce_answer_falls_back_to_merging_the_windows(
    fake_openai: FakeOpenAI,
) -> None:
    transcript = lecture(60, every=20.0)

    def reply(body: dict[str, Any]) -> str:
        if "consecutive parts" in body["messages"][0]["content"]:
            return "I cannot do that."
        return _window_reply(body)

    fake_openai.chat = reply
    topics = await topics_from(fake_openai, transcript, 3600.0, max_chars_per_window=8_000)
    windows = len(fake_openai.calls("chat")) - 2
    assert windows >= 2
    titles = [t.title for t in topics.topics]
    assert titles[0] == "Part 1 opening"
    assert "Part 2 opening" in titles and f"Part {windows} middle" in titles
    starts = [t.start for t in topics.topics]
    assert starts == sorted(starts)
    assert topics.summary.startswith("Part 1 summary. Part 2 summary.")


async def test_rate_limits_and_server_errors_are_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(
        Fault(429, retry_after=0),
        Fault(503),
        answer(summary="s", topics=[{"start": 0, "title": "Intro"}]),
    )
    topics = await topics_from(fake_openai, lecture(5), 300.0)
    assert [t.title for t in topics.topics] == ["Intro"]
    assert [c.status for c in fake_openai.calls("chat")] == [429, 503, 200]


async def test_dropped_connection_is_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail("chat", Fault(reset=True))
    fake_openai.reply(answer(summary="s", topics=[{"start": 0, "title": "Intro"}]))
    topics = await topics_from(fake_openai, lecture(5), 300.0)
    assert [t.title for t in topics.topics] == ["Intro"]


async def test_wrong_key_is_an_auth_error(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(TopicsError) as caught:
        await extract_topics(
            lecture(5),
            300.0,
            base_url=fake_openai.base_url,
            api_key="sk-wrong",
            model="deepseek-chat",
            language="en",
        )
    assert caught.value.code == AUTH
    assert not caught.value.transient
    assert len(fake_openai.calls("chat")) == 1


async def test_provider_without_json_mode_is_asked_again_without_it(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.reply(
        Fault(400, message="response_format json_object is not supported by this model"),
        answer(summary="s", topics=[{"start": 0, "title": "Intro"}]),
    )
    topics = await topics_from(fake_openai, lecture(5), 300.0)
    assert [t.title for t in topics.topics] == ["Intro"]
    first, second = fake_openai.calls("chat")
    assert "response_format" in first.params and "response_format" not in second.params


async def test_empty_transcript_needs_no_request(fake_openai: FakeOpenAI) -> None:
    topics = await topics_from(fake_openai, Transcript(language="en", segments=[]), 60.0)
    assert topics.topics == [] and topics.summary == ""
    assert fake_openai.requests == []


async def test_client_factory_is_used(fake_openai: FakeOpenAI) -> None:
    from openai import AsyncOpenAI

    made: list[AsyncOpenAI] = []

    def factory() -> AsyncOpenAI:
        client = AsyncOpenAI(
            base_url=fake_openai.base_url,
            api_key=fake_openai.api_key,
            max_retries=0,
            default_headers={"X-Workspace": "7"},
        )
        made.append(client)
        return client

    fake_openai.reply(answer(summary="s", topics=[{"start": 0, "title": "Intro"}]))
    await extract_topics(
        lecture(5),
        300.0,
        base_url="http://unused.invalid/v1",
        api_key=None,
        model="m",
        language="en",
        client_factory=factory,
    )
    assert len(made) == 1
    assert len(fake_openai.calls("chat")) == 1
