"""Listening to decoded audio: what a stretch of a recording holds, and where the lecturer's
voice is in it.

ffmpeg decodes the first audio stream to 16 kHz mono s16le through a pipe (every input
opened through :func:`pipeline.ffmpeg_cmd.media_input`), and a :class:`Listener` keeps of
it the loudness of each 20 ms frame, the speech probability of each 32 ms window from the
voice-activity model (:mod:`pipeline.vad`) and, if asked, the spectral flatness of each
frame: never more than a frame of the samples.

The rules this module keeps:

- Stretches too quiet to hold a voice (:data:`QUIET_PEAK`) are not given to the model,
  which costs time only where there is sound; the model starts afresh after one.
- A recording decoded in parts at once (:func:`listen_split`) gives the levels of one
  pass, frame for frame: each part after the first starts decoding a little early and
  drops that lead, and the parts meet where loudness frames and model windows both begin.
- The lecturer's level is a high percentile of the frames in which the model hears a
  voice; a voice whose loud frames stay :data:`CHATTER_DB` below it is people talking in
  the room, not the lecture (:func:`voice_spans`).
- A decoder that fails is ``ffmpeg_failed``, with its last line of complaint.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline import ffmpeg_cmd, vad
from pipeline.errors import FFMPEG_FAILED, MediaError
from pipeline.loudness import FRAME, DbArray, LevelMeter
from pipeline.timeline import Interval

CHATTER_DB = 15.0
"""A voice whose loud frames stay this far below the lecturer's is not the lecture."""
VOICED = 0.5
"""Speech probability from which a window counts as voiced."""
_MIN_SPEECH = 0.15
"""Voiced runs shorter than this (a note of music, a click) are not speech."""
MIN_SILENCE = 0.3
"""A voice must stop this long before a speech span ends."""
CHUNK = 1 << 17
"""Bytes of PCM read at a time (4 s): the head search (:mod:`pipeline.speech_ends`) looks
again after each."""
QUIET_PEAK = 18
"""A stretch of model windows whose peak stays below this (-65 dBFS in 16-bit samples)
holds no voice."""
ALIGN_FRAMES = 8
"""Loudness frames (20 ms) in the shortest stretch that is also whole VAD windows (32 ms)."""


@dataclass(frozen=True)
class Heard:
    """What one decoded stretch of a recording holds, from ``offset`` seconds on."""

    offset: float
    db: DbArray
    """Loudness of every :data:`FRAME`, in dBFS."""
    probs: npt.NDArray[np.float32]
    """Speech probability of every :data:`pipeline.vad.WINDOW_SECONDS` window (empty when
    the model was not asked)."""
    seconds: float
    flatness: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    """Spectral flatness of every :data:`FRAME` between 150 Hz and 4 kHz (empty when not
    asked): near 0 for tones and chords, about 0.5 for hiss, 1 for digital silence."""

    def last(self, seconds: float) -> Heard:
        """The last ``seconds`` (or a little more) of this stretch, starting where a
        loudness frame and a model window both start."""
        frames = max(self.db.size - round(seconds / FRAME), 0) // ALIGN_FRAMES * ALIGN_FRAMES
        if frames == 0:
            return self
        return Heard(
            self.offset + frames * FRAME,
            self.db[frames:],
            self.probs[_windows(frames) :],
            self.seconds - frames * FRAME,
            self.flatness[frames:],
        )

    def voiced_db(self) -> DbArray:
        """Levels of the frames in which the model hears a voice."""
        if self.probs.size == 0 or self.db.size == 0:
            return np.zeros(0)
        centres = (np.arange(self.db.size) + 0.5) * FRAME
        windows = np.minimum((centres / vad.WINDOW_SECONDS).astype(np.intp), self.probs.size - 1)
        return self.db[self.probs[windows] >= VOICED]


