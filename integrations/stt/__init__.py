"""Speech to text: one interface, two engines.

``make_engine("local", ...)`` runs faster-whisper on this machine's CPU;
``make_engine("openai", ...)`` sends the audio to any OpenAI-compatible
``/audio/transcriptions`` endpoint (OpenAI, Groq, Fireworks, a local server).

Both take the recording as chunks, each a ``(path, offset)`` pair where the
offset is where the chunk starts on the published video's timeline, and return
one :class:`~pipeline.transcript.Transcript` on that timeline::

    engine = make_engine("openai", base_url=url, api_key=key, model="whisper-1")
    transcript = await engine.transcribe([(a, 0.0), (b, 598.2)], language="en")

``language`` is an ISO 639-1 code or :data:`AUTO`: detected from the speech (per
stretch by the local engine, per chunk by an API), and ``Transcript.language`` then says
what was heard. ``engine.languages()`` and ``engine.supports(language)`` answer without
any decoding, so a caller refuses a language the engine lacks before any work; an engine
given one anyway raises ``UNSUPPORTED_LANGUAGE`` before it reads a sample.

Failures raise :class:`TranscriptionError`, the speech kind of
:class:`integrations.ai_errors.AIServiceError`: its ``code`` is one of :data:`CODES` and
``transient`` says whether trying the whole stage again later may help. The API engine
retries through :func:`integrations.ai_retry.with_retries`, as the topics client does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

from integrations.ai_errors import (
    AUTH,
    BAD_REQUEST,
    MODEL_MISSING,
    QUOTA,
    RATE_LIMITED,
    TOO_LARGE,
    UNAVAILABLE,
    AIServiceError,
)
from pipeline.transcript import Transcript

__all__ = [
    "AUTH",
    "AUTO",
    "BAD_REQUEST",
    "CODES",
    "MODEL_MISSING",
    "QUOTA",
    "RATE_LIMITED",
    "TOO_LARGE",
    "UNAVAILABLE",
    "UNREADABLE",
    "UNSUPPORTED_LANGUAGE",
    "WHISPER_LANGUAGES",
    "Chunk",
    "ProgressCallback",
    "SpeechToText",
    "TranscriptionError",
    "make_engine",
]

AUTO = "auto"
"""The language argument that asks the engine to detect the language from the speech."""


# Written out rather than read from faster_whisper.tokenizer: importing faster-whisper takes
# seconds (CTranslate2, PyAV, onnxruntime), and the bot asks which languages are known
# without ever transcribing.
# fmt: off
WHISPER_LANGUAGES: tuple[str, ...] = (
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs", "cy",
    "da", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha", "haw",
    "he", "hi", "hr", "ht", "hu", "hy", "id", "is", "it", "ja", "jw", "ka", "kk", "km", "kn",
    "ko", "la", "lb", "ln", "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt",
    "my", "ne", "nl", "nn", "no", "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si",
    "sk", "sl", "sn", "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl",
    "tr", "tt", "uk", "ur", "uz", "vi", "yi", "yo", "zh", "yue",
)
# fmt: on
"""ISO 639-1 codes of every language multilingual Whisper transcribes (99)."""

Chunk = tuple[Path, float]
"""An audio file and where it starts on the published timeline, in seconds."""

ProgressCallback = Callable[[float], Awaitable[None]]
"""Receives the share of the audio done so far, from 0.0 to 1.0."""

UNSUPPORTED_LANGUAGE = "unsupported_language"
"""The local model cannot transcribe this language (an English-only model and another language)."""
UNREADABLE = "unreadable"
"""A chunk file is missing or cannot be decoded."""

CODES = frozenset(
    {
        AUTH,
        BAD_REQUEST,
        UNAVAILABLE,
        RATE_LIMITED,
        QUOTA,
        MODEL_MISSING,
        TOO_LARGE,
        UNSUPPORTED_LANGUAGE,
        UNREADABLE,
    }
)


class TranscriptionError(AIServiceError):
    """Speech could not be turned into text; ``code`` is one of :data:`CODES`.

    ``model_missing`` also covers a local model that is not on this machine, and
    ``too_large`` a chunk larger than the service accepts.
    """


class SpeechToText(Protocol):
    def languages(self) -> tuple[str, ...]:
        """ISO 639-1 codes of the languages this engine transcribes; no decoding, no request."""
        ...

    def supports(self, language: str) -> bool:
        """True for :data:`AUTO` and every language :meth:`languages` names."""
        ...

    async def transcribe(
        self,
        chunks: list[Chunk],
        *,
        language: str,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript:
        """Transcribe every chunk and merge the results on the published timeline."""
        ...


def make_engine(
    kind: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
    local_model: str | None = None,
    concurrency: int = 4,
    max_attempts: int = 6,
    backoff_base: float = 1.0,
    backoff_cap: float = 60.0,
    timeout: float = 300.0,
    max_upload_bytes: int = 25 * 1024 * 1024,
    beam_size: int = 1,
    cpu_threads: int = 2,
    compute_type: str = "int8",
    vocabulary: Sequence[str] = (),
) -> SpeechToText:
    """The engine of ``kind`` ("local" or "openai"), configured by plain values.

    ``local`` uses ``local_model`` (a folder, a faster-whisper model name, ``tiny.en``
    for the bundled English-only model) or, when it is None, the bundled multilingual
    Whisper base, with ``beam_size``, ``cpu_threads`` and ``compute_type``.
    ``openai`` uses ``base_url``, ``api_key`` and ``model``, sends up to
    ``concurrency`` chunks at once and retries transient failures up to
    ``max_attempts`` times in all, waiting ``backoff_base * 2**n`` seconds
    (at most ``backoff_cap``, with jitter) or what the server's Retry-After asks.
    ``vocabulary`` (key terms) becomes either engine's prompt, see
    :mod:`integrations.stt.vocabulary`.
    """
    if kind == "local":
        from integrations.stt.local import LocalWhisper

        return LocalWhisper(
            local_model,
            beam_size=beam_size,
            cpu_threads=cpu_threads,
            compute_type=compute_type,
            vocabulary=vocabulary,
        )
    if kind == "openai":
        from integrations.stt.api import OpenAICompatible

        if not base_url:
            raise ValueError("the openai engine needs a base_url")
        if not model:
            raise ValueError("the openai engine needs a model name")
        return OpenAICompatible(
            base_url=base_url,
            api_key=api_key,
            model=model,
            concurrency=concurrency,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            timeout=timeout,
            max_upload_bytes=max_upload_bytes,
            vocabulary=vocabulary,
        )
    raise ValueError(f"unknown transcription engine {kind!r}: expected 'local' or 'openai'")
