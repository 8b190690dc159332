"""The trim stage: find where the lecture is spoken, cut the rest off, write ``video.mp4``.

Audio first: the sound is decoded to 16 kHz mono, and a voice-activity model and a
loudness meter listen to it (see :mod:`pipeline.silence`): for head and tail only the
two ends (music, jingles, noise and chatter before and after go), for pause removal the
whole of it in two halves at once, one per core. The picture is never decoded except for
the partial GOPs at the starts of kept parts (see :mod:`pipeline.cut`); when only head
and tail are cut, the AAC track is copied, not re-encoded.
The source file is only ever read; ``video.mp4`` appears atomically, so a crash leaves
either the previous file or none, never half of one.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline import ffmpeg_cmd, silence
from pipeline.cut import cut, own_muxer_takes
from pipeline.cut_audio import aac_frame
from pipeline.errors import NO_AUDIO, TOO_LONG, MediaError
from pipeline.loudness import Levels
from pipeline.packets import VideoPackets, first_audio_packet_time, read_video_packets
from pipeline.probe import MediaInfo, probe
from pipeline.timeline import Interval, Timeline

VIDEO_NAME = "video.mp4"


@dataclass(frozen=True)
class TrimResult:
    video: Path
    timeline: Timeline
    """The keep-list on the source timeline (cut points on frame boundaries)."""
    source_duration: float
    duration: float
    info: MediaInfo
    """What ``video`` holds."""
    source_info: MediaInfo
    speech: tuple[Interval, ...]
    """Where there is speech, on the source timeline. Without ``remove_pauses`` only the
    two ends are analysed and the middle counts as one span of speech."""
    speech_complete: bool
    levels: Levels
    speech_method: str
    """"voice" (the voice-activity model found the speech) or "loudness" (it heard no voice,
    so loudness decided)."""
    video_method: str
    audio_method: str
    encoded_seconds: float = 0.0
    """Seconds of picture that went through the encoder."""


def trim(
    source: Path,
    out_dir: Path,
    *,
    remove_pauses: bool = False,
    pause_min: float = 3.0,
    pause_keep: float = 1.0,
    max_duration: float | None = None,
    pad: float = 1.0,
) -> TrimResult:
    """Trim ``source`` into ``out_dir/video.mp4``.

    Always cuts the silence before the first and after the last word (keeping ``pad``
    seconds); with ``remove_pauses`` also shortens every pause longer than ``pause_min``
    to ``pause_keep``. Raises :class:`MediaError` for input it cannot use.
    """
    info = probe(source)
    if not info.has_audio:
        raise MediaError(NO_AUDIO, f"{source.name} has no audio track")
    if max_duration is not None and info.duration > max_duration:
        raise MediaError(TOO_LONG, f"{info.duration:.0f} s is longer than {max_duration:.0f} s")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / VIDEO_NAME
    if target.resolve() == source.resolve():
        raise ValueError("the source is the output file; trim would overwrite it")

    with tempfile.TemporaryDirectory(prefix=".trim-", dir=out_dir) as tmp:
        adts = Path(tmp) / "track.aac" if _wants_track_copy(source, info, remove_pauses) else None
        # The packet indexes and the copy of the sound run beside the analysis.
        with ThreadPoolExecutor(max_workers=1) as pool:
            packets_job = pool.submit(_packets, source, info)
            first_job = pool.submit(_first_audio, source, info)
            if adts is not None:
                track = ffmpeg_cmd.adts_copy_cmd(source, adts)
                adts_job = pool.submit(ffmpeg_cmd.run, track, what="copying audio")
            if remove_pauses:
                analysis = silence.analyse_split(source, info.duration)
            else:
                analysis = silence.analyse_ends(source, info.duration)
            packets = packets_job.result()
            first_audio = first_job.result()
            if adts is not None:
                adts_job.result()
        keep = silence.keep_intervals(
            analysis.speech,
            info.duration,
            pad=pad,
            remove_pauses=remove_pauses,
            pause_min=pause_min,
            pause_keep=pause_keep,
            sound=analysis.sound,
        )
        result = cut(
            source, keep, target, info=info, packets=packets, adts=adts, first_audio=first_audio
        )

    out_info = result.info
    return TrimResult(
        video=target,
        timeline=result.timeline,
        source_duration=info.duration,
        duration=result.timeline.duration,
        info=out_info,
        source_info=info,
        speech=analysis.speech,
        speech_complete=analysis.complete,
        levels=analysis.levels,
        speech_method=analysis.method,
        video_method=result.video,
        audio_method=result.audio,
        encoded_seconds=result.encoded_seconds,
    )


def _wants_track_copy(source: Path, info: MediaInfo, remove_pauses: bool) -> bool:
    """Copy the whole AAC track during analysis when many cuts will need it for ffmpeg's
    muxer (a cut written from the samples takes the sound straight from the source)."""
    return remove_pauses and info.audio_codec == "aac" and not own_muxer_takes(source, info)


def _first_audio(source: Path, info: MediaInfo) -> float | None:
    return first_audio_packet_time(source, info.start_time) if aac_frame(info) else None


def _packets(source: Path, info: MediaInfo) -> VideoPackets | None:
    return read_video_packets(source, info.start_time) if info.has_video else None
