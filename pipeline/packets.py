"""The packet index of a recording, read from packet headers without decoding a frame.

- Times are seconds from the start of the file as ffmpeg sees it (its ``start_time``
  subtracted): the timeline of :class:`pipeline.probe.MediaInfo`, ``ffmpeg -ss`` and
  decoded PCM.
- :class:`VideoPackets` says where a stream copy may start (the keyframes, with their
  decoding times, because stream copy cuts by decoding time) and where it may end (the
  clean ends, before which decoding order has caught up with presentation order);
  :mod:`pipeline.cut_plan` plans the copied pieces of a cut on them.
- :func:`broken_video_packets` reads the packets' bytes too, to find the H.264 packets
  that do not hold whole NAL units (where a copy stops); it reads every packet once, so it
  is for a file already known to be damaged.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import ffmpeg_cmd, ffprobe_cmd
from pipeline.probe import as_float, as_int, probe


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
        pts, dts = as_float(parts[0]), as_float(parts[1])
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
        value = as_float(line.split(",")[0])
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
            pos, size = as_int(packet.get("pos")), as_int(packet.get("size"))
            t = as_float(packet.get("pts_time"))
            t = t if t is not None else as_float(packet.get("dts_time"))
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
