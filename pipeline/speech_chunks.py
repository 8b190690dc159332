"""The speech of a stretch of audio joined without its long silences, and the way back.

Whisper is handed only what the voice-activity model calls speech: stretches of speech
that are less than :data:`MIN_SILENCE` apart stay together, each is widened by
:data:`PAD` on both sides (or, when two are closer than twice that, until they meet),
and they are joined end to end. Times in the joined audio are turned back into times in
the original with :meth:`SpeechChunks.original`: a word keeps to the chunk its middle
falls in, so it never straddles a removed silence.

These are the rules of faster-whisper's own ``vad_filter`` with its default settings,
applied to probabilities the caller has already computed (:mod:`pipeline.vad`), so the
model does not run twice over the same audio and the memory of its batches is the
caller's to bound.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline import vad
from pipeline.timeline import Interval
from pipeline.transcript import Word

MIN_SILENCE = 2.0
"""Seconds of silence that separate two chunks."""
PAD = 0.4
"""Seconds of sound kept before and after each chunk of speech."""
THRESHOLD = 0.5
_PARTING_PAUSE = 0.3
"""Seconds of pause between two sentences, where a long chunk is best cut."""

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SpeechChunks:
    """Chunks of speech as sample ranges ``[starts[i], ends[i])`` of the original audio."""

    starts: IntArray
    ends: IntArray
    rate: int = vad.RATE

    @functools.cached_property
    def joined_starts(self) -> IntArray:
        """Where each chunk starts in the joined audio, in samples."""
        lengths = self.ends - self.starts
        return np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)

    def __len__(self) -> int:
        return int(self.starts.size)

    def within(self, first: int, last: int) -> SpeechChunks:
        """The chunks cut to samples ``[first, last)``, counted from ``first``."""
        starts = np.clip(self.starts, first, last) - first
        ends = np.clip(self.ends, first, last) - first
        keep = ends > starts
        return SpeechChunks(starts=starts[keep], ends=ends[keep], rate=self.rate)

    def join(self, samples: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The chunks of ``samples``, end to end."""
        if not len(self):
            return samples[:0]
        return np.concatenate([samples[a:b] for a, b in zip(self.starts, self.ends, strict=True)])

    def chunk_at(self, t: float) -> int:
        """The chunk that the joined audio's second ``t`` falls in (the last one past the end)."""
        sample = t * self.rate
        index = int(np.searchsorted(self.joined_starts, sample, side="right")) - 1
        return min(max(index, 0), len(self) - 1)

    def original(self, t: float, chunk: int | None = None) -> float:
        """The original time of the joined audio's second ``t``, within ``chunk`` if given."""
        if not len(self):
            return t
        index = self.chunk_at(t) if chunk is None else chunk
        shift = int(self.starts[index]) - int(self.joined_starts[index])
        return (t * self.rate + shift) / self.rate

    def joined(self, t: float) -> int:
        """The joined audio's sample for the original second ``t``; a time in a removed
        silence goes to where the next chunk starts."""
        sample = round(t * self.rate)
        index = int(np.searchsorted(self.ends, sample, side="right"))
        if index >= len(self):
            return int(self.joined_starts[-1] + self.ends[-1] - self.starts[-1]) if len(self) else 0
        return int(self.joined_starts[index] + max(0, sample - int(self.starts[index])))

    def restore_words(self, words: Sequence[Word]) -> list[Word]:
        """``words`` (times in the joined audio) on the original timeline."""
        restored = []
        for word in words:
            chunk = self.chunk_at((word.start + word.end) / 2)
            start, end = self.original(word.start, chunk), self.original(word.end, chunk)
            restored.append(
                word.model_copy(update={"start": round(start, 3), "end": round(end, 3)})
            )
        return restored


