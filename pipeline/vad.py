"""Where a voice speaks: Silero VAD over 16 kHz mono PCM, as probabilities and as spans.

Loudness cannot tell a jingle from a lecturer; a voice-activity model can. The model is the
Silero VAD that ships inside faster-whisper's package (``faster_whisper/assets/``), run with
onnxruntime, so it needs no download and no network.

The rules this module keeps:

- The model is loaded once per process, on first use, under a lock; the one session is
  shared by every thread (onnxruntime allows concurrent ``run`` calls). Each call uses
  one core, so two analyses in two threads use two.
- The model reads windows of :data:`WINDOW` samples (32 ms at 16 kHz), each preceded by
  the last :data:`CONTEXT` samples of the window before, and carries a recurrent state
  from one window to the next. :class:`SpeechDetector` keeps that state and the partial
  window between calls, so a recording fed in pieces of any size gets the same
  probabilities as one fed whole, and memory stays a few megabytes however long it is.
- Probability ``k`` describes samples ``k * WINDOW`` to ``(k + 1) * WINDOW``; a partial
  last window is padded with silence.
- :func:`speech_spans` turns probabilities into spans with hysteresis (a span starts at
  ``threshold`` and ends only after ``min_silence`` seconds below ``neg_threshold``),
  then drops spans shorter than ``min_speech``. Pure functions; no I/O but the model file.

The public names (``RATE``, ``WINDOW``, ``WINDOW_SECONDS``, ``SpeechDetector``,
``speech_probabilities``, ``speech_spans``, ``mean_probability``) are a stable interface:
the trim stage and the speech recogniser both use them.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.timeline import Interval

RATE = 16_000
"""Sample rate the model reads (Hz)."""
WINDOW = 512
"""Samples per probability."""
CONTEXT = 64
"""Samples of the previous window the model sees before each window."""
WINDOW_SECONDS = WINDOW / RATE
"""Seconds per probability (0.032)."""
_STATE_SHAPE = (1, 1, 128)
_BATCH = 512
"""Windows per model call (about 16 s of audio): bounds memory (12 MB at the top, where
2,048 windows took 57 MB) at the same speed; the results do not depend on it."""

FloatArray = npt.NDArray[np.float32]

_lock = threading.Lock()
_session: Any = None


def model_path() -> Path:
    """The Silero VAD model inside the installed faster-whisper package (not imported)."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("faster-whisper is not installed, so its VAD model is missing")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "silero_vad_v6.onnx"
    if not path.is_file():
        raise RuntimeError(f"the VAD model is missing: {path}")
    return path


def warm_up() -> None:
    """Load the model now rather than on the first call (once per process)."""
    _model()


def _model() -> Any:
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                import onnxruntime  # a heavy import, only for the processes that need it

                opts = onnxruntime.SessionOptions()
                opts.intra_op_num_threads = 1
                opts.inter_op_num_threads = 1
                opts.log_severity_level = 4
                _session = onnxruntime.InferenceSession(
                    str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
                )
    return _session


def _as_float(pcm: npt.NDArray[Any]) -> FloatArray:
    """Mono samples as float32 in [-1, 1): int16 is scaled, floats are taken as they are."""
    if pcm.ndim != 1:
        raise ValueError("PCM must be one channel (a 1-D array)")
    if pcm.dtype == np.int16:
        return pcm.astype(np.float32) / 32768.0
    if np.issubdtype(pcm.dtype, np.floating):
        return pcm.astype(np.float32, copy=False)
    raise ValueError(f"PCM must be int16 or float, not {pcm.dtype}")