class Listener:
    """Accumulates s16le mono bytes into frame levels, speech probabilities and (if asked)
    spectral flatness, keeping no more than a frame of the samples."""

    def __init__(self, *, voice: bool = True, tones: bool = False) -> None:
        self.meter = LevelMeter()
        self._detector = vad.SpeechDetector() if voice else None
        self._probs: list[npt.NDArray[np.float32]] = []
        self._tones = tones
        self._flatness: list[npt.NDArray[np.float32]] = []
        self._samples = np.zeros(0, dtype=np.float32)
        self._window_part = np.zeros(0, dtype=np.int16)
        self._odd = b""

    def feed(self, data: bytes) -> None:
        self.meter.feed(data)
        if self._detector is None and not self._tones:
            return
        data = self._odd + data
        even = len(data) - len(data) % 2
        self._odd = data[even:]
        pcm = np.frombuffer(data[:even], dtype="<i2")
        if self._detector is not None:
            self._listen(pcm)
        if self._tones:
            samples = np.concatenate((self._samples, pcm.astype(np.float32) / 32768.0))
            whole = samples.size - samples.size % self.meter.frame_len
            self._samples = samples[whole:]
            if whole:
                self._flatness.append(_flatness(samples[:whole].reshape(-1, self.meter.frame_len)))

    def _listen(self, pcm: npt.NDArray[np.int16]) -> None:
        """Whole model windows go to the model, except a run of them too quiet to hold
        a voice: it costs nothing, and the model starts afresh after it."""
        assert self._detector is not None
        samples = np.concatenate((self._window_part, pcm)) if self._window_part.size else pcm
        whole = samples.size - samples.size % vad.WINDOW
        self._window_part = samples[whole:].copy()
        if whole == 0:
            return
        windows = samples[:whole]
        if int(np.abs(windows.astype(np.int32)).max()) < QUIET_PEAK:
            self._probs.append(np.zeros(whole // vad.WINDOW, dtype=np.float32))
            self._detector = vad.SpeechDetector()
        else:
            self._probs.append(self._detector.feed(windows))

    def heard(self, offset: float = 0.0, *, final: bool = True) -> Heard:
        """All that was heard; ``final=False`` looks without ending the stream (the
        partial last model window is left out)."""
        probs = np.zeros(0, dtype=np.float32)
        if self._detector is not None:
            last: list[npt.NDArray[np.float32]] = []
            if final and self._window_part.size:
                last = [self._detector.feed(self._window_part), self._detector.finish()]
                self._window_part = self._window_part[:0]
            probs = np.concatenate([probs, *self._probs, *last])
        flatness = np.zeros(0, dtype=np.float32)
        if self._tones:
            parts = self._flatness
            if self._samples.size:
                last = np.zeros((1, self.meter.frame_len), dtype=np.float32)
                last[0, : self._samples.size] = self._samples
                parts = [*parts, _flatness(last)]
            flatness = np.concatenate(parts) if parts else flatness
        return Heard(offset, self.meter.db(), probs, self.meter.seconds, flatness)


def _flatness(frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Spectral flatness (geometric over arithmetic mean of the power) of each frame, in
    the band where music and voices have their tones and room noise is broad."""
    n = frames.shape[1]
    window = np.hanning(n).astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    lo, hi = round(150 * n / ffmpeg_cmd.PCM_RATE), round(4000 * n / ffmpeg_cmd.PCM_RATE)
    band = power[:, lo : hi + 1] + 1e-10
    flat = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    return flat.astype(np.float32)


def listen(
    source: Path,
    *,
    start: float | None = None,
    duration: float | None = None,
    voice: bool = True,
    tones: bool = False,
) -> Heard:
    """Decode the first audio stream of ``source`` (or ``duration`` seconds of it from
    ``start``) and measure it; with ``voice`` the voice-activity model listens too, with
    ``tones`` the spectral flatness of each frame is kept."""
    cmd = ffmpeg_cmd.pcm_cmd(source, start=start, duration=duration)
    return listen_cmd(cmd, start or 0.0, voice=voice, tones=tones)


def listen_split(
    source: Path,
    duration: float,
    *,
    parts: int = 2,
    lead: float = 1.0,
    shortest: float = 60.0,
    voice: bool = True,
    tones: bool = False,
) -> Heard:
    """:func:`listen` to the whole first audio stream, decoded in ``parts`` stretches at
    once (one per core) and joined.

    Each stretch after the first starts decoding about ``lead`` seconds early and drops
    that lead, so nothing is measured right after a seek (an AAC decoder needs one packet
    to settle, the voice-activity model a few windows). Stretches meet where loudness
    frames and model windows both begin, so the joined levels are frame for frame those
    of one pass, give or take a sample. A recording with less than ``shortest`` seconds
    per stretch is decoded in one pass.
    """
    frames = int(duration / FRAME)
    if parts < 2 or frames < parts * round(shortest / FRAME):
        return listen(source, voice=voice, tones=tones)
    step = ALIGN_FRAMES
    cuts = [round(frames * k / parts / step) * step for k in range(parts)]
    lead_frames = max(round(lead / FRAME / step), 1) * step
    spans: list[tuple[float | None, float | None, int]] = []
    for k, first in enumerate(cuts):
        skip = min(lead_frames, first)
        start = (first - skip) * FRAME if first else None
        length = (cuts[k + 1] - first + skip) * FRAME if k + 1 < parts else None
        spans.append((start, length, skip))
    with ThreadPoolExecutor(max_workers=parts) as pool:
        jobs = [
            pool.submit(listen, source, start=a, duration=n, voice=voice, tones=tones)
            for a, n, _ in spans
        ]
        decoded = [job.result() for job in jobs]
    levels: list[DbArray] = []
    probs: list[npt.NDArray[np.float32]] = []
    flatness: list[npt.NDArray[np.float32]] = []
    for k, (heard, (_, _, skip)) in enumerate(zip(decoded, spans, strict=True)):
        db, p, flat = heard.db[skip:], heard.probs[_windows(skip) :], heard.flatness[skip:]
        if k + 1 < parts:
            # A sample more or less at the end of a stretch makes a partial last frame.
            want = cuts[k + 1] - cuts[k]
            db, flat = _fit(db, want), _fit(flat, want if tones else 0)
            p = _fit(p, _windows(want) if voice else 0)
        levels.append(db)
        probs.append(p)
        flatness.append(flat)
    tail_seconds = decoded[-1].seconds - spans[-1][2] * FRAME
    return Heard(
        0.0,
        np.concatenate(levels),
        np.concatenate(probs).astype(np.float32),
        cuts[-1] * FRAME + tail_seconds,
        np.concatenate(flatness).astype(np.float32),
    )


def _fit(values: npt.NDArray[Any], size: int) -> npt.NDArray[Any]:
    """``values`` cut or padded (repeating the last) to ``size``."""
    if values.size >= size:
        return values[:size]
    if values.size == 0:
        return np.zeros(size, dtype=values.dtype)
    return np.pad(values, (0, size - values.size), mode="edge")


def listen_cmd(cmd: list[str], offset: float, *, voice: bool, tones: bool = False) -> Heard:
    listener = Listener(voice=voice, tones=tones)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            **ffmpeg_cmd.child_options(),
        )
        assert proc.stdout is not None
        with proc.stdout:
            while chunk := proc.stdout.read(CHUNK):
                listener.feed(chunk)
        if proc.wait() != 0:
            err.seek(0)
            raise MediaError(FFMPEG_FAILED, "decoding audio: " + ffmpeg_cmd.last_line(err.read()))
    return listener.heard(offset)


def _windows(frames: int) -> int:
    """Model windows in ``frames`` loudness frames (a multiple of :data:`ALIGN_FRAMES`)."""
    return round(frames * FRAME / vad.WINDOW_SECONDS)


def voice_level(heard: Sequence[Heard]) -> float | None:
    """The lecturer's level: a high percentile of the frames in which the model hears a
    voice (the lecturer is nearest the microphone); None when it hears none."""
    voiced = np.concatenate([h.voiced_db() for h in heard]) if heard else np.zeros(0)
    if voiced.size < round(_MIN_SPEECH / FRAME):
        return None
    return float(np.percentile(voiced, 90.0))


def voice_spans(heard: Heard, voice_db: float) -> tuple[Interval, ...]:
    """The lecture's speech in one stretch: what the model hears, less voices that stay
    :data:`CHATTER_DB` below ``voice_db``, on the recording's timeline."""
    spans = vad.speech_spans(
        heard.probs, min_speech=_MIN_SPEECH, min_silence=MIN_SILENCE, offset=heard.offset
    )
    end = heard.offset + heard.seconds
    kept: list[Interval] = []
    for iv in spans:
        a = max(int((iv.start - heard.offset) / FRAME), 0)
        b = min(int(np.ceil((iv.end - heard.offset) / FRAME)), heard.db.size)
        if b <= a or float(np.percentile(heard.db[a:b], 90.0)) < voice_db - CHATTER_DB:
            continue
        if iv.start < end:
            kept.append(Interval(iv.start, min(iv.end, end)))
    return tuple(kept)
