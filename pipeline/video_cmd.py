"""The ffmpeg command lines that cut and join video: x264 settings, re-encoded pieces, a
whole re-encode of the kept frames, copied GOPs, and the final MP4.

Built as argument lists, never through a shell; every input is opened through
:func:`pipeline.ffmpeg_cmd.media_input` (or, for our own concat lists,
:func:`pipeline.ffmpeg_cmd.list_input`), so the demuxer allow-list and the protocol
whitelist hold here as everywhere. Re-encoded pieces keep the source's B-frame delay and at
most its profile, and keep their pixels as stored, so they line up with the copied pieces
they sit between (see :mod:`pipeline.cut`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.ffmpeg_cmd import BASE, list_input, media_input, sec

_X264_PROFILES = {
    "Constrained Baseline": "baseline",
    "Baseline": "baseline",
    "Main": "main",
    "High": "high",
}


def x264_args(
    *,
    preset: str,
    crf: float,
    pix_fmt: str,
    reorder_frames: int | None,
    profile: str | None = None,
    threads: int | None = None,
    sps_id: int | None = None,
) -> list[str]:
    """libx264 settings; ``reorder_frames`` pins the B-frame delay (0, 1 or 2 frames) so
    re-encoded pieces line up with copied ones in decoding order, ``profile`` (as
    ffprobe names the source's) keeps them to the tools the source's decoder expects, and
    ``sps_id`` numbers the parameter sets so that they can sit beside the source's."""
    args = ["-c:v", "libx264", "-preset", preset, "-crf", f"{crf:g}", "-pix_fmt", pix_fmt]
    name = _X264_PROFILES.get(profile or "")
    if name is not None and not (name == "baseline" and reorder_frames):
        args += ["-profile:v", name]
    if threads is not None:
        args += ["-threads", str(threads)]
    params: list[str] = []
    if reorder_frames is not None:
        modes = {0: "bframes=0", 1: "bframes=1:b-pyramid=none", 2: "bframes=2:b-pyramid=normal"}
        params.append(modes[reorder_frames])
    if sps_id is not None:
        params.append(f"sps-id={sps_id}")
    if params:
        args += ["-x264-params", ":".join(params)]
    return args


def encode_piece_cmd(
    source: Path,
    out: Path,
    *,
    start: float,
    frames: int,
    x264: Sequence[str],
    timescale: int | None,
    duration: float | None = None,
) -> list[str]:
    """Re-encode ``frames`` video frames starting at the frame shown at ``start``, or
    fewer: with ``duration``, only those shown in that many seconds from ``start`` (a
    decoder that skips broken frames would otherwise fill the count with later ones).

    The seek goes before the input, so ffmpeg decodes from the previous keyframe and
    drops what comes before ``start``; ``start`` should sit a little before the wanted
    frame's time so rounding never drops it. Timestamps pass through unchanged. The
    decoder runs on one thread: pieces are made two at a time, one per core. Pixels stay
    as stored (``-noautorotate``), like those of the copied pieces they sit between.
    """
    cmd = [*BASE, "-threads", "1", "-noautorotate", "-ss", sec(start), *media_input(source)]
    cmd += ["-map", "0:v:0", "-an", "-sn", "-dn"]
    cmd += ["-frames:v", str(frames), "-fps_mode", "passthrough", *x264]
    if duration is not None:
        cmd += ["-t", sec(duration)]
    if timescale:
        cmd += ["-video_track_timescale", str(timescale)]
    return [*cmd, "-map_metadata", "-1", "-f", "mp4", str(out)]


def encode_selected_cmd(
    source: Path,
    out: Path,
    *,
    select: str,
    setpts: str,
    x264: Sequence[str],
    scale_even: bool,
) -> list[str]:
    """Decode the whole video once, keep the frames ``select`` passes, retime them with
    ``setpts`` and encode with x264 (sources that cannot be stream-copied)."""
    vf = f"select='{select}',setpts='{setpts}'"
    if scale_even:
        vf += ",scale=trunc(iw/2)*2:trunc(ih/2)*2"
    cmd = [*BASE, *media_input(source), "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", vf]
    cmd += ["-fps_mode", "passthrough", *x264]
    return [*cmd, "-map_metadata", "-1", "-f", "mp4", str(out)]


MUX_QUEUE_PACKETS = 1024
"""Packets each input of the final mux may have read ahead (video and sound together)."""


def concat_copy_cmd(listing: Path, out: Path) -> list[str]:
    """The video of a concat list, stream-copied into an MP4 (timestamps as listed)."""
    return [
        *BASE,
        "-copyts",
        *list_input(listing),
        "-map",
        "0:v:0",
        "-c",
        "copy",
        "-f",
        "mp4",
        str(out),
    ]


def mux_cmd(
    out: Path,
    *,
    video_concat: Path | None,
    video_file: Path | None,
    audio: Path | None,
    audio_format: str | None,
    moov_size: int | None = None,
    rotation: int = 0,
) -> list[str]:
    """Put the cut video (a concat list or one file) and the cut audio into one MP4.

    ``rotation`` (degrees, as :attr:`pipeline.probe.MediaInfo.rotation` reads them) tells
    players to turn the picture; the caller checks that the file came out saying so.

    The index goes first, for playing while downloading: written into ``moov_size``
    bytes set aside at the start, or without it moved there by a second pass over the
    finished file. An index too big for its space overwrites the start of the media
    data and only makes writing the trailer fail, so ``-xerror`` turns that into a
    failed command.

    ``-copyts`` keeps the timestamps as the inputs give them (the concat list already
    starts at zero). Without it ffmpeg would subtract the concat input's start time,
    which is the *decoding* time of its first packet when that packet is copied from a
    source with B-frames, and so push the whole picture that many frames late.
    """
    cmd = [*BASE, "-copyts", *(["-xerror"] if moov_size else [])]
    maps: list[str] = []
    index = 0
    has_video = video_concat is not None or video_file is not None
    # Two inputs are read by two threads; with ffmpeg's default queue of 8 packets they
    # hand over almost every packet with a wake-up (copying a 22-minute lecture: 228,000
    # futex calls, a third of the command's CPU). A longer queue lets each thread run on.
    queue = ["-thread_queue_size", str(MUX_QUEUE_PACKETS)] if has_video and audio else []
    if video_concat is not None:
        cmd += [*queue, *list_input(video_concat)]
    elif video_file is not None:
        cmd += [*queue, *media_input(video_file)]
    if has_video:
        maps += ["-map", f"{index}:v:0"]
        index += 1
    if audio is not None:
        if audio_format:
            cmd += ["-f", audio_format]
        cmd += [*queue, *media_input(audio)]
        maps += ["-map", f"{index}:a:0"]
    cmd += [*maps, "-c", "copy", "-map_metadata", "-1", "-map_chapters", "-1"]
    if rotation % 360 and has_video:
        cmd += ["-metadata:s:v:0", f"rotate={rotation % 360}"]
    if moov_size:
        cmd += ["-moov_size", str(moov_size)]
    else:
        cmd += ["-movflags", "+faststart"]
    return [*cmd, "-f", "mp4", str(out)]
