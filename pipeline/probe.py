"""What a media file holds, from ffprobe, with bad input turned into :class:`MediaError`.

Bad input is classified as follows:

- a file with no bytes is ``empty``;
- an MP4/MOV whose boxes run past the end of the file, or that has no ``moov`` box at
  all (a recording or upload cut short), and a Matroska/WebM whose segment is longer
  than the file, are ``truncated``; this holds even when ffprobe can read the header of
  a ``+faststart`` file, because its media data is still missing;
- a list of other files (an HLS playlist, an ffconcat script, a DASH manifest) is
  ``playlist``, whatever its name: it is never opened as one (see pipeline.ffmpeg_cmd);
- anything ffprobe cannot open, or that holds neither a video nor an audio stream (a
  document, a still image, a subtitle file), is ``not_media``.

A path that does not exist raises ``FileNotFoundError``: that is the caller's mistake,
not something a user sent.

Times in :class:`MediaInfo` are seconds from the start of the file as ffmpeg sees it (its
``start_time`` subtracted), which is the timeline that ``ffmpeg -ss`` and decoded PCM use.

A cover picture (an MP3's or M4A's album art) is not a video stream: such a file is
sound only.

The packet index of a file (its frames, keyframes, where a copy may end, broken packets)
is read by :mod:`pipeline.packets`; whether a stereo recording carries a different voice on
each channel is told by :mod:`pipeline.channels`.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import ffmpeg_cmd, ffprobe_cmd
from pipeline.errors import EMPTY, FFMPEG_FAILED, NOT_MEDIA, PLAYLIST, TRUNCATED, MediaError

_IMAGE_FORMATS = ("image2", "_pipe", "gif", "apng")
_STATS_TIME = re.compile(rb"time=\s*(-?)(\d+):(\d+):(\d+(?:\.\d+)?)")
# ffmpeg names the format it found but may not use: "[hls @ 0x55…] Format not on whitelist".
_REFUSED_FORMAT = re.compile(rb"\[([\w,]+) @ [^\]]*\] Format not on whitelist")
# Lines that only lists of files have; checked on the first bytes of a file ffmpeg refused.
_LIST_MARKERS = (b"#EXTM3U", b"#EXTINF", b"#EXT-X-", b"ffconcat version", b"<MPD")
_LIST_START = re.compile(rb"(?:#\s*)?(?:file\s+\S|ffconcat\b)")


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    size: int
    format_name: str
    has_video: bool
    has_audio: bool
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    audio_codec: str | None
    audio_sample_rate: int | None
    bit_rate: int | None
    start_time: float = 0.0
    audio_channels: int | None = None
    pix_fmt: str | None = None
    video_timescale: int | None = None
    """Ticks per second of the video stream's time base."""
    rotation: int = 0
    """Degrees the picture is to be turned for display (phone recordings)."""
    video_is_first_stream: bool = True
    audio_profile: str | None = None
    audio_frames: int | None = None
    """Audio packets in the stream, when the container says (MP4 does, Matroska does not)."""
    audio_duration: float | None = None
    video_frames: int | None = None
    """Video frames in the stream, when the container says."""
    video_profile: str | None = None
    """The codec profile as ffprobe names it ("High", "Main", "Constrained Baseline")."""
    audio_bit_rate: int | None = None
    """Bits per second of the sound alone, when the container says."""


def probe(path: Path) -> MediaInfo:
    """Describe ``path``; raises :class:`MediaError` for empty, non-media or truncated files."""
    size = _size(path)
    proc = subprocess.run(
        ffprobe_cmd.probe_cmd(path), capture_output=True, check=False, **ffmpeg_cmd.child_options()
    )
    data = _ffprobe_json(path, proc.returncode, proc.stdout, proc.stderr)
    info = _media_info(data, size)
    if info.duration <= 0:
        proc = subprocess.run(
            ffprobe_cmd.demux_duration_cmd(path),
            capture_output=True,
            check=False,
            **ffmpeg_cmd.child_options(),
        )
        info = _with_demuxed_duration(info, proc.returncode, proc.stderr)
    return info


async def probe_async(path: Path) -> MediaInfo:
    """:func:`probe` for the event loop: the processes run without blocking it."""
    size = _size(path)
    rc, out, err = await _exec(ffprobe_cmd.probe_cmd(path))
    data = _ffprobe_json(path, rc, out, err)
    info = _media_info(data, size)
    if info.duration <= 0:
        rc, _, err = await _exec(ffprobe_cmd.demux_duration_cmd(path))
        info = _with_demuxed_duration(info, rc, err)
    return info


