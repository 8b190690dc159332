"""The command lines that describe a file without decoding it: ffprobe's container and
stream listing, the packet listings of the first video and audio streams, and the one ffmpeg
pass that reads every packet to measure a duration the container does not state.

Built as argument lists, never through a shell; every input is opened through
:func:`pipeline.ffmpeg_cmd.media_input`, so a playlist or a concat script is never read as
one (see :mod:`pipeline.ffmpeg_cmd`). :mod:`pipeline.probe` and :mod:`pipeline.packets` run
them and read what they print.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.ffmpeg_cmd import FFMPEG, FFPROBE, media_input


def probe_cmd(path: Path) -> list[str]:
    return [
        FFPROBE,
        "-hide_banner",
        "-v",
        "error",
        "-of",
        "json",
        "-show_format",
        "-show_streams",
        *media_input(path),
    ]


def demux_duration_cmd(path: Path) -> list[str]:
    """Read every packet without decoding; ffmpeg's final ``time=`` is the real duration.

    Used only for containers that do not state a duration (live-recorded WebM/MKV).
    """
    return [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-stats",
        *media_input(path),
        "-map",
        "0",
        "-c",
        "copy",
        "-f",
        "null",
        "-",
    ]


def video_packets_cmd(path: Path, *, packets: int | None = None) -> list[str]:
    """Timestamps and key flags of every packet of the first video stream (or of its first
    ``packets``), nothing decoded."""
    return [
        FFPROBE,
        "-hide_banner",
        "-v",
        "error",
        "-select_streams",
        "v:0",
        *(["-read_intervals", f"%+#{packets}"] if packets else []),
        "-show_entries",
        "packet=pts_time,dts_time,flags",
        "-of",
        "csv=p=0",
        *media_input(path),
    ]


def video_packet_places_cmd(path: Path) -> list[str]:
    """Presentation time, byte offset and size of every packet of the first video stream,
    and the stream's codec extradata (hex): enough to check the packets' bytes."""
    return [
        FFPROBE,
        "-hide_banner",
        "-v",
        "quiet",
        "-select_streams",
        "v:0",
        "-show_data",
        "-show_entries",
        "stream=extradata:packet=pts_time,dts_time,pos,size",
        "-of",
        "json",
        *media_input(path),
    ]


def first_audio_packet_cmd(path: Path) -> list[str]:
    return [
        FFPROBE,
        "-hide_banner",
        "-v",
        "error",
        "-select_streams",
        "a:0",
        "-read_intervals",
        "%+#1",
        "-show_entries",
        "packet=pts_time",
        "-of",
        "csv=p=0",
        *media_input(path),
    ]
