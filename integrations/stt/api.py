"""Any OpenAI-compatible ``/audio/transcriptions`` endpoint, through the ``openai`` SDK.

Chunks go out concurrently (at most ``concurrency`` at once, started in
timeline order). Each chunk is one request through :func:`integrations.ai_retry.with_retries`
(the SDK's own retries off; 429, 408, 409, 5xx, timeouts and dropped connections retried
with growing delays, honouring Retry-After), so every chunk keeps its own budget and a
long lecture is only more chunks, never a longer request.

``language="auto"`` sends no language: the service detects it, and the ``language``
field of ``verbose_json`` (a name such as "russian", or a code) becomes the chunk's
language; chunks in different languages give a transcript whose segments say theirs.

Key terms (:mod:`integrations.stt.vocabulary`) go in every request's ``prompt`` field, cut
to Whisper's prompt budget.

Providers answer in several shapes, all accepted: OpenAI's ``verbose_json``
with segments (and words when asked for), word lists without segments (some
Whisper hosts), ``{"text": ...}`` or plain text. A provider that rejects
``timestamp_granularities`` or ``verbose_json`` is asked again with less, and
the rest of the chunks use the smaller request straight away.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from openai import AsyncOpenAI

from integrations import ai_retry, openai_api
from integrations.ai_retry import Backoff
from integrations.stt import (
    AUTO,
    TOO_LARGE,
    UNREADABLE,
    UNSUPPORTED_LANGUAGE,
    WHISPER_LANGUAGES,
    Chunk,
    ProgressCallback,
    TranscriptionError,
)
from integrations.stt import vocabulary as key_terms
from pipeline.errors import MediaError
from pipeline.probe import probe_async
from pipeline.transcript import Segment, Transcript, Word, segments_from_words

__all__ = ["OpenAICompatible"]

log = logging.getLogger(__name__)

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…。！？])\s+")

# What to ask for, richest first; a provider that refuses one level gets the next.
_FORMATS: tuple[dict[str, Any], ...] = (
    {"response_format": "verbose_json", "timestamp_granularities": ["segment", "word"]},
    {"response_format": "verbose_json"},
    {"response_format": "json"},
)


@dataclass
class _Ladder:
    level: int = 0

    def params(self) -> dict[str, Any]:
        return _FORMATS[self.level]

    def step_down(self, used: int, message: str) -> bool:
        """Move past level ``used`` if the refusal is about the response format."""
        text = message.lower()
        if used == 0 and "granularit" in text:
            target = 1
        elif used < 2 and ("response_format" in text or "verbose_json" in text):
            target = 2
        else:
            return False
        self.level = max(self.level, target)
        return True


class OpenAICompatible:
    """The ``openai`` engine."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        concurrency: int = 4,
        max_attempts: int = 6,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        timeout: float = 300.0,
        max_upload_bytes: int = 25 * 1024 * 1024,
        client_factory: Callable[[], AsyncOpenAI] | None = None,
        vocabulary: Sequence[str] = (),
    ) -> None:
        self.vocabulary = tuple(vocabulary)
        self.base_url = base_url
        self.api_key = api_key
        self.model = model
        self.concurrency = max(1, concurrency)
        self.backoff = Backoff(
            max_attempts=max(1, max_attempts), base=backoff_base, cap=backoff_cap
        )
        self.timeout = timeout
        self.max_upload_bytes = max_upload_bytes
        self._client_factory = client_factory or self._default_client

    def languages(self) -> tuple[str, ...]:
        """The languages of Whisper-based services; a provider may know fewer."""
        return WHISPER_LANGUAGES

    def supports(self, language: str) -> bool:
        code = _code(language)
        return code == AUTO or code in WHISPER_LANGUAGES

    def _default_client(self) -> AsyncOpenAI:
        return ai_retry.client(self.base_url, self.api_key, self.timeout)

    async def transcribe(
        self,
        chunks: list[Chunk],
        *,
        language: str,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript:
        if not self.supports(language):
            raise TranscriptionError(
                UNSUPPORTED_LANGUAGE, f"speech-to-text services do not know {language!r}"
            )
        if _code(language) == AUTO:
            language = AUTO
        if not chunks:
            return Transcript(language="" if language == AUTO else language, segments=[])
        sizes = [self._checked_size(path) for path, _ in chunks]
        total = sum(sizes) or 1
        ladder = _Ladder()
        gate = asyncio.Semaphore(self.concurrency)
        done = 0

        async def one(client: AsyncOpenAI, index: int) -> tuple[float, Transcript]:
            nonlocal done
            path, offset = chunks[index]
            async with gate:
                data = await asyncio.to_thread(path.read_bytes)
                answer = await self._send(client, path.name, data, language, ladder)
            transcript = await _transcript(answer, path, language)
            done += sizes[index]
            if on_progress is not None:
                await _notify(on_progress, done / total)
            return offset, transcript

        async with self._client_factory() as client:
            parts = await ai_retry.gather_all([one(client, i) for i in range(len(chunks))])
        return Transcript.merge(parts)

    def _checked_size(self, path: Path) -> int:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise TranscriptionError(UNREADABLE, f"{path.name}: {exc.strerror}") from exc
        if size > self.max_upload_bytes:
            raise TranscriptionError(
                TOO_LARGE,
                f"{path.name} is {size / 2**20:.1f} MB; the service takes at most "
                f"{self.max_upload_bytes / 2**20:.1f} MB per request",
            )
        return size

    async def _send(
        self, client: AsyncOpenAI, name: str, data: bytes, language: str, ladder: _Ladder
    ) -> str | dict[str, Any]:
        async def once() -> str | dict[str, Any]:
            while True:
                level = ladder.level
                try:
                    raw = await client.audio.transcriptions.with_raw_response.create(
                        file=(name, data),
                        model=self.model,
                        # ISO 639-1 is what these APIs take; none lets the service detect it.
                        **({"language": _code(language)} if language and language != AUTO else {}),
                        **key_terms.api_prompt(self.vocabulary),
                        **ladder.params(),
                    )
                except openai.APIStatusError as exc:
                    # A smaller request at once, not counted as a try: the service answered.
                    if exc.status_code in (400, 422) and ladder.step_down(
                        level, openai_api.error_message(exc)
                    ):
                        log.info("transcription API refused %s; asking for less", _FORMATS[level])
                        continue
                    raise
                return _body(raw.headers.get("content-type", ""), raw.text)

        return await ai_retry.with_retries(
            once,
            backoff=self.backoff,
            error=TranscriptionError,
            what=f"transcribing {name}",
            log=log,
        )


def _body(content_type: str, text: str) -> str | dict[str, Any]:
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, dict):
            return value
        if isinstance(value, str):
            return value
    return text


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _words(items: object) -> list[Word]:
    words: list[Word] = []
    if not isinstance(items, list):
        return words
    for item in items:
        if not isinstance(item, dict):
            continue
        start, end = _number(item.get("start")), _number(item.get("end"))
        text = item.get("word", item.get("text"))
        if start is None or end is None or not isinstance(text, str) or not text.strip():
            continue
        probability = _number(item.get("probability"))
        words.append(Word(start=start, end=end, word=text, probability=probability))
    return words