# --- internals -----------------------------------------------------------------------------


async def _exec(cmd: list[str]) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        **ffmpeg_cmd.child_options(),
    )
    out, err = await proc.communicate()
    return proc.returncode if proc.returncode is not None else -1, out, err


def _size(path: Path) -> int:
    size = path.stat().st_size
    if size == 0:
        raise MediaError(EMPTY, f"{path.name} has no bytes")
    return size


def _ffprobe_json(path: Path, returncode: int, stdout: bytes, stderr: bytes) -> dict[str, Any]:
    state = container_state(path)
    if state == "truncated":
        raise MediaError(TRUNCATED, f"{path.name} ends before its media data does")
    if returncode != 0:
        if is_file_list(path, stderr):
            raise MediaError(PLAYLIST, f"{path.name} lists other files")
        raise MediaError(NOT_MEDIA, f"ffprobe cannot read {path.name}")
    try:
        data = json.loads(stdout or b"{}")
    except json.JSONDecodeError as exc:
        raise MediaError(NOT_MEDIA, f"ffprobe output for {path.name}: {exc}") from exc
    if not isinstance(data, dict) or "format" not in data:
        raise MediaError(NOT_MEDIA, f"ffprobe found no container in {path.name}")
    return data


def is_file_list(path: Path, stderr: bytes = b"") -> bool:
    """Whether ``path`` is a playlist or a concat script rather than a recording: by the
    format ffmpeg recognised and refused, or by the lines such lists are made of."""
    refused = _REFUSED_FORMAT.search(stderr)
    if refused is not None:
        names = refused.group(1).decode("ascii", "replace").split(",")
        if ffmpeg_cmd.PLAYLIST_DEMUXERS.intersection(names):
            return True
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if b"\0" in head:
        return False
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return any(marker in start for marker in _LIST_MARKERS) or bool(_LIST_START.match(start))


def _media_info(data: dict[str, Any], size: int) -> MediaInfo:
    fmt: dict[str, Any] = data["format"]
    format_name = str(fmt.get("format_name", ""))
    if not set(format_name.split(",")).intersection(ffmpeg_cmd.MEDIA_DEMUXERS):
        # The inputs' whitelist makes this impossible; a guard for a future caller.
        raise MediaError(NOT_MEDIA, f"not a recording format ({format_name or 'unknown'})")
    streams: list[dict[str, Any]] = data.get("streams", [])
    is_image = any(tag in format_name for tag in _IMAGE_FORMATS)
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video"
            and not s.get("disposition", {}).get("attached_pic")
            and not is_image
        ),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        raise MediaError(NOT_MEDIA, f"no audio or video stream ({format_name or 'unknown'})")

    durations = [as_float(fmt.get("duration"))]
    durations += [as_float(s.get("duration")) for s in (video, audio) if s is not None]
    duration = max((d for d in durations if d is not None), default=0.0)
    return MediaInfo(
        duration=duration,
        size=size,
        format_name=format_name,
        has_video=video is not None,
        has_audio=audio is not None,
        width=as_int(video.get("width")) if video else None,
        height=as_int(video.get("height")) if video else None,
        fps=_fps(video) if video else None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        audio_sample_rate=as_int(audio.get("sample_rate")) if audio else None,
        bit_rate=as_int(fmt.get("bit_rate")),
        start_time=as_float(fmt.get("start_time")) or 0.0,
        audio_channels=as_int(audio.get("channels")) if audio else None,
        pix_fmt=video.get("pix_fmt") if video else None,
        video_timescale=_timescale(video) if video else None,
        rotation=_rotation(video) if video else 0,
        video_is_first_stream=video is not None and as_int(video.get("index")) == 0,
        audio_profile=audio.get("profile") if audio else None,
        audio_frames=as_int(audio.get("nb_frames")) if audio else None,
        audio_duration=_stream_duration(audio) if audio else None,
        video_frames=as_int(video.get("nb_frames")) if video else None,
        video_profile=video.get("profile") if video else None,
        audio_bit_rate=as_int(audio.get("bit_rate")) if audio else None,
    )


