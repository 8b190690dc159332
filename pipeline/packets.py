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
from pipeline.mp4_index import VideoIndex, read_video_index
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
    """Index the first video stream from packet headers alone (no frame is decoded).

    An MP4/MOV file's own index is read where its layout is plain (see
    :mod:`pipeline.mp4_index`) and its first packets agree with ffprobe's; every other
    file is read packet by packet by ffprobe."""
    index = read_video_index(path)
    if index is None or not _agrees(path, index):
        index = _probed_index(path)
    return _packets(index, start_time)


_CHECKED = 4
"""Packets from the start compared with ffprobe's before a file's own index is trusted."""


def _agrees(path: Path, index: VideoIndex) -> bool:
    """Whether ffprobe reads the first packets of ``index`` at the same times and flags."""
    probed = _probed_index(path, packets=_CHECKED)
    n = min(_CHECKED, index.pts.size)
    return (
        probed.pts.size == n
        and bool(np.allclose(probed.pts, index.pts[:n], rtol=0.0, atol=_SAME_TIME))
        and bool(np.allclose(probed.dts, index.dts[:n], rtol=0.0, atol=_SAME_TIME))
        and bool(np.array_equal(probed.key, index.key[:n]))
    )


_SAME_TIME = 2e-6
"""ffprobe prints times to the microsecond."""


def _probed_index(path: Path, *, packets: int | None = None) -> VideoIndex:
    """The first video stream's packets as ffprobe reads them (all, or the first ``packets``);
    a time it does not know is NaN."""
    cmd = ffprobe_cmd.video_packets_cmd(path, packets=packets)
    proc = ffmpeg_cmd.run(cmd, what="read video packets")
    pts: list[float] = []
    dts: list[float] = []
    key: list[bool] = []
    for line in proc.stdout.decode("ascii", "replace").splitlines():
        parts = line.split(",")
        if len(parts) < 3:
            continue
        p, d = as_float(parts[0]), as_float(parts[1])
        if p is None and d is None:
            continue
        pts.append(math.nan if p is None else p)
        dts.append(math.nan if d is None else d)
        key.append("K" in parts[2])
    return VideoIndex(
        pts=np.asarray(pts, dtype=np.float64),
        dts=np.asarray(dts, dtype=np.float64),
        key=np.asarray(key, dtype=bool),
    )


def _packets(index: VideoIndex, start_time: float) -> VideoPackets:
    known = np.isfinite(index.pts)
    times = np.where(known, index.pts, index.dts) - start_time
    dts = index.dts - start_time
    keys = np.flatnonzero(index.key)
    key_dts = np.where(np.isfinite(dts[keys]), dts[keys], times[keys])
    order = np.lexsort((key_dts, times[keys]))
    # How far decoding runs ahead of presentation, from the first keyframes that say.
    sure = keys[known[keys] & np.isfinite(index.dts[keys])][:16]
    delays = np.sort(index.pts[sure] - index.dts[sure])
    delay = max(float(delays[len(delays) // 2]), 0.0) if delays.size else 0.0
    clean, clean_dts = clean_prefixes(times.tolist(), dts.tolist())
    return VideoPackets(
        frames=np.sort(times).tolist(),
        keyframes=times[keys][order].tolist(),
        keyframe_dts=key_dts[order].tolist(),
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
