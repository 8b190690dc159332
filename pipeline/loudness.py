"""The loudness of a recording, frame by frame, and the levels fitted to it.

The rules this module keeps:

- :class:`LevelMeter` keeps one power per :data:`FRAME` (20 ms) of s16le mono, never the
  samples.
- Loudness gives the levels (noise floor, speech level, a threshold fitted to the
  recording); digital silence is left out, so a file that is silent-then-noisy is not
  misread. A recording with nothing loud enough to be speech is ``silent``; one with a
  single constant level keeps everything but digital silence.
- Loudness decides where speech is only where the voice-activity model hears no voice at
  all (see :mod:`pipeline.silence`): a span grows while the level stays near the
  threshold (onsets and decays of words), short gaps are closed and isolated clicks
  dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline import ffmpeg_cmd
from pipeline.errors import SILENT, MediaError
from pipeline.timeline import Interval

FRAME = 0.02
"""Seconds per loudness frame."""

FLOOR_DB = -100.0
"""Level given to digital silence."""

_DIGITAL_SILENCE_DB = -90.0
_SILENT_BELOW_DB = -60.0
"""A recording whose loud moments are quieter than this has nobody speaking in it."""
_MIN_CONTRAST_DB = 6.0
_SHARE = 0.3
"""Where between noise floor and speech level the threshold sits."""
_HYSTERESIS_DB = 6.0

DbArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Levels:
    """What the analysis found in the recording, in dBFS."""

    noise_db: float
    speech_db: float
    threshold_db: float


class LevelMeter:
    """Accumulates s16le mono bytes into per-frame loudness without keeping the samples."""

    def __init__(self, rate: int = ffmpeg_cmd.PCM_RATE, frame: float = FRAME) -> None:
        self.rate = rate
        self.frame_len = round(rate * frame)
        self._pending = b""
        self._powers: list[npt.NDArray[np.float64]] = []
        self.samples = 0

    def feed(self, data: bytes) -> None:
        data = self._pending + data
        usable = len(data) - len(data) % (2 * self.frame_len)
        self._pending = data[usable:]
        if usable:
            pcm = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32)
            frames = pcm.reshape(-1, self.frame_len)
            self._powers.append(np.einsum("ij,ij->i", frames, frames) / self.frame_len)
            self.samples += pcm.size

    def db(self) -> DbArray:
        """Loudness of every frame in dBFS, the last partial frame included."""
        powers = list(self._powers)
        if len(self._pending) >= 2:
            tail = np.frombuffer(self._pending[: len(self._pending) // 2 * 2], dtype="<i2")
            tail = tail.astype(np.float32)
            powers.append(np.array([float(np.dot(tail, tail)) / tail.size]))
        if not powers:
            return np.zeros(0)
        power = np.concatenate(powers).astype(np.float64) / (32768.0 * 32768.0)
        return np.maximum(10.0 * np.log10(np.maximum(power, 1e-12)), FLOOR_DB)

    @property
    def seconds(self) -> float:
        return (self.samples + len(self._pending) // 2) / self.rate


def estimate_levels(db: DbArray) -> Levels:
    """Fit noise floor, speech level and threshold to one recording's frame levels.

    Raises ``MediaError("silent")`` when nothing in the recording is loud enough to be
    speech. When speech and noise cannot be told apart (one constant level), the
    threshold sits just below that level, so nothing but digital silence is cut.
    """
    sound = db[db > _DIGITAL_SILENCE_DB]
    if sound.size < round(0.5 / FRAME):
        raise MediaError(SILENT, "the audio track is silent")
    noise, speech = (float(v) for v in np.percentile(sound, [10.0, 95.0]))
    if speech < _SILENT_BELOW_DB:
        raise MediaError(SILENT, f"the loudest sound is {speech:.0f} dBFS")
    if speech - noise < _MIN_CONTRAST_DB:
        return Levels(noise, speech, noise - _MIN_CONTRAST_DB)
    threshold = noise + max(_SHARE * (speech - noise), 3.0)
    return Levels(noise, speech, threshold)


def find_speech(
    db: DbArray, levels: Levels, *, bridge: float = 0.3, shortest: float = 0.06
) -> tuple[Interval, ...]:
    """Spans where the level passes the threshold.

    A span grows while the level stays within a few dB below the threshold (onsets and
    decays of words), gaps shorter than ``bridge`` are closed, and isolated spans shorter
    than ``shortest`` (clicks) are dropped.
    """
    if db.size == 0:
        return ()
    loud = db > levels.threshold_db
    # Never let the lower threshold reach into the noise floor itself.
    margin = min(_HYSTERESIS_DB, 0.5 * (levels.threshold_db - levels.noise_db))
    near = db > levels.threshold_db - max(margin, 0.0)
    starts, ends = _runs(near)
    loud_before = np.concatenate(([0], np.cumsum(loud)))
    has_loud = loud_before[ends] - loud_before[starts] > 0
    starts, ends = starts[has_loud], ends[has_loud]
    if starts.size == 0:
        return ()
    gap_frames = round(bridge / FRAME)
    keep_start = np.concatenate(([True], starts[1:] - ends[:-1] > gap_frames))
    keep_end = np.concatenate((keep_start[1:], [True]))
    starts, ends = starts[keep_start], ends[keep_end]
    long_enough = ends - starts >= max(round(shortest / FRAME), 1)
    return tuple(
        Interval(float(s) * FRAME, float(e) * FRAME)
        for s, e in zip(starts[long_enough], ends[long_enough], strict=True)
    )


def spans_of(mask: npt.NDArray[np.bool_], *, bridge: float) -> list[Interval]:
    """Runs of True frames as spans, gaps shorter than ``bridge`` closed."""
    starts, ends = _runs(mask)
    if starts.size == 0:
        return []
    gap = round(bridge / FRAME)
    join = starts[1:] - ends[:-1] <= gap
    starts = starts[np.concatenate(([True], ~join))]
    ends = ends[np.concatenate((~join, [True]))]
    return [
        Interval(a * FRAME, b * FRAME) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


def _runs(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Start and end (exclusive) frame indexes of each run of True."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