def speech_chunks(probabilities: npt.NDArray[np.floating[Any]], samples: int) -> SpeechChunks:
    """The chunks of speech in ``samples`` samples of audio, from the voice-activity model's
    probability for each of its windows."""
    # faster-whisper ends a chunk once the silence has lasted MIN_SILENCE past its first
    # quiet window, which speech_spans counts two windows sooner.
    silence = MIN_SILENCE + 2 * vad.WINDOW_SECONDS
    spans = list(
        vad.speech_spans(probabilities, threshold=THRESHOLD, min_speech=0.0, min_silence=silence)
    )
    # Speech whose silence the audio's end cut short lasts until that end (speech_spans
    # counts windows the same way).
    gap = max(round(silence / vad.WINDOW_SECONDS), 1)
    if spans and probabilities.size - round(spans[-1].end / vad.WINDOW_SECONDS) < gap:
        spans[-1] = Interval(spans[-1].start, samples / vad.RATE)
    window = vad.WINDOW
    starts = [round(span.start / vad.WINDOW_SECONDS) * window for span in spans]
    ends = [min(round(span.end / vad.WINDOW_SECONDS) * window, samples) for span in spans]
    pad = round(PAD * vad.RATE)
    for i in range(len(starts)):
        if i == 0:
            starts[i] = max(0, starts[i] - pad)
        if i + 1 < len(starts):
            gap = starts[i + 1] - ends[i]
            reach = gap // 2 if gap < 2 * pad else pad
            ends[i] += reach
            starts[i + 1] = max(0, starts[i + 1] - reach)
        else:
            ends[i] = min(samples, ends[i] + pad)
    kept = [(a, b) for a, b in zip(starts, ends, strict=True) if b > a]
    return SpeechChunks(
        starts=np.asarray([a for a, _ in kept], dtype=np.int64),
        ends=np.asarray([b for _, b in kept], dtype=np.int64),
    )


def whisper_windows(
    chunks: SpeechChunks, probabilities: npt.NDArray[np.floating[Any]], limit: int
) -> list[tuple[int, int]]:
    """The joined audio of ``chunks`` cut into windows of at most ``limit`` samples, as
    ``[start, end)`` sample ranges of the joined audio, for Whisper to hear side by side.

    A window closes where one chunk meets the next whenever the next would not fit. A chunk
    longer than ``limit`` is cut where the voice-activity model is least sure of speech
    (``probabilities``, one per :data:`pipeline.vad.WINDOW` of the original audio) in the
    second half of the window, so a cut falls between words, not through one."""
    cuts: list[tuple[int, int]] = []
    start = 0
    for index in range(len(chunks)):
        begin = int(chunks.joined_starts[index])
        end = begin + int(chunks.ends[index] - chunks.starts[index])
        if end - start > limit and begin > start:
            cuts.append((start, begin))
            start = begin
        while end - start > limit:
            cut = _quietest(chunks, index, probabilities, start + limit // 2, start + limit)
            cuts.append((start, cut))
            start = cut
    total = int((chunks.ends - chunks.starts).sum())
    if total > start:
        cuts.append((start, total))
    return cuts


def _quietest(
    chunks: SpeechChunks,
    index: int,
    probabilities: npt.NDArray[np.floating[Any]],
    first: int,
    last: int,
) -> int:
    """The joined sample in ``[first, last)``, inside chunk ``index``, where a window had best
    end: the middle of the last pause there that parts two sentences (or else of the longest
    pause), so both windows keep some silence beside the speech they start or end with;
    without any pause, the middle of the voice-activity window least likely to be speech."""
    shift = int(chunks.starts[index] - chunks.joined_starts[index])
    begin = max(first, int(chunks.joined_starts[index])) + shift
    a, b = begin // vad.WINDOW + 1, (last + shift) // vad.WINDOW
    if b <= a or a >= probabilities.size:
        return last
    b = min(b, probabilities.size)
    quiet = np.concatenate([[False], probabilities[a:b] < THRESHOLD, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    if edges.size:
        starts, ends = edges[::2], edges[1::2]
        # The last pause long enough to part two sentences fills the window the most.
        parting = np.flatnonzero(ends - starts >= round(_PARTING_PAUSE / vad.WINDOW_SECONDS))
        chosen = int(parting[-1]) if parting.size else int(np.argmax(ends - starts))
        frame = a + int(starts[chosen] + ends[chosen]) // 2
    else:
        frame = a + int(np.argmin(probabilities[a:b]))
    return frame * vad.WINDOW + vad.WINDOW // 2 - shift
