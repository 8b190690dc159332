"""Where the lecture is spoken, and what of a recording to keep: the analyses that the trim
stage and speech recognition call.

Only audio is decoded (16 kHz mono, streamed through a pipe) by :mod:`pipeline.listener`,
which keeps of it the loudness of each 20 ms frame (:mod:`pipeline.loudness`), the speech
probability of each 32 ms window from the voice-activity model (:mod:`pipeline.vad`) and,
for pause removal, the spectral flatness of each frame; so an hour of audio costs a few
megabytes of memory, never the samples. The two ends of a recording are listened to by
:mod:`pipeline.speech_ends`.

The rules this module keeps:

- Speech is what the voice-activity model hears, not what is loud: music, jingles,
  noise and hum before and after a lecture are not speech however loud they are.
- A voice much quieter than the lecturer's (:data:`pipeline.listener.CHATTER_DB` below the
  level of the voiced frames) is people talking in the room, not the lecture, and is not
  speech.
- Where the model hears no voice at all in what was decoded (a whistled tune, a
  recording it cannot read), loudness decides, as it did before there was a model, so
  nothing spoken is ever cut for want of a voice.
- Inside the lecture, sustained sound that is not speech (:data:`MIN_SOUND` seconds or
  more) is no pause: sound loud for this recording, or tones (low spectral flatness, as
  in music; room noise is broad) not far below the voice. So pause removal never cuts
  music with a voice over it into pieces, even when the music plays throughout and
  sets the noise floor.
- Stretches that were not decoded are reported as speech (``complete`` is False), so no
  silence is ever invented. Cutting the head and tail decodes only what it needs: the
  head until the first words, the tail back from the end until the last, and a few
  samples of the middle for the lecturer's voice level (:func:`analyse_ends`).
- The keep-list (:func:`keep_intervals`) runs from the first word less a pad to the last
  word plus a pad; pause removal shortens only the silences longer than its minimum.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import ffmpeg_cmd
from pipeline.errors import SILENT, MediaError
from pipeline.listener import (
    MIN_SILENCE,
    Heard,
    listen,
    listen_cmd,
    listen_split,
    voice_level,
    voice_spans,
)
from pipeline.loudness import DbArray, Levels, estimate_levels, find_speech, spans_of
from pipeline.speech_ends import head_speech, tail_speech
from pipeline.timeline import Interval, Timeline

MIN_SOUND = 1.0
"""Seconds of continuous non-speech sound inside the lecture that pause removal keeps."""
_TONAL = 0.08
"""Spectral flatness below which a frame holds tones (music, a voice), not noise."""
_MUSIC_BELOW_VOICE_DB = 30.0
"""Tones further than this below the voice (mains hum) are no music."""


@dataclass(frozen=True)
class SpeechAnalysis:
    """Spoken spans of a recording on its own (source) timeline."""

    duration: float
    speech: tuple[Interval, ...]
    levels: Levels
    complete: bool = True
    """False when only parts were decoded: stretches that were not looked at are then
    included in ``speech`` (they may hold speech), so no silence is ever invented."""
    sound: tuple[Interval, ...] = ()
    """Sustained sound that is not speech (music, a demonstration), where it was looked for
    (a complete analysis): pause removal keeps it inside the lecture."""
    method: str = "voice"
    """"voice" (the voice-activity model decided) or "loudness" (it heard no voice)."""

    @property
    def voiced_seconds(self) -> float:
        return sum(iv.duration for iv in self.speech)


def measure(
    source: Path,
    *,
    start: float | None = None,
    duration: float | None = None,
    extra_outputs: Sequence[str] = (),
) -> tuple[DbArray, float]:
    """Decode the first audio stream of ``source`` and return (frame levels, seconds decoded).

    ``extra_outputs`` are further ffmpeg outputs written in the same pass over the file.
    """
    cmd = ffmpeg_cmd.pcm_cmd(source, start=start, duration=duration, extra_outputs=extra_outputs)
    heard = listen_cmd(cmd, start or 0.0, voice=False)
    return heard.db, heard.seconds


def measure_split(
    source: Path,
    duration: float,
    *,
    parts: int = 2,
    lead: float = 1.0,
    shortest: float = 60.0,
) -> tuple[DbArray, float]:
    """:func:`measure` of the whole first audio stream, in ``parts`` stretches at once
    (see :func:`listen_split`)."""
    heard = listen_split(source, duration, parts=parts, lead=lead, shortest=shortest, voice=False)
    return heard.db, heard.seconds


def _speech_in(heard: Heard, voice_db: float | None, levels: Levels) -> tuple[Interval, ...]:
    """Speech spans of one stretch: by voice when there is a voice, else by loudness."""
    if voice_db is not None:
        return voice_spans(heard, voice_db)
    end = heard.offset + heard.seconds
    return tuple(
        Interval(iv.start, min(iv.end, end))
        for iv in _shifted(find_speech(heard.db, levels), heard.offset)
        if iv.start < end
    )


def analyse_heard(heard: Heard) -> SpeechAnalysis:
    """Speech spans of a whole recording, and the sustained sound between them."""
    levels = estimate_levels(heard.db)
    voice_db = voice_level([heard])
    speech = _speech_in(heard, voice_db, levels)
    if not speech:
        raise MediaError(SILENT, "no speech found")
    sound: tuple[Interval, ...] = ()
    if voice_db is not None:
        # Loud for this recording, or tonal and not far below the voice (music under a
        # voice is often quieter than the voice and, playing throughout, sets the floor).
        loud = find_speech(heard.db, levels, bridge=MIN_SILENCE)
        tonal = spans_of(
            (heard.flatness < _TONAL)
            & (heard.db[: heard.flatness.size] >= voice_db - _MUSIC_BELOW_VOICE_DB),
            bridge=MIN_SILENCE,
        )
        others = Timeline.of(speech).removed(heard.seconds)
        sound = Timeline.of(
            Interval(a, b)
            for iv in (*loud, *tonal)
            for gap in others
            if (b := min(iv.end, gap.end)) - (a := max(iv.start, gap.start)) >= MIN_SOUND
        ).keep
    return SpeechAnalysis(
        duration=heard.seconds,
        speech=speech,
        levels=levels,
        sound=sound,
        method="voice" if voice_db is not None else "loudness",
    )


def analyse_levels(db: DbArray, duration: float) -> SpeechAnalysis:
    """Speech spans of a recording from its frame levels alone (loudness, no voice)."""
    levels = estimate_levels(db)
    speech = tuple(Interval(iv.start, min(iv.end, duration)) for iv in find_speech(db, levels))
    speech = tuple(iv for iv in speech if iv.duration > 0)
    if not speech:
        raise MediaError(SILENT, "no speech found")
    return SpeechAnalysis(duration=duration, speech=speech, levels=levels, method="loudness")


def analyse(source: Path, *, tones: bool = True) -> SpeechAnalysis:
    """Decode and analyse the first audio stream of ``source`` in one pass; without
    ``tones`` no ``sound`` is looked for (cutting the head and tail needs none)."""
    return analyse_heard(listen(source, tones=tones))


def analyse_split(source: Path, duration: float, *, parts: int = 2) -> SpeechAnalysis:
    """:func:`analyse` with the decoding and listening spread over ``parts`` cores."""
    return analyse_heard(listen_split(source, duration, parts=parts, tones=True))


def analyse_ends(
    source: Path,
    duration: float,
    *,
    window: float = 120.0,
    samples: int = 4,
    sample_seconds: float = 8.0,
) -> SpeechAnalysis:
    """Find the first and the last speech without decoding the whole recording.

    For cutting the head and tail only the two ends matter. A few short samples spread
    through the middle give the lecturer's voice level (and the noise's); then, at once,
    the head is listened to from the start until the lecture's first speech, and the tail
    in windows from the end (``window`` seconds, then twice as much each time) until its
    last. The middle that was not decoded is reported as one span of ``speech`` (it may
    hold speech) and ``complete`` is False. Recordings shorter than a few windows, and
    recordings whose samples hold no voice, are analysed whole.
    """
    if duration <= 3 * window:
        return analyse(source, tones=False)
    step = (duration - 2 * window) / samples
    middle = [(window + (k + 0.5) * step, sample_seconds) for k in range(samples)]
    # The samples, the head and the tail at once; the ends wait for the voice level from
    # the samples only when they first hear a voice.
    with ThreadPoolExecutor(max_workers=3) as pool:
        sample_job = pool.submit(
            listen_cmd, ffmpeg_cmd.pcm_spans_cmd(source, middle), window, voice=True
        )

        def voice() -> float | None:
            return voice_level([sample_job.result()])

        head_job = pool.submit(head_speech, source, voice)
        tail_job = pool.submit(tail_speech, source, duration, voice, window)
        sampled = sample_job.result()
        head, head_heard, head_end = head_job.result()
        tail, tail_heard, tail_start = tail_job.result()
    if voice() is None:
        return analyse(source, tones=False)
    levels = estimate_levels(np.concatenate([sampled.db, *(h.db for h in head_heard + tail_heard)]))
    if not head or not tail:
        return analyse(source, tones=False)  # the samples heard a voice the ends did not reach
    unknown = [Interval(head_end, tail_start)] if tail_start > head_end else []
    speech = Timeline.of([*head, *unknown, *tail]).keep
    return SpeechAnalysis(duration=duration, speech=speech, levels=levels, complete=not unknown)


def _shifted(spans: Sequence[Interval], offset: float) -> list[Interval]:
    return [Interval(iv.start + offset, iv.end + offset) for iv in spans]


def keep_intervals(
    speech: Sequence[Interval],
    duration: float,
    *,
    pad: float = 1.0,
    remove_pauses: bool = False,
    pause_min: float = 3.0,
    pause_keep: float = 1.0,
    sound: Sequence[Interval] = (),
) -> Timeline:
    """The keep-list for a recording with the given speech spans.

    Always from the first word minus ``pad`` to the last word plus ``pad``. With
    ``remove_pauses``, every silence between words longer than ``pause_min`` is
    shortened to ``pause_keep`` (half of it kept after the last word, half before the
    next one); ``sound`` between the first and the last word (music under a voice) is
    no silence.
    """
    if not speech:
        raise MediaError(SILENT, "no speech found")
    if pause_keep < 0 or pause_min < pause_keep:
        raise ValueError("need 0 <= pause_keep <= pause_min")
    start = max(0.0, speech[0].start - pad)
    end = min(duration, speech[-1].end + pad)
    if not remove_pauses:
        return Timeline.of([Interval(start, end)])
    first, last = speech[0].start, speech[-1].end
    inner = [
        Interval(max(iv.start, first), min(iv.end, last))
        for iv in sound
        if iv.end > first and iv.start < last
    ]
    heard = Timeline.of([*speech, *inner]).keep
    keep: list[Interval] = []
    pos = start
    half = pause_keep / 2
    for prev, nxt in itertools.pairwise(heard):
        if nxt.start - prev.end > pause_min:
            keep.append(Interval(pos, prev.end + half))
            pos = nxt.start - half
    keep.append(Interval(pos, end))
    return Timeline.of(keep)
