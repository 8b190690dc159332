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

Times in :class:`MediaInfo` and from :func:`keyframe_times` are seconds from the start
of the file as ffmpeg sees it (its ``start_time`` subtracted), which is the timeline
that ``ffmpeg -ss`` and decoded PCM use.

A cover picture (an MP3's or M4A's album art) is not a video stream: such a file is
sound only. :func:`channel_voices` tells whether a stereo recording carries a different
voice on each channel, to be heard one channel at a time.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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


def keyframe_times(path: Path) -> list[float]:
    """Presentation times of the video keyframes, ascending; empty without a video stream."""
    info = probe(path)
    if not info.has_video:
        return []
    return read_video_packets(path, info.start_time).keyframes


@dataclass(frozen=True)
class VideoPackets:
    """The packet index of the first video stream, on the file's timeline."""

    frames: list[float]
    """Presentation time of every frame, ascending."""
    keyframes: list[float]
    """Presentation time of every keyframe, ascending."""
    keyframe_dts: list[float]
    """Decoding time of each keyframe (same order); stream copy cuts by decoding time."""
    reorder_delay: float
    """How far decoding runs ahead of presentation (pts - dts at a keyframe): B-frames."""
    clean_ends: list[int] | None = None
    """Frame counts ``n`` (ascending) such that the first ``n`` frames in presentation
    order are also the first ``n`` packets in decoding order: copying packets up to there
    gives exactly those frames, all decodable. Every frame without B-frames; behind each
    reference frame with them. None when not known."""
    clean_end_dts: list[float] | None = None
    """Decoding time of the first packet after each clean end (same order)."""


