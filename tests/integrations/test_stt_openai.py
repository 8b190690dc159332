"""The openai engine through the real ``openai`` SDK against the fake API on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from integrations.stt import (
    AUTH,
    MODEL_MISSING,
    QUOTA,
    RATE_LIMITED,
    TOO_LARGE,
    UNAVAILABLE,
    UNSUPPORTED_LANGUAGE,
    TranscriptionError,
    make_engine,
)
from integrations.stt.api import OpenAICompatible
from tests.fakes.openai import FakeOpenAI, Fault, Phrase, Upload

# Each test chunk is silence of a distinct length; the fake API "hears" the script for it.
SCRIPT: dict[float, list[Phrase]] = {
    3.0: [Phrase(0.2, 1.4, "First chunk opens."), Phrase(1.6, 2.8, "It closes here.")],
    4.0: [Phrase(0.5, 2.0, "Second chunk speaks."), Phrase(2.5, 3.8, "Then it rests.")],
    5.0: [Phrase(1.0, 4.5, "Third chunk says one long thing.")],
    6.0: [Phrase(0.0, 2.0, "Fourth chunk."), Phrase(3.0, 5.5, "The last words of all.")],
}


def scripted(upload: Upload) -> list[Phrase]:
    return SCRIPT[round(upload.duration)]


def engine(api: FakeOpenAI, **options: object) -> OpenAICompatible:
    options.setdefault("backoff_base", 0.01)
    made = make_engine(
        "openai", base_url=api.base_url, api_key=api.api_key, model="whisper-1", **options
    )  # type: ignore[arg-type]
    assert isinstance(made, OpenAICompatible)
    return made


@pytest.fixture
def chunks(silent_chunk: Callable[[float], Path]) -> list[tuple[Path, float]]:
    """Four chunks back to back on the timeline, as the chunker cuts a lecture."""
    result: list[tuple[Path, float]] = []
    offset = 0.0
    for seconds in (3.0, 4.0, 5.0, 6.0):
        result.append((silent_chunk(seconds), offset))
        offset += seconds
    return result


async def test_chunks_are_sent_concurrently_and_merged_in_timeline_order(
    fake_openai: FakeOpenAI, chunks: list[tuple[Path, float]]
) -> None:
    fake_openai.transcriber = scripted
    fake_openai.latency = 0.3
    shares: list[float] = []

    async def on_progress(share: float) -> None:
        shares.append(share)

    transcript = await engine(fake_openai, concurrency=3).transcribe(
        chunks, language="en", on_progress=on_progress
    )

    calls = fake_openai.calls("transcriptions")
    assert len(calls) == 4
    assert 1 < fake_openai.max_in_flight["transcriptions"] <= 3
    assert {c.model for c in calls} == {"whisper-1"}
    assert all(c.params["language"] == "en" for c in calls)
    assert all(c.params["response_format"] == "verbose_json" for c in calls)
    assert all(c.params["timestamp_granularities"] == ["segment", "word"] for c in calls)

    assert [s.text for s in transcript.segments] == [
        "First chunk opens.",
        "It closes here.",
        "Second chunk speaks.",
        "Then it rests.",
        "Third chunk says one long thing.",
        "Fourth chunk.",
        "The last words of all.",
    ]
    assert [s.start for s in transcript.segments] == pytest.approx(
        [0.2, 1.6, 3.5, 5.5, 8.0, 12.0, 15.0]
    )
    third = transcript.segments[4]
    assert third.words is not None
    assert [w.word for w in third.words] == ["Third", "chunk", "says", "one", "long", "thing."]
    assert third.words[0].start == pytest.approx(8.0)
    assert shares == sorted(shares)
    assert shares[-1] == pytest.approx(1.0)


async def test_concurrency_of_one_sends_one_request_at_a_time(
    fake_openai: FakeOpenAI, chunks: list[tuple[Path, float]]
) -> None:
    fake_openai.transcriber = scripted
    fake_openai.latency = 0.05
    await engine(fake_openai, concurrency=1).transcribe(chunks, language="en")
    assert fake_openai.max_in_flight["transcriptions"] == 1
    assert len(fake_openai.calls("transcriptions")) == 4


async def test_sentence_at_thirty_minutes_five_is_at_thirty_minutes_five(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.transcriber = lambda upload: (
        [Phrase(5.0, 7.5, "This is minute thirty.")] if upload.duration > 5.5 else []
    )
    chunks = [(silent_chunk(5.0), 1795.0), (silent_chunk(8.0), 1800.0)]
    transcript = await engine(fake_openai).transcribe(chunks, language="en")
    assert len(transcript.segments) == 1
    assert transcript.segments[0].start == pytest.approx(1805.0)
    assert transcript.to_timecoded_lines() == ["[00:30:05] This is minute thirty."]


async def test_rate_limit_is_retried_after_the_time_the_server_asks(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.transcriber = scripted
    fake_openai.fail("transcriptions", Fault(429, retry_after=0.2))
    transcript = await engine(fake_openai).transcribe([(silent_chunk(5.0), 60.0)], language="en")

    calls = fake_openai.calls("transcriptions")
    assert [c.status for c in calls] == [429, 200]
    # The second try waited for Retry-After (not the 10 ms backoff the test configured).
    assert calls[1].received - calls[0].finished >= 0.2
    assert transcript.text() == "Third chunk says one long thing."
    assert transcript.segments[0].start == pytest.approx(61.0)


async def test_server_errors_and_dropped_connections_are_retried(
    fake_openai: FakeOpenAI, chunks: list[tuple[Path, float]]
) -> None:
    fake_openai.transcriber = scripted
    fake_openai.fail(
        "transcriptions", Fault(500), Fault(reset=True), Fault(503, retry_after=0), Fault(502)
    )
    transcript = await engine(fake_openai, concurrency=1).transcribe(chunks, language="en")
    assert len(transcript.segments) == 7
    statuses = [c.status for c in fake_openai.calls("transcriptions")]
    assert statuses.count(200) == 4
    assert len(statuses) == 8


async def test_timeouts_are_retried(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.transcriber = scripted
    fake_openai.fail("transcriptions", Fault(delay=2.0))
    transcript = await engine(fake_openai, timeout=0.5).transcribe(
        [(silent_chunk(3.0), 0.0)], language="en"
    )
    assert transcript.text() == "First chunk opens. It closes here."
    assert len(fake_openai.calls("transcriptions")) == 2


async def test_lasting_outage_gives_up_with_a_readable_error(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.fail("transcriptions", *[Fault(503)] * 10)
    with pytest.raises(TranscriptionError) as caught:
        await engine(fake_openai, max_attempts=3).transcribe(
            [(silent_chunk(3.0), 0.0)], language="en"
        )
    assert caught.value.code == UNAVAILABLE
    assert caught.value.transient
    assert "503" in caught.value.detail and "3 attempts" in caught.value.detail
    assert len(fake_openai.calls("transcriptions")) == 3


async def test_lasting_rate_limit_is_rate_limited(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.fail("transcriptions", *[Fault(429, retry_after=0)] * 3)
    with pytest.raises(TranscriptionError) as caught:
        await engine(fake_openai, max_attempts=3).transcribe(
            [(silent_chunk(3.0), 0.0)], language="en"
        )
    assert caught.value.code == RATE_LIMITED


async def test_a_long_retry_after_fails_at_once_for_a_later_retry_of_the_stage(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.fail("transcriptions", Fault(429, retry_after=3600))
    with pytest.raises(TranscriptionError) as caught:
        await engine(fake_openai).transcribe([(silent_chunk(3.0), 0.0)], language="en")
    assert caught.value.code == RATE_LIMITED
    assert caught.value.transient
    assert len(fake_openai.calls("transcriptions")) == 1


async def test_exhausted_quota_is_not_retried(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.fail(
        "transcriptions",
        Fault(429, message="You exceeded your current quota.", code="insufficient_quota"),
    )
    with pytest.raises(TranscriptionError) as caught:
        await engine(fake_openai).transcribe([(silent_chunk(3.0), 0.0)], language="en")
    assert caught.value.code == QUOTA
    assert "quota" in caught.value.detail
    assert len(fake_openai.calls("transcriptions")) == 1


async def test_wrong_key_is_an_auth_error_without_retries(
    fake_openai: FakeOpenAI, chunks: list[tuple[Path, float]]
) -> None:
    wrong = make_engine(
        "openai",
        base_url=fake_openai.base_url,
        api_key="sk-wrong",
        model="whisper-1",
        backoff_base=0.01,
    )
    with pytest.raises(TranscriptionError) as caught:
        await wrong.transcribe(chunks, language="en")
    assert caught.value.code == AUTH
    assert not caught.value.transient
    assert "401" in caught.value.detail and "API key" in caught.value.detail
    assert "sk-wrong" not in str(caught.value)
    assert all(c.status == 401 for c in fake_openai.calls("transcriptions"))
    assert len(fake_openai.calls("transcriptions")) <= 4


async def test_unknown_model_is_model_missing(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.models = {"whisper-large-v3"}
    with pytest.raises(TranscriptionError) as caught:
        await engine(fake_openai).transcribe([(silent_chunk(3.0), 0.0)], language="en")
    assert caught.value.code == MODEL_MISSING
    assert "whisper-1" in caught.value.detail


async def test_chunk_larger_than_the_limit_is_refused_before_upload(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    with pytest.raises(TranscriptionError) as caught:
        await engine(fake_openai, max_upload_bytes=50_000).transcribe(
            [(silent_chunk(3.0), 0.0)], language="en"
        )
    assert caught.value.code == TOO_LARGE
    assert fake_openai.calls("transcriptions") == []


async def test_server_refusing_the_size_is_too_large(silent_chunk: Callable[[float], Path]) -> None:
    async with FakeOpenAI(max_upload_bytes=50_000) as api:
        with pytest.raises(TranscriptionError) as caught:
            await engine(api).transcribe([(silent_chunk(3.0), 0.0)], language="en")
    assert caught.value.code == TOO_LARGE


async def test_provider_answering_only_words_gets_segments_built_from_them(
    fake_openai: FakeOpenAI, chunks: list[tuple[Path, float]]
) -> None:
    fake_openai.transcriber = scripted
    fake_openai.style = lambda upload: "words" if round(upload.duration) == 4 else "openai"
    transcript = await engine(fake_openai).transcribe(chunks, language="en")
    texts = [s.text for s in transcript.segments]
    assert texts[2:4] == ["Second chunk speaks.", "Then it rests."]
    second = transcript.segments[2]
    assert second.start == pytest.approx(3.5)
    assert second.words is not None and second.words[0].word == "Second"
    assert len(transcript.segments) == 7


async def test_segments_without_words_are_kept(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.transcriber = scripted
    fake_openai.style = "segments"
    transcript = await engine(fake_openai).transcribe([(silent_chunk(4.0), 10.0)], language="en")
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (10.5, 12.0, "Second chunk speaks."),
        (12.5, 13.8, "Then it rests."),
    ]
    assert all(s.words is None for s in transcript.segments)


async def test_plain_text_answer_is_spread_over_the_chunk(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.transcriber = lambda upload: "One sentence here. And a second one here."
    fake_openai.style = "text"
    transcript = await engine(fake_openai).transcribe([(silent_chunk(6.0), 100.0)], language="en")
    assert [s.text for s in transcript.segments] == ["One sentence here.", "And a second one here."]
    assert transcript.segments[0].start == pytest.approx(100.0)
    assert transcript.segments[-1].end == pytest.approx(106.0, abs=0.05)
    assert transcript.segments[0].end == pytest.approx(transcript.segments[1].start)


async def test_provider_refusing_word_times_is_asked_again_without_them(
    fake_openai: FakeOpenAI, chunks: list[tuple[Path, float]]
) -> None:
    fake_openai.transcriber = scripted
    fake_openai.reject = {"timestamp_granularities"}
    transcript = await engine(fake_openai, concurrency=1).transcribe(chunks, language="en")
    assert len(transcript.segments) == 7
    calls = fake_openai.calls("transcriptions")
    # One refusal, then every chunk (including the refused one) without the parameter.
    assert [c.status for c in calls] == [400, 200, 200, 200, 200]
    assert all("timestamp_granularities" not in c.params for c in calls[1:])


async def test_model_without_verbose_json_falls_back_to_text(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.transcriber = scripted
    fake_openai.reject = {"verbose_json"}
    transcript = await engine(fake_openai).transcribe([(silent_chunk(4.0), 0.0)], language="en")
    assert transcript.text() == "Second chunk speaks. Then it rests."
    assert fake_openai.calls("transcriptions")[-1].params["response_format"] == "json"


async def test_no_chunks_make_an_empty_transcript(fake_openai: FakeOpenAI) -> None:
    transcript = await engine(fake_openai).transcribe([], language="ru")
    assert transcript.segments == [] and transcript.language == "ru"
    assert fake_openai.requests == []


async def test_long_lecture_is_just_more_chunks(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    # Three hours in 36 five-minute chunks (the files themselves are short stand-ins).
    fake_openai.transcriber = lambda upload: [Phrase(1.0, 2.5, f"Part {upload.index}.")]
    chunk = silent_chunk(3.0)
    chunks = [(chunk, i * 300.0) for i in range(36)]
    transcript = await engine(fake_openai, concurrency=4).transcribe(chunks, language="en")
    assert len(transcript.segments) == 36
    assert [s.start for s in transcript.segments] == pytest.approx(
        [i * 300.0 + 1 for i in range(36)]
    )
    assert transcript.segments[-1].start == pytest.approx(3 * 3600 - 299)
    assert fake_openai.max_in_flight["transcriptions"] <= 4


async def test_regional_language_tag_is_sent_as_an_iso_code(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.transcriber = scripted
    transcript = await engine(fake_openai).transcribe([(silent_chunk(3.0), 0.0)], language="en-US")
    assert fake_openai.calls("transcriptions")[0].params["language"] == "en"
    assert transcript.language == "en-US"


async def test_failing_progress_callback_does_not_cost_the_transcript(
    fake_openai: FakeOpenAI, chunks: list[tuple[Path, float]]
) -> None:
    fake_openai.transcriber = scripted

    async def broken(share: float) -> None:
        raise RuntimeError("Telegram is down")

    transcript = await engine(fake_openai).transcribe(chunks, language="en", on_progress=broken)
    assert len(transcript.segments) == 7


async def test_cancelling_stops_every_request_in_flight(
    fake_openai: FakeOpenAI, chunks: list[tuple[Path, float]]
) -> None:
    fake_openai.transcriber = scripted
    fake_openai.latency = 30.0
    before = asyncio.all_tasks()
    job = asyncio.create_task(engine(fake_openai, concurrency=2).transcribe(chunks, language="en"))
    await fake_openai.until_in_flight("transcriptions", 2)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    await asyncio.sleep(0.05)
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()
    assert len(fake_openai.calls("transcriptions")) == 2


async def test_auto_sends_no_language_and_takes_the_one_the_service_heard(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.transcriber = lambda upload: [Phrase(0.5, 2.5, "Добрый день.")]
    fake_openai.language = "russian"
    made = engine(fake_openai)
    assert made.supports("auto") and made.supports("ru")
    transcript = await made.transcribe([(silent_chunk(3.0), 0.0)], language="auto")
    assert "language" not in fake_openai.calls("transcriptions")[0].params
    assert transcript.language == "ru"
    assert transcript.segments[0].language is None


async def test_chunks_heard_in_two_languages_say_which_is_which(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    def heard(upload: Upload) -> list[Phrase]:
        # The service names the language of each request; the second one is English.
        fake_openai.language = "en" if upload.index == 0 else "russian"
        if upload.index == 0:
            return [Phrase(0.5, 2.0, "A short quote.")]
        return [Phrase(0.5, 4.5, "Длинная лекция на русском языке.")]

    fake_openai.transcriber = heard
    chunks = [(silent_chunk(3.0), 0.0), (silent_chunk(5.0), 3.0)]
    transcript = await engine(fake_openai, concurrency=1).transcribe(chunks, language="auto")
    assert transcript.language == "ru"
    assert [s.language for s in transcript.segments] == ["en", "ru"]


async def test_a_language_no_service_knows_is_refused_before_any_request(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    made = engine(fake_openai)
    assert not made.supports("xx")
    with pytest.raises(TranscriptionError) as caught:
        await made.transcribe([(silent_chunk(3.0), 0.0)], language="xx")
    assert caught.value.code == UNSUPPORTED_LANGUAGE
    assert not fake_openai.calls("transcriptions")
