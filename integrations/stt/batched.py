"""Whisper on windows of speech side by side, the encoder run once per window.

The local engine (:mod:`integrations.stt.local`) cuts the joined speech of a piece into
windows of up to 30 s (:func:`pipeline.speech_chunks.whisper_windows`). Here each window
is turned into features and encoded once; the same encoder output then names the language
of each stretch of speech in it and is decoded, up to :data:`BATCH` windows at a time.

Rules it keeps:

- **One encoder pass per window.** Naming a stretch's language reads the stretch's part of
  the encoder output that the decoder reads next (:func:`language_of`), so naming costs no
  extra pass over the audio.
- **Side by side.** The decoder reads all of its weights for every word it writes, so
  windows decoded together cost less than decoded apart. Four at a time take 13 % less time
  than two on a 20-minute lecture, for 85 MB more at the top (each window's encoder output
  and its cross-attention keys and values, read at every step): about 570 MB, under the
  600 MB the engine may take (a piece of 150 s holds about five windows). Each window is
  heard once, without timestamp tokens: nothing is decoded twice, and the words' times come
  from their alignment, one window at a time.
- **Same input, same output.** Greedy or beam search at temperature 0, no sampling.

These are faster-whisper's own batched steps (``BatchedInferencePipeline``), taken apart
so that the encoder output can be kept between naming the language and decoding.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from integrations.stt.windows import VAD_HOP, VAD_SPEECH, Window
from pipeline.speech_chunks import SpeechChunks
from pipeline.transcript import Word

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

RATE = 16_000
BATCH = 4
"""Windows decoded together."""
_ENCODED_PER_SECOND = 50
_FRAMES = 3000
_PREPEND = "\"'“¿([{-"
_APPEND = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class Encoded:
    """One window after the encoder: its output and its sample range in the joined audio."""

    output: npt.NDArray[np.float32]
    span: tuple[int, int]


@dataclass(frozen=True)
class Run:
    """Speech of one language in a piece: its joined audio, its chunks and its
    voice-activity probabilities, all counted from ``begin`` seconds into the piece."""

    joined: npt.NDArray[np.float32]
    chunks: SpeechChunks
    probabilities: npt.NDArray[np.float32]
    language: str
    begin: float
    switch: bool
    """Whether a stretch may be heard in another language than ``language``."""

    def speech(self, first: int, last: int) -> float:
        """Seconds the voice-activity model calls speech in joined samples ``[first, last)``."""
        start = self.chunks.original(first / RATE)
        end = self.chunks.original(last / RATE, self.chunks.chunk_at((last - 1) / RATE))
        a, b = int(start * RATE) // VAD_HOP, int(end * RATE) // VAD_HOP
        return float((self.probabilities[a:b] >= VAD_SPEECH).sum()) * VAD_HOP / RATE

    def unheard(
        self, span: tuple[int, int], found: Sequence[Word], least: float
    ) -> list[tuple[int, int]]:
        """The stretches of the window ``span`` (joined samples) before, between and after
        its words ``found`` in which the voice-activity model hears ``least`` seconds of
        speech or more."""
        edges = [span[0]]
        for word in found:
            edges += [round(word.start * RATE), round(word.end * RATE)]
        edges.append(span[1])
        return [
            (a, b)
            for a, b in zip(edges[::2], edges[1::2], strict=True)
            if b > a and self.speech(a, b) >= least
        ]

    def stretched(self, found: Sequence[Word], longest: float, least: float) -> bool:
        """Whether the alignment stretched a word of ``found`` over speech: past its
        first ``longest`` seconds the voice-activity model hears ``least`` seconds or more.
        That is where Whisper skipped a sentence and the words after it were pulled back
        over it, so no stretch looks unheard."""
        return any(
            w.end - w.start > longest
            and self.speech(round((w.start + longest) * RATE), round(w.end * RATE)) >= least
            for w in found
        )


def hear_timed(
    model: WhisperModel,
    joined: npt.NDArray[np.float32],
    span: tuple[int, int],
    language: str,
    *,
    beam_size: int,
    hotwords: str | None = None,
) -> list[Word]:
    """One window heard the way faster-whisper hears a file, with timestamp tokens: after
    each segment it goes on from where that segment ends, so a skipped sentence is heard
    in the next. Only greedy or beam search, no sampling, so the same audio always gives
    the same words. Times in the joined audio."""
    a, b = span
    segments, _ = model.transcribe(
        joined[a:b],
        language=language,
        beam_size=beam_size,
        temperature=0.0,
        word_timestamps=True,
        condition_on_previous_text=False,
        vad_filter=False,
        hotwords=hotwords,
        prepend_punctuations=_PREPEND,
        append_punctuations=_APPEND,
    )
    shift = a / RATE
    return [
        Word(
            start=round(w.start + shift, 3),
            end=round(w.end + shift, 3),
            word=w.word,
            probability=round(w.probability, 4),
        )
        for segment in segments
        for w in segment.words or []
        if w.word.strip()
    ]


def encode(
    model: WhisperModel, joined: npt.NDArray[np.float32], spans: Sequence[tuple[int, int]]
) -> list[Encoded]:
    """The windows ``spans`` (sample ranges of ``joined``) through the encoder.

    One window at a time: on a CPU the encoder is no faster for several at once (slower
    for eight, its working set outgrows the cache), unlike the decoder."""
    from faster_whisper.audio import pad_or_trim

    encoded: list[Encoded] = []
    for a, b in spans:
        features = pad_or_trim(model.feature_extractor(joined[a:b])[..., :-1])
        output = model.encode(features)
        encoded.append(Encoded(np.array(output)[0], (a, b)))
    return encoded


def _batches(encoded: Sequence[Encoded]) -> Iterator[tuple[Any, list[Encoded]]]:
    from ctranslate2 import StorageView

    for first in range(0, len(encoded), BATCH):
        part = list(encoded[first : first + BATCH])
        yield StorageView.from_array(np.stack([e.output for e in part])), part


def language_of(
    model: WhisperModel, window: Encoded, first: int, last: int
) -> tuple[str | None, float]:
    """The language of the joined samples ``[first, last)`` of ``window`` and the model's
    confidence in it, named from the stretch's own frames of the window's encoder output.

    Whisper's encoder attends mostly nearby, so these frames speak for the stretch, not for
    the whole window: a window of English then German is "de" as a whole, but its first
    ten seconds are "en" at 0.96 and the rest "de" at 0.99, as when each is encoded alone.
    It costs one decoder step instead of an encoder pass."""
    from ctranslate2 import StorageView

    a = max(0, (first - window.span[0]) * _ENCODED_PER_SECOND // RATE)
    b = min(len(window.output), -(-(last - window.span[0]) * _ENCODED_PER_SECOND // RATE))
    if b - a < 2:
        return None, 0.0
    frames = StorageView.from_array(np.ascontiguousarray(window.output[None, a:b]))
    token, probability = model.model.detect_language(frames)[0][0]
    return token[2:-2], float(probability)


def name_languages(
    model: WhisperModel,
    samples: npt.NDArray[np.float32],
    chunks: SpeechChunks,
    encoded: Sequence[Encoded],
    stretches: Sequence[Window],
    min_speech: float,
) -> None:
    """The language of each stretch of speech with at least ``min_speech`` seconds in it,
    from its frames of the window that holds it (:func:`language_of`); a stretch across
    two windows is encoded on its own (:func:`detect_alone`)."""
    for stretch in stretches:
        if stretch.speech < min_speech:
            continue
        first, last = chunks.joined(stretch.start), chunks.joined(stretch.end)
        window = next((e for e in encoded if e.span[0] <= first and last <= e.span[1]), None)
        if window is not None:
            stretch.language, stretch.probability = language_of(model, window, first, last)
        else:
            a, b = round(stretch.start * RATE), round(stretch.end * RATE)
            stretch.language, stretch.probability = detect_alone(model, samples[a:b])


def detect_alone(model: WhisperModel, samples: npt.NDArray[np.float32]) -> tuple[str | None, float]:
    """The language of a stretch of speech and the model's confidence in it.

    The encoder reads only the stretch, without the padding to 30 s that faster-whisper's
    own detection adds: a third of the cost for a ten-second stretch, the same answer."""
    features = model.feature_extractor(samples)
    frames = min(features.shape[-1] // 2 * 2, _FRAMES)
    if frames < 2:
        return None, 0.0
    output = model.encode(np.ascontiguousarray(features[:, :frames]))
    token, probability = model.model.detect_language(output)[0][0]
    return token[2:-2], float(probability)


def hear(
    model: WhisperModel,
    encoded: Sequence[Encoded],
    language: str,
    *,
    beam_size: int,
    hotwords: str | None = None,
) -> Iterator[list[Word]]:
    """Each window's words in ``language``, in order, times in the joined audio."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
    )
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True, hotwords=hotwords)
    suppressed = get_suppressed_tokens(tokenizer, [-1])
    # Where the last word before a pause ended: faster-whisper shortens a first word after
    # a pause that its alignment stretched, across windows as it does across segments.
    last = 0.0
    for output, part in _batches(encoded):
        spans = [e.span for e in part]
        results = model.model.generate(
            output,
            [list(prompt) for _ in spans],
            beam_size=beam_size,
            max_length=model.max_length,
            suppress_blank=True,
            suppress_tokens=suppressed,
            sampling_temperature=0.0,
        )
        del output
        for result, window in zip(results, part, strict=True):
            words, last = _align(model, tokenizer, result.sequences_ids[0], window, last)
            yield words


def _align(
    model: WhisperModel, tokenizer: Any, tokens: list[int], window: Encoded, last: float
) -> tuple[list[Word], float]:
    """The words of ``tokens`` with their times in the joined audio, aligned one window at
    a time: the alignment of eight at once holds their attention weights together, 125 MB
    more at the top for no gain in time."""
    from ctranslate2 import StorageView

    a, b = window.span
    # faster-whisper counts a window's offset in frames of 10 ms; the exact offset in
    # samples is put back below, so a word keeps its time to the sample.
    seek = round(a * model.frames_per_second / RATE)
    start = seek / model.frames_per_second
    segment = {"tokens": tokens, "seek": seek, "start": start, "end": start + (b - a) / RATE}
    size = math.ceil((b - a) / RATE) * model.frames_per_second
    output = StorageView.from_array(window.output[None])
    last = model.add_word_timestamps(
        [[segment]], tokenizer, output, [size], _PREPEND, _APPEND, last
    )
    shift = a / RATE - start
    words = [
        Word(
            start=round(w["start"] + shift, 3),
            end=round(w["end"] + shift, 3),
            word=w["word"],
            probability=round(w["probability"], 4),
        )
        for w in segment.get("words", [])
        if w["word"].strip()
    ]
    return words, last