def _segments(body: dict[str, Any]) -> list[Segment]:
    loose = sorted(_words(body.get("words")), key=lambda w: w.start)
    raw = body.get("segments")
    segments: list[tuple[float, float, str, list[Word]]] = []
    if isinstance(raw, list):
        for item in raw:
            if not isinstance(item, dict):
                continue
            start, end = _number(item.get("start")), _number(item.get("end"))
            text = item.get("text")
            if start is None or end is None or not isinstance(text, str):
                continue
            segments.append((start, end, text, _words(item.get("words"))))
    if not segments:
        return segments_from_words(loose) if loose else []

    segments.sort(key=lambda s: s[0])
    if loose and not any(own for *_, own in segments):
        # Top-level words belong to the segment in which their middle falls.
        starts = [s[0] for s in segments]
        for word in loose:
            index = max(0, bisect.bisect_right(starts, (word.start + word.end) / 2) - 1)
            segments[index][3].append(word)
    return [
        Segment(start=start, end=end, text=text, words=own or None)
        for start, end, text, own in segments
        if text.strip()
    ]


def _spread(text: str, duration: float) -> list[Segment]:
    """Sentences of a text without times, spread over the chunk by their length."""
    sentences = [s.strip() for s in _SENTENCE_SPLIT.split(text.strip()) if s.strip()]
    total = sum(len(s) for s in sentences)
    segments: list[Segment] = []
    position = 0
    for sentence in sentences:
        start = duration * position / total
        position += len(sentence)
        segments.append(Segment(start=start, end=duration * position / total, text=sentence))
    return segments


def _code(language: str) -> str:
    # "en-US" and "EN" are "en" to these APIs.
    return language.strip().split("-")[0].lower() or AUTO


@functools.cache
def _codes_by_name() -> dict[str, str]:
    names: dict[str, str] = {}
    try:
        from babel import Locale

        english = Locale("en").languages
    except ImportError:
        english = {}
    for code in WHISPER_LANGUAGES:
        name = english.get(code)
        if name:
            names[name.casefold()] = code
    # Whisper's own spellings where they differ from the usual English names.
    names.update(
        {
            "castilian": "es",
            "flemish": "nl",
            "valencian": "ca",
            "moldavian": "ro",
            "moldovan": "ro",
            "letzeburgesch": "lb",
            "pushto": "ps",
            "panjabi": "pa",
            "sinhalese": "si",
            "mandarin": "zh",
            "haitian": "ht",
            "maori": "mi",
            "javanese": "jw",
            "norwegian": "no",
        }
    )
    return names


def language_code(value: object) -> str | None:
    """The ISO code for a service's ``language`` field ("russian", "Russian", "ru")."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().casefold()
    if text in WHISPER_LANGUAGES:
        return text
    code = text.split("-")[0].split("_")[0]
    if len(code) in (2, 3) and code.isalpha() and code in WHISPER_LANGUAGES:
        return code
    return _codes_by_name().get(text)


async def _transcript(answer: str | dict[str, Any], path: Path, requested: str) -> Transcript:
    language = requested
    if requested == AUTO:
        heard = language_code(answer.get("language")) if isinstance(answer, dict) else None
        language = heard or ""
    if isinstance(answer, dict):
        segments = _segments(answer)
        text = answer.get("text")
        if segments or not isinstance(text, str):
            return Transcript(language=language, segments=segments)
        duration = _number(answer.get("duration"))
    else:
        text, duration = answer, None
    if not text.strip():
        return Transcript(language=language, segments=[])
    if duration is None or duration <= 0:
        try:
            duration = (await probe_async(path)).duration
        except MediaError as exc:
            raise TranscriptionError(UNREADABLE, f"{path.name}: {exc}") from exc
    return Transcript(language=language, segments=_spread(text, duration))


async def _notify(on_progress: Callable[[float], Awaitable[None]], share: float) -> None:
    try:
        await on_progress(share)
    except Exception:
        # A failed progress message must never cost the transcript.
        log.exception("progress callback failed")
