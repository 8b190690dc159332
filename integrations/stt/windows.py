"""Which language each stretch of a piece is in: speech from the voice-activity model's
probabilities, grouped into windows whose language the model names at once, and the piece
cut into runs of one language (see :mod:`integrations.stt.local`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.vad import RATE

FloatArray = npt.NDArray[np.float32]

WINDOW_SECONDS = 20.0
"""Longest stretch whose language is named at once."""
_WINDOW_SPLIT_PAUSE = 0.8
_WINDOW_MIN_SPEECH = 6.0
"""A window closes at a pause once it holds this much speech."""
VAD_HOP = 512
VAD_SPEECH = 0.5
_VAD_MERGE_GAP = 0.3


@dataclass
class Window:
    """A stretch of speech whose language is named at once."""

    start: float
    end: float
    speech: float
    language: str | None = None
    probability: float = 0.0


def speech_spans(probabilities: FloatArray) -> list[tuple[float, float]]:
    """Stretches the voice-activity model calls speech, short gaps bridged, in seconds."""
    hop = VAD_HOP / RATE
    voiced = np.concatenate([[False], probabilities >= VAD_SPEECH, [False]])
    edges = np.flatnonzero(np.diff(voiced.astype(np.int8)))
    spans: list[tuple[float, float]] = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        start, end = float(a) * hop, float(b) * hop
        if spans and start - spans[-1][1] < _VAD_MERGE_GAP:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def language_windows(spans: list[tuple[float, float]]) -> list[Window]:
    """Speech grouped into windows of at most :data:`WINDOW_SECONDS`, closed at a pause
    once they hold enough speech to name a language."""
    pieces: list[tuple[float, float]] = []
    for start, end in spans:
        while end - start > WINDOW_SECONDS:
            pieces.append((start, start + WINDOW_SECONDS))
            start += WINDOW_SECONDS
        pieces.append((start, end))
    windows: list[Window] = []
    for start, end in pieces:
        current = windows[-1] if windows else None
        if current is not None and (
            end - current.start <= WINDOW_SECONDS
            and not (
                start - current.end >= _WINDOW_SPLIT_PAUSE and current.speech >= _WINDOW_MIN_SPEECH
            )
        ):
            current.end = end
            current.speech += end - start
        else:
            windows.append(Window(start, end, end - start))
    return windows


def heard_seconds(windows: list[Window]) -> dict[str, float]:
    """Seconds of speech per language the model named with some confidence."""
    heard: dict[str, float] = {}
    for window in windows:
        if window.language is not None and window.probability >= 0.5:
            heard[window.language] = heard.get(window.language, 0.0) + window.speech
    return heard


def language_runs(windows: list[Window], length: float) -> list[tuple[float, float, str]]:
    """The piece cut where the language changes, in the middle of the pause between."""
    runs: list[tuple[float, float, str]] = []
    for before, after in itertools.pairwise(windows):
        if before.language != after.language:
            cut = (before.end + after.start) / 2
            runs.append((runs[-1][1] if runs else 0.0, cut, str(before.language)))
    runs.append((runs[-1][1] if runs else 0.0, length, str(windows[-1].language)))
    return runs
