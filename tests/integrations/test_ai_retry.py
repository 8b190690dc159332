"""Speech-to-text and topics fail and retry alike: one error type, one retry loop.

Both go through the real ``openai`` SDK to the fake API on 127.0.0.1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from integrations.ai_errors import BAD_REQUEST, RATE_LIMITED, TOO_LARGE, UNAVAILABLE, AIServiceError
from integrations.llm import TopicsError, extract_topics
from integrations.stt import TranscriptionError, make_engine
from pipeline.transcript import Segment, Transcript
from tests.fakes.openai import FakeOpenAI, Fault

LECTURE = Transcript(
    language="en",
    segments=[Segment(start=0.0, end=4.0, text="Today we talk about sampling.")],
)


async def _transcribe(api: FakeOpenAI, chunk: Path, **options: object) -> None:
    engine = make_engine(
        "openai",
        base_url=api.base_url,
        api_key=api.api_key,
        model="whisper-1",
        backoff_base=0.01,
        **options,  # type: ignore[arg-type]
    )
    await engine.transcribe([(chunk, 0.0)], language="en")


async def _topics(api: FakeOpenAI, **options: object) -> None:
    await extract_topics(
        LECTURE,
        60.0,
        base_url=api.base_url,
        api_key=api.api_key,
        model="deepseek-chat",
        language="en",
        backoff_base=0.01,
        **options,  # type: ignore[arg-type]
    )


async def test_an_outage_is_retried_then_given_up_the_same_way_by_speech_and_topics(
    fake_openai: FakeOpenAI,
    silent_chunk: Callable[[float], Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_openai.fail("transcriptions", *[Fault(503)] * 10)
    fake_openai.fail("chat", *[Fault(503)] * 10)
    caplog.set_level(logging.WARNING)

    with pytest.raises(TranscriptionError) as speech:
        await _transcribe(fake_openai, silent_chunk(3.0), max_attempts=3)
    with pytest.raises(TopicsError) as topics:
        await _topics(fake_openai, max_attempts=3)

    for caught in (speech.value, topics.value):
        assert isinstance(caught, AIServiceError)
        assert (caught.code, caught.status, caught.transient) == (UNAVAILABLE, 503, True)
        assert caught.detail.endswith("(gave up after 3 attempts)"), caught.detail
    assert len(fake_openai.calls("transcriptions")) == len(fake_openai.calls("chat")) == 3
    # Each client's own log says which request is waiting, try by try.
    retries = [(r.name, r.getMessage()) for r in caplog.records if "retrying in" in r.getMessage()]
    assert [name for name, _ in retries] == ["integrations.stt.api"] * 2 + [
        "integrations.llm.chat"
    ] * 2
    assert "failed (unavailable: HTTP 503" in retries[0][1] and "attempt 1 of 3" in retries[0][1]
    assert "attempt 2 of 3" in retries[-1][1]


async def test_a_long_retry_after_fails_both_at_once_for_a_later_retry_of_the_stage(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.fail("transcriptions", Fault(429, retry_after=3600))
    fake_openai.fail("chat", Fault(429, retry_after=3600))

    with pytest.raises(TranscriptionError) as speech:
        await _transcribe(fake_openai, silent_chunk(3.0))
    with pytest.raises(TopicsError) as topics:
        await _topics(fake_openai)

    for caught in (speech.value, topics.value):
        assert (caught.code, caught.status, caught.transient) == (RATE_LIMITED, 429, True)
        assert caught.detail.endswith("(the service asks to wait 3600 s)"), caught.detail
    assert len(fake_openai.calls("transcriptions")) == len(fake_openai.calls("chat")) == 1


async def test_a_request_too_large_is_named_by_each_client_and_not_retried(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.fail("transcriptions", Fault(413))
    fake_openai.fail("chat", Fault(413))

    with pytest.raises(TranscriptionError) as speech:
        await _transcribe(fake_openai, silent_chunk(3.0))
    with pytest.raises(TopicsError) as topics:
        await _topics(fake_openai)

    assert (speech.value.code, speech.value.status) == (TOO_LARGE, 413)
    # A chat request too long for the model is a refusal like any other.
    assert (topics.value.code, topics.value.status) == (BAD_REQUEST, 413)
    assert not speech.value.transient and not topics.value.transient
    assert len(fake_openai.calls("transcriptions")) == len(fake_openai.calls("chat")) == 1