class SpeechDetector:
    """Speech probabilities of a stream of 16 kHz mono PCM, fed in pieces of any size.

    Not for sharing between threads: give each stream its own detector (they share the
    model).
    """

    def __init__(self) -> None:
        self._state = np.zeros((2, *_STATE_SHAPE), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self.windows = 0
        """Probabilities given out so far."""

    def feed(self, pcm: npt.NDArray[Any]) -> FloatArray:
        """Probabilities of every whole window completed by ``pcm`` (possibly none)."""
        data = _as_float(pcm)
        if self._pending.size:
            data = np.concatenate((self._pending, data))
        whole = data.size - data.size % WINDOW
        self._pending = data[whole:].copy()
        if whole == 0:
            return np.zeros(0, dtype=np.float32)
        return self._run(data[:whole].reshape(-1, WINDOW))

    def finish(self) -> FloatArray:
        """The probability of the partial last window (padded with silence), if any."""
        if self._pending.size == 0:
            return np.zeros(0, dtype=np.float32)
        window = np.zeros(WINDOW, dtype=np.float32)
        window[: self._pending.size] = self._pending
        self._pending = np.zeros(0, dtype=np.float32)
        return self._run(window.reshape(1, WINDOW))

    def _run(self, windows: FloatArray) -> FloatArray:
        session = _model()
        out: list[FloatArray] = []
        for first in range(0, len(windows), _BATCH):
            part = windows[first : first + _BATCH]
            before = np.empty((len(part), CONTEXT), dtype=np.float32)
            before[0] = self._context
            before[1:] = part[:-1, -CONTEXT:]
            self._context = part[-1, -CONTEXT:].copy()
            probs, h, c = session.run(
                None,
                {
                    "input": np.concatenate((before, part), axis=1),
                    "h": self._state[0],
                    "c": self._state[1],
                },
            )
            self._state = np.stack((h, c)).astype(np.float32)
            out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
        result = np.concatenate(out)
        self.windows += result.size
        return result


def speech_probabilities(pcm: npt.NDArray[Any], rate: int = RATE) -> FloatArray:
    """The speech probability (0..1) of every :data:`WINDOW`-sample window of ``pcm``.

    ``pcm`` is mono, int16 or float in [-1, 1], at ``rate`` Hz (only 16 kHz is read; decode
    with ffmpeg to that rate). The result has ``ceil(len(pcm) / WINDOW)`` values.
    """
    if rate != RATE:
        raise ValueError(f"the VAD reads {RATE} Hz PCM, not {rate} Hz")
    detector = SpeechDetector()
    head = detector.feed(pcm)
    return np.concatenate((head, detector.finish()))


def speech_spans(
    probs: npt.NDArray[np.floating[Any]],
    *,
    threshold: float = 0.5,
    neg_threshold: float | None = None,
    min_speech: float = 0.25,
    min_silence: float = 0.3,
    offset: float = 0.0,
    window: float = WINDOW_SECONDS,
) -> tuple[Interval, ...]:
    """Spans of speech, in seconds from ``offset``, from per-window probabilities.

    A span starts at the first window at or above ``threshold``; it ends at the first
    window below ``neg_threshold`` (default ``threshold - 0.15``) that is followed by at
    least ``min_silence`` seconds with no window back at ``threshold``. Spans shorter
    than ``min_speech`` seconds (a click, a sung note) are dropped.
    """
    p = np.asarray(probs, dtype=np.float32)
    low = max(threshold - 0.15, 0.01) if neg_threshold is None else neg_threshold
    if not 0.0 <= low <= threshold <= 1.0:
        raise ValueError("need 0 <= neg_threshold <= threshold <= 1")
    gap = max(round(min_silence / window), 1)
    shortest = max(round(min_speech / window), 1)
    spans: list[tuple[int, int]] = []
    start = -1  # first window of the open span, -1 when none is open
    quiet = -1  # first window below neg_threshold since speech was last heard
    for k, value in enumerate(p.tolist()):
        if value >= threshold:
            if start < 0:
                start = k
            quiet = -1
        elif start >= 0:
            if quiet < 0 and value < low:
                quiet = k
            if quiet >= 0 and k + 1 - quiet >= gap:
                spans.append((start, quiet))
                start = quiet = -1
    if start >= 0:
        spans.append((start, quiet if quiet >= 0 else p.size))
    return tuple(
        Interval(offset + a * window, offset + b * window) for a, b in spans if b - a >= shortest
    )


def mean_probability(
    probs: npt.NDArray[np.floating[Any]],
    start: float,
    end: float,
    *,
    offset: float = 0.0,
    window: float = WINDOW_SECONDS,
) -> float:
    """The mean speech probability of the windows that overlap ``[start, end)`` seconds
    (0.0 when none do): how much voice there is behind a stretch of text."""
    first = max(int((start - offset) // window), 0)
    last = min(int(np.ceil((end - offset) / window)), len(probs))
    if last <= first:
        return 0.0
    return float(np.mean(np.asarray(probs[first:last], dtype=np.float64)))


def total_seconds(spans: Sequence[Interval]) -> float:
    """Seconds of speech in ``spans``."""
    return sum(iv.duration for iv in spans)
