"""Listening to the two ends of a recording only: the head until the lecture's first words,
the tail back from the end until its last. :func:`pipeline.silence.analyse_ends` runs both
at once, beside a few samples of the middle that give the lecturer's voice level.

The rules this module keeps:

- The head is decoded from the start, and listening stops as soon as the lecturer's
  first speech is heard whole (or has lasted :data:`_SURE_SPEECH`); what follows it is
  left undecided, not silence. ffmpeg, whose pipe is then closed under it, may exit with
  an error that says nothing about the file: that is no failure.
- The tail is decoded in windows from the end, each twice the last, and the model
  listens to a window in blocks from its end back, stopping at the first block with the
  voice in it, so a long tail of music or chatter costs little.
- Both wait for the voice level of the middle only once they hear a voice; when the
  middle holds none, they find no speech and the whole recording is analysed instead.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pipeline import ffmpeg_cmd, vad
from pipeline.errors import FFMPEG_FAILED, MediaError
from pipeline.listener import (
    ALIGN_FRAMES,
    CHUNK,
    MIN_SILENCE,
    QUIET_PEAK,
    VOICED,
    Heard,
    Listener,
    voice_spans,
)
from pipeline.loudness import FRAME, LevelMeter
from pipeline.timeline import Interval

_SURE_SPEECH = 1.0
"""Seconds of the lecturer's voice after which the head search stops listening."""
_LOOK_BACK = 30.0
"""Seconds of the head search looked at again each time more is decoded."""
_TAIL_BLOCK = 30.0
"""Seconds of a tail window the model listens to at a time, from the end back."""
_TAIL_LEAD = 1.0
"""Seconds before each tail block the model listens to first, to settle."""


def head_speech(
    source: Path, voice: Callable[[], float | None]
) -> tuple[list[Interval], list[Heard], float]:
    """The lecture's speech at the head: decode from the start and stop as soon as the
    first speech of the lecturer's voice is heard whole (or has lasted a while).

    Returns the speech, what was heard, and where the head's verdict ends."""
    listener = Listener()
    heard = listener.heard(final=False)
    found: list[Interval] = []
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            ffmpeg_cmd.pcm_cmd(source),
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            **ffmpeg_cmd.child_options(),
        )
        assert proc.stdout is not None
        # Set when the listening ends before the audio does: ffmpeg, whose pipe is then
        # closed under it, may exit with an error that says nothing about the file.
        stopped = True
        try:
            with proc.stdout:
                while chunk := proc.stdout.read(CHUNK):
                    listener.feed(chunk)
                    heard = listener.heard(final=False)
                    end = heard.offset + heard.seconds
                    # Speech that began earlier would have been found at an earlier look.
                    recent = heard.last(_LOOK_BACK)
                    if not np.any(recent.probs >= VOICED):
                        continue
                    voice_db = voice()
                    if voice_db is None:
                        break
                    found = [
                        iv
                        for iv in voice_spans(recent, voice_db)
                        if iv.end < end - MIN_SILENCE or iv.duration >= _SURE_SPEECH
                    ]
                    if found:
                        break
                else:
                    stopped = False
        finally:
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
        if stopped:
            # What follows the last speech heard whole is left undecided, not silence.
            return found, [heard], found[-1].end if found else heard.offset + heard.seconds
        if code != 0:
            err.seek(0)
            raise MediaError(FFMPEG_FAILED, "decoding audio: " + ffmpeg_cmd.last_line(err.read()))
    heard = listener.heard()
    voice_db = voice()
    spans = list(voice_spans(heard, voice_db)) if voice_db is not None else []
    return spans, [heard], heard.offset + heard.seconds


def tail_speech(
    source: Path, duration: float, voice: Callable[[], float | None], window: float
) -> tuple[list[Interval], list[Heard], float]:
    """The lecture's speech at the tail: windows from the end, each twice the last, until
    one holds the lecturer's voice. The model listens to a window in blocks from its end
    back and stops at the first block with the voice in it, so a long tail of music or
    chatter costs it little.

    Returns the speech, what was heard, and where the tail's verdict starts."""
    heard_all: list[Heard] = []
    end = duration
    length = window
    while end > 0:
        start = max(end - length, 0.0)
        pcm = _decode(source, start, end - start)
        meter = LevelMeter()
        meter.feed(pcm.tobytes())
        db = meter.db()
        heard_all.append(Heard(start, db, np.zeros(0, np.float32), meter.seconds))
        block = round(_TAIL_BLOCK / (FRAME * ALIGN_FRAMES)) * ALIGN_FRAMES * meter.frame_len
        lead = round(_TAIL_LEAD / (FRAME * ALIGN_FRAMES)) * ALIGN_FRAMES * meter.frame_len
        top = pcm.size
        while top > 0:
            bottom = (top - 1) // block * block  # blocks start on frames and windows
            if int(np.abs(pcm[bottom:top].astype(np.int32)).max(initial=0)) >= QUIET_PEAK:
                first = max(bottom - lead, 0)
                probs = vad.speech_probabilities(pcm[first:top])[(bottom - first) // vad.WINDOW :]
                if np.any(probs >= VOICED):
                    voice_db = voice()
                    if voice_db is None:
                        return [], heard_all, start
                    frames = bottom // meter.frame_len
                    heard = Heard(
                        start + frames * FRAME,
                        db[frames : -(-top // meter.frame_len)],
                        probs,
                        (top - bottom) / ffmpeg_cmd.PCM_RATE,
                    )
                    found = list(voice_spans(heard, voice_db))
                    if found:
                        # The speech after the block ends within the window's end.
                        return found, heard_all, heard.offset
            top = bottom
        end, length = start, 2 * length
    return [], heard_all, 0.0


def _decode(source: Path, start: float, duration: float) -> npt.NDArray[np.int16]:
    """``duration`` seconds of the first audio stream from ``start``, as 16 kHz mono."""
    proc = subprocess.run(
        ffmpeg_cmd.pcm_cmd(source, start=start, duration=duration),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
        **ffmpeg_cmd.child_options(),
    )
    if proc.returncode != 0:
        raise MediaError(FFMPEG_FAILED, "decoding audio: " + ffmpeg_cmd.last_line(proc.stderr))
    data = proc.stdout
    return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