def read_video_packets(path: Path, start_time: float = 0.0) -> VideoPackets:
    """Index the first video stream from packet headers alone (no frame is decoded)."""
    proc = ffmpeg_cmd.run(ffprobe_cmd.video_packets_cmd(path), what="read video packets")
    times: list[float] = []
    dts_list: list[float] = []
    keys: list[tuple[float, float]] = []
    delays: list[float] = []
    for line in proc.stdout.decode("ascii", "replace").splitlines():
        parts = line.split(",")
        if len(parts) < 3:
            continue
        pts, dts = _float(parts[0]), _float(parts[1])
        t = pts if pts is not None else dts
        if t is None:
            continue
        times.append(t - start_time)
        dts_list.append(dts - start_time if dts is not None else math.nan)
        if "K" in parts[2]:
            keys.append((t - start_time, (dts if dts is not None else t) - start_time))
            if pts is not None and dts is not None and len(delays) < 16:
                delays.append(pts - dts)
    keys.sort()
    delay = max(sorted(delays)[len(delays) // 2], 0.0) if delays else 0.0
    clean, clean_dts = clean_prefixes(times, dts_list)
    return VideoPackets(
        frames=sorted(times),
        keyframes=[k[0] for k in keys],
        keyframe_dts=[k[1] for k in keys],
        reorder_delay=delay,
        clean_ends=clean,
        clean_end_dts=clean_dts,
    )


def clean_prefixes(times: Sequence[float], dts: Sequence[float]) -> tuple[list[int], list[float]]:
    """Where a stream in decoding order can be cut without losing or adding a frame.

    ``times`` are presentation times and ``dts`` decoding times (NaN when unknown) of the
    packets in file order. A prefix of ``n`` packets is clean when every time in it is
    earlier than every time after it. Returns the clean ``n`` (0 < n < len) whose next
    packet has a known decoding time, and those decoding times.
    """
    pts = np.asarray(times, dtype=np.float64)
    if pts.size < 2:
        return [], []
    before = np.maximum.accumulate(pts)[:-1]
    after = np.minimum.accumulate(pts[::-1])[::-1][1:]
    next_dts = np.asarray(dts, dtype=np.float64)[1:]
    ok = (before < after) & np.isfinite(next_dts)
    where = np.flatnonzero(ok)
    return (where + 1).tolist(), next_dts[where].tolist()


def first_audio_packet_time(path: Path, start_time: float = 0.0) -> float | None:
    """Presentation time of the first packet of the first audio stream (an AAC priming
    packet starts before zero)."""
    proc = ffmpeg_cmd.run(ffprobe_cmd.first_audio_packet_cmd(path), what="read audio packet")
    for line in proc.stdout.decode("ascii", "replace").splitlines():
        value = _float(line.split(",")[0])
        if value is not None:
            return value - start_time
    return None


# --- broken packets ------------------------------------------------------------------------

_HEX_LINE = re.compile(r"^[0-9a-f]{8}: ((?:[0-9a-f]{2,4} ?)+)", re.MULTILINE)
_MOST_BROKEN = 0.2


def broken_video_packets(path: Path, start_time: float = 0.0) -> list[float] | None:
    """Presentation times (ascending) of the H.264 video packets whose bytes are broken:
    their length-prefixed NAL units do not fill the packet exactly, the way a few
    overwritten kilobytes leave them. Such a packet cannot be copied (ffmpeg gives up on
    it) but a decoder skips it and plays on.

    None when this cannot be told: not length-prefixed H.264 (MP4/Matroska), or so much
    of the stream looks broken that the layout is not what is assumed here. Reads every
    packet's bytes once, so it is meant for a file already known to be damaged.
    """
    proc = ffmpeg_cmd.run(ffprobe_cmd.video_packet_places_cmd(path), what="read video packets")
    try:
        data = json.loads(proc.stdout or b"{}")
        extradata = str(data["streams"][0].get("extradata", ""))
    except (json.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
    head = bytes.fromhex(
        "".join(m.group(1) for m in _HEX_LINE.finditer(extradata)).replace(" ", "")
    )
    if len(head) < 5 or head[0] != 1:
        return None  # not an avcC record: the NAL units are not length-prefixed
    length_size = (head[4] & 0x03) + 1
    broken: list[float] = []
    packets = data.get("packets", [])
    with path.open("rb") as fh:
        for packet in packets:
            pos, size = _int(packet.get("pos")), _int(packet.get("size"))
            t = _float(packet.get("pts_time"))
            t = t if t is not None else _float(packet.get("dts_time"))
            if pos is None or size is None or t is None:
                continue
            fh.seek(pos)
            if not _nal_units_fill(fh.read(size), size, length_size):
                broken.append(t - start_time)
    if len(broken) > _MOST_BROKEN * max(len(packets), 1):
        return None
    return sorted(broken)


def _nal_units_fill(payload: bytes, size: int, length_size: int) -> bool:
    """Whether ``payload`` is whole NAL units, each after its length, and nothing else."""
    if len(payload) != size:
        return False
    i = 0
    while i < size:
        if i + length_size >= size:
            return False
        length = int.from_bytes(payload[i : i + length_size], "big")
        # Every NAL unit has a header byte whose top bit is zero.
        if length == 0 or payload[i + length_size] & 0x80:
            return False
        i += length_size + length
    return i == size


# --- voices on separate channels -----------------------------------------------------------

_VOICE_RATE = 8_000
_VOICE_BLOCK = 4_096
_VOICE_MAX_LAG = 0.025
_VOICE_SECONDS = 600.0
SAME_SOUND = 0.3
"""Above this peak cross-correlation, two channels carry one sound (a stereo microphone,
a mono recording copied twice, a voice leaking into the other microphone)."""
_QUIET_DB = 30.0


def channel_voices(path: Path, info: MediaInfo | None = None) -> tuple[int | None, ...]:
    """Which sound to hear for speech: ``(None,)`` for all channels mixed into one, or
    ``(0, 1)`` for each of two channels on its own.

    A stereo recording with a different voice on each channel (a phone call, an interview
    on two microphones) loses words when mixed: where both speak at once, speech
    recognition follows the louder one. So the channels are heard separately when they
    do not carry the same sound: the largest cross-correlation within 25 ms (how far
    apart two microphones of one room place one voice) stays below :data:`SAME_SOUND`.
    A channel more than 30 dB quieter than the other holds no voice of its own. The first
    ten minutes are enough to tell, read at 8 kHz with nothing decoded but the sound.
    """
    info = info or probe(path)
    if not info.has_audio or info.audio_channels != 2:
        return (None,)
    peak, balance = _channel_likeness(path)
    if peak is None or abs(balance) > _QUIET_DB or peak >= SAME_SOUND:
        return (None,)
    return (0, 1)


def _channel_likeness(path: Path) -> tuple[float | None, float]:
    """(the peak normalised cross-correlation of the two channels within the lag limit,
    left-to-right energy in dB); None when either channel is silent."""
    size = 2 * _VOICE_BLOCK
    lags = round(_VOICE_MAX_LAG * _VOICE_RATE)
    cross = np.zeros(size // 2 + 1, dtype=np.complex128)
    energy = np.zeros(2)
    cmd = ffmpeg_cmd.stereo_pcm_cmd(path, rate=_VOICE_RATE, duration=_VOICE_SECONDS)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        **ffmpeg_cmd.child_options(),
    )
    assert proc.stdout is not None
    frame = 4 * _VOICE_BLOCK
    with proc.stdout:
        while block := proc.stdout.read(frame):
            block = block[: len(block) - len(block) % 4]
            pcm = np.frombuffer(block, dtype="<i2").astype(np.float64).reshape(-1, 2)
            left, right = pcm[:, 0], pcm[:, 1]
            # Zero-padded to twice the block: lags do not wrap round.
            cross += np.fft.rfft(left, size) * np.conj(np.fft.rfft(right, size))
            # Plain sums, not a dot product: BLAS threads make a fork in another thread
            # (every ffmpeg the workers start) wait for them forever.
            energy += (np.square(left).sum(), np.square(right).sum())
    if proc.wait() != 0 or energy.min() <= 0:
        return None, 0.0
    xcorr = np.fft.irfft(cross, size)
    near = np.concatenate([xcorr[: lags + 1], xcorr[-lags:]])
    peak = float(np.abs(near).max() / np.sqrt(energy[0] * energy[1]))
    return peak, float(10 * np.log10(energy[0] / energy[1]))


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

    durations = [_float(fmt.get("duration"))]
    durations += [_float(s.get("duration")) for s in (video, audio) if s is not None]
    duration = max((d for d in durations if d is not None), default=0.0)
    return MediaInfo(
        duration=duration,
        size=size,
        format_name=format_name,
        has_video=video is not None,
        has_audio=audio is not None,
        width=_int(video.get("width")) if video else None,
        height=_int(video.get("height")) if video else None,
        fps=_fps(video) if video else None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        audio_sample_rate=_int(audio.get("sample_rate")) if audio else None,
        bit_rate=_int(fmt.get("bit_rate")),
        start_time=_float(fmt.get("start_time")) or 0.0,
        audio_channels=_int(audio.get("channels")) if audio else None,
        pix_fmt=video.get("pix_fmt") if video else None,
        video_timescale=_timescale(video) if video else None,
        rotation=_rotation(video) if video else 0,
        video_is_first_stream=video is not None and _int(video.get("index")) == 0,
        audio_profile=audio.get("profile") if audio else None,
        audio_frames=_int(audio.get("nb_frames")) if audio else None,
        audio_duration=_stream_duration(audio) if audio else None,
        video_frames=_int(video.get("nb_frames")) if video else None,
        video_profile=video.get("profile") if video else None,
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
    value = _float(stream.get("duration"))
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
    return (_int(stream.get("tags", {}).get("rotate")) or 0) % 360


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _int(value: object) -> int | None:
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