def _with_demuxed_duration(info: MediaInfo, returncode: int, stderr: bytes) -> MediaInfo:
    matches = _STATS_TIME.findall(stderr)
    if returncode != 0 or not matches:
        raise MediaError(
            FFMPEG_FAILED, "cannot measure the duration: " + ffmpeg_cmd.last_line(stderr)
        )
    sign, h, m, s = matches[-1]
    duration = 0.0 if sign else int(h) * 3600 + int(m) * 60 + float(s)
    if duration <= 0:
        raise MediaError(EMPTY, "the recording has no duration")
    return MediaInfo(**{**info.__dict__, "duration": duration})


def _fps(stream: dict[str, Any]) -> float | None:
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = str(stream.get(key, "")).partition("/")
        try:
            value = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            continue
        if value > 0:
            return value
    return None


def _stream_duration(stream: dict[str, Any]) -> float | None:
    """The stream's own duration; Matroska keeps it in a ``DURATION`` tag."""
    value = as_float(stream.get("duration"))
    if value is not None:
        return value
    tag = str(stream.get("tags", {}).get("DURATION", ""))
    h, _, rest = tag.partition(":")
    m, _, sec = rest.partition(":")
    try:
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return None


def _timescale(stream: dict[str, Any]) -> int | None:
    num, _, den = str(stream.get("time_base", "")).partition("/")
    return int(den) if num == "1" and den.isdigit() else None


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return round(float(side["rotation"])) % 360
    return (as_int(stream.get("tags", {}).get("rotate")) or 0) % 360


def as_float(value: object) -> float | None:
    """``value`` as a number, or None where ffprobe left it out or printed no number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def as_int(value: object) -> int | None:
    """``value`` as a whole number, or None where ffprobe left it out or printed none."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


# --- container structure -------------------------------------------------------------------

_MP4_TOP = frozenset(
    b"ftyp moov mdat free skip wide pnot uuid moof mfra styp sidx meta pdin junk".split()
)
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_MKV_SEGMENT = b"\x18\x53\x80\x67"


def container_state(path: Path) -> str:
    """``"truncated"``, ``"complete"`` or ``"unknown"`` from the container's top-level layout.

    Reads a few bytes per top-level box; never the media data itself.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
            size = path.stat().st_size
            if head[:4] == _EBML_MAGIC:
                return _matroska_state(fh, size)
            if head[4:8] in _MP4_TOP:
                return _mp4_state(fh, size)
    except OSError:
        return "unknown"
    return "unknown"


def _mp4_state(fh: Any, size: int) -> str:
    offset = 0
    seen: set[bytes] = set()
    for _ in range(100_000):
        if offset == size:
            break
        if offset + 8 > size:
            return "truncated"
        fh.seek(offset)
        header = fh.read(16)
        box_size = int.from_bytes(header[:4], "big")
        kind = header[4:8]
        if not (kind.isascii() and kind.replace(b" ", b"a").isalnum()) and kind != b"\xa9mov":
            return "unknown"
        if box_size == 1:
            if len(header) < 16:
                return "truncated"
            box_size = int.from_bytes(header[8:16], "big")
        elif box_size == 0:
            box_size = size - offset
        if box_size < 8:
            return "unknown"
        if offset + box_size > size:
            return "truncated"
        seen.add(kind)
        offset += box_size
    if b"moov" not in seen and b"moof" not in seen:
        return "truncated"
    return "complete"


def _matroska_state(fh: Any, size: int) -> str:
    fh.seek(4)
    header = _ebml_vint(fh)
    if header is None:
        return "unknown"
    header_len, vint_len, _ = header
    fh.seek(4 + vint_len + header_len)
    if fh.read(4) != _MKV_SEGMENT:
        return "unknown"
    segment = _ebml_vint(fh)
    if segment is None:
        return "unknown"
    segment_len, _, unknown_size = segment
    if unknown_size:
        # Live recorders write "size unknown" and never come back to fix it.
        return "unknown"
    return "truncated" if fh.tell() + segment_len > size else "complete"


def _ebml_vint(fh: Any) -> tuple[int, int, bool] | None:
    """An EBML variable-length integer: (value, its length in bytes, is the "unknown" value)."""
    first = fh.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    rest = fh.read(length - 1)
    if len(rest) != length - 1:
        return None
    value = first[0] & ((1 << (8 - length)) - 1)
    for byte in rest:
        value = (value << 8) | byte
    return value, length, value == (1 << (7 * length)) - 1
