"""The sample table of an MP4/MOV file's first video track, read from its index (``moov``).

Every frame's decoding and presentation time and whether it is a keyframe are written in
the file's index, a megabyte or two even for hours of video; reading them there costs a
few milliseconds, where asking ffprobe for every packet reads the whole file. Only the
layout whose timestamps are certain is read (see :func:`read_video_index`); anything else
gives None and the caller asks ffprobe.

The times follow ffmpeg's reading of the file: decoding times add up the sample
durations (``stts``), presentation times add the composition offsets (``ctts``), and the
one edit of the edit list (``elst``) moves both back by its media time, so that the first
frame shown is at zero.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}
_MOST_INDEX = 256 * 2**20
"""A larger ``moov`` is not an index this module reads (a day of 60 fps video is ~60 MB)."""


@dataclass(frozen=True)
class VideoIndex:
    """Frames of the first video track in decoding (file) order."""

    pts: npt.NDArray[np.float64]
    """Presentation time of each frame, seconds."""
    dts: npt.NDArray[np.float64]
    """Decoding time of each frame, seconds."""
    key: npt.NDArray[np.bool_]
    """Whether each frame is a keyframe (a sync sample)."""


class Unsupported(Exception):
    """A layout this module does not read; ffprobe reads it instead."""


def read_video_index(path: Path) -> VideoIndex | None:
    """The first video track's frames from the index of an MP4/MOV file, or None when the
    file is not one, or its layout is one whose times ffmpeg might read otherwise:
    fragments, several edits or an empty one, a rate other than 1, frames before the
    edit or after its end, negative composition offsets, partial sync samples, empty
    samples, or a table that does not add up."""
    try:
        with path.open("rb") as fh:
            moov = find_moov(fh)
            if moov is None:
                return None
            return _first_video(moov)
    except (Unsupported, OSError, struct.error, ValueError):
        return None


def find_moov(fh: BinaryIO) -> bytes | None:
    fh.seek(0, 2)
    size = fh.tell()
    pos = 0
    first = True
    while pos + 8 <= size:
        fh.seek(pos)
        head = fh.read(16)
        length, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if length == 1:
            (length,) = struct.unpack(">Q", head[8:16])
            header = 16
        elif length == 0:
            length = size - pos
        if first and kind not in (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide"):
            return None  # not an ISO media file
        first = False
        if length < header:
            raise Unsupported("a box shorter than its header")
        if kind == b"moof":
            raise Unsupported("fragmented")
        if kind == b"moov":
            if length > _MOST_INDEX:
                raise Unsupported("index too large")
            fh.seek(pos + header)
            body = fh.read(length - header)
            if len(body) != length - header:
                raise Unsupported("truncated index")
            # Fragments announced after the index would add frames it does not list.
            if b"mvex" in children(body):
                raise Unsupported("fragmented")
            return body
        pos += length
    return None


def children(data: bytes) -> dict[bytes, list[bytes]]:
    """The boxes directly inside ``data``, by type, in order."""
    found: dict[bytes, list[bytes]] = {}
    pos = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if length == 1:
            (length,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif length == 0:
            length = len(data) - pos
        if length < header or pos + length > len(data):
            raise Unsupported("a box overruns its parent")
        found.setdefault(kind, []).append(data[pos + header : pos + length])
        pos += length
    return found


def one(boxes: dict[bytes, list[bytes]], kind: bytes) -> bytes:
    items = boxes.get(kind, [])
    if len(items) != 1:
        raise Unsupported(f"{kind!r} missing or repeated")
    return items[0]


def _first_video(moov: bytes) -> VideoIndex | None:
    top = children(moov)
    movie_scale = timescale(one(top, b"mvhd"), movie=True)
    for trak in top.get(b"trak", []):
        track = children(trak)
        mdia = children(one(track, b"mdia"))
        if one(mdia, b"hdlr")[8:12] != b"vide":
            continue
        scale = timescale(one(mdia, b"mdhd"), movie=False)
        stbl = children(one(children(one(mdia, b"minf")), b"stbl"))
        edts = track.get(b"edts", [])
        elst = children(edts[0]).get(b"elst", []) if len(edts) == 1 else []
        if len(edts) > 1 or len(elst) > 1:
            raise Unsupported("several edit lists")
        return _frames(stbl, scale, elst[0] if elst else None, movie_scale)
    return None


def timescale(box: bytes, *, movie: bool) -> int:
    # mvhd and mdhd: version, flags, two times (4 or 8 bytes each), then the time scale.
    offset = 4 + (16 if box[0] == 1 else 8)
    (scale,) = struct.unpack_from(">I", box, offset)
    if scale == 0:
        raise Unsupported("zero time scale")
    return int(scale)


def table(box: bytes, columns: int, *, signed: bool = False) -> npt.NDArray[np.int64]:
    """A full box's entries (after version, flags and the count): ``columns`` 32-bit
    numbers each, the last one ``signed`` if asked."""
    (count,) = struct.unpack_from(">I", box, 4)
    if 8 + count * 4 * columns > len(box):
        raise Unsupported("table shorter than its count")
    raw = np.frombuffer(box, dtype=">u4", count=count * columns, offset=8)
    rows = raw.astype(np.int64).reshape(count, columns)
    if signed:
        rows[:, -1] = raw.reshape(count, columns)[:, -1].view(">i4")
    return rows


def _frames(
    stbl: dict[bytes, list[bytes]], scale: int, elst: bytes | None, movie_scale: int
) -> VideoIndex:
    dts, offsets, key = sample_times(stbl)
    pts = dts + offsets
    shift = 0
    if elst is not None:
        shift = edit_start(elst, pts, scale, movie_scale)
    return VideoIndex(pts=(pts - shift) / scale, dts=(dts - shift) / scale, key=key)


def sample_times(
    stbl: dict[bytes, list[bytes]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Each sample's decoding time and composition offset, in the track's ticks, and
    whether it is a sync sample (a keyframe)."""
    if b"stps" in stbl:
        raise Unsupported("partial sync samples")
    count = sample_count(one(stbl, b"stsz"))
    stts = table(one(stbl, b"stts"), 2)
    deltas = np.repeat(stts[:, 1], stts[:, 0])
    if deltas.size != count or count == 0:
        raise Unsupported("time table does not match the sample count")
    dts = np.concatenate(([0], np.cumsum(deltas[:-1]))).astype(np.int64)
    offsets = np.zeros(count, dtype=np.int64)
    if b"ctts" in stbl:
        ctts_box = one(stbl, b"ctts")
        ctts = table(ctts_box, 2, signed=ctts_box[0] == 1)
        offsets = np.repeat(ctts[:, 1], ctts[:, 0])
        if offsets.size != count:
            raise Unsupported("composition table does not match the sample count")
        if (offsets < 0).any():
            raise Unsupported("negative composition offsets")
    key = np.ones(count, dtype=bool)
    if b"stss" in stbl:
        sync = table(one(stbl, b"stss"), 1)[:, 0]
        if sync.size == 0 or sync.min() < 1 or sync.max() > count:
            raise Unsupported("sync table out of range")
        key[:] = False
        key[sync - 1] = True
    return dts, offsets, key


def sample_count(stsz: bytes) -> int:
    size, count = struct.unpack_from(">II", stsz, 4)
    if size == 0:
        sizes = np.frombuffer(stsz, dtype=">u4", count=count, offset=12)
        if (sizes == 0).any():
            raise Unsupported("empty samples")
    return int(count)


def edit_start(elst: bytes, pts: npt.NDArray[np.int64], scale: int, movie_scale: int) -> int:
    """The media time of the one edit, checked to cover every frame."""
    version = elst[0]
    (count,) = struct.unpack_from(">I", elst, 4)
    if count != 1:
        raise Unsupported("several edits")
    if version == 1:
        length, start, rate, fraction = struct.unpack_from(">QqhH", elst, 8)
    else:
        length, start, rate, fraction = struct.unpack_from(">IihH", elst, 8)
    if start < 0 or rate != 1 or fraction != 0:
        raise Unsupported("an empty edit or a rate other than 1")
    if int(pts.min()) < start:
        raise Unsupported("frames before the edit")
    # The edit's length is in the movie's time scale; frames shown after it are dropped.
    if length and (int(pts.max()) - start) * movie_scale >= length * scale:
        raise Unsupported("frames after the edit")
    return int(start)
