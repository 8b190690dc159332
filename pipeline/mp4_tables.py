"""Where every sample of an MP4/MOV file's first video and first audio track lies, read
from the file's index (``moov``): byte offset, size, decoding time, composition offset and
whether it is a keyframe, with the track's sample description and header as they are.

This is what :mod:`pipeline.mp4_write` needs to copy samples out of the file without
ffmpeg. Only the plain layouts :mod:`pipeline.mp4_index` reads are read here (one sample
description, one edit or none, no fragments); anything else gives None.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pipeline.mp4_index import (
    Unsupported,
    children,
    edit_start,
    find_moov,
    one,
    sample_times,
    table,
    timescale,
)

Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Track:
    """One track's samples in decoding (file index) order; times in the track's ticks."""

    path: Path
    timescale: int
    offsets: Ints
    sizes: Ints
    dts: Ints
    """Decoding time of each sample on the media timeline (before the edit list)."""
    cts: Ints
    """Composition offset of each sample (presentation minus decoding time)."""
    key: npt.NDArray[np.bool_]
    edit: int
    """Media time where the one edit starts (0 without an edit list)."""
    entry: bytes
    """The track's one sample entry (``avc1``, ``mp4a``, ...), a whole box."""
    tkhd: bytes
    """The track header's body: display size and matrix (rotation) come from here."""

    @property
    def pts(self) -> Ints:
        """Presentation time of each sample after the edit (the first frame shown is 0)."""
        return self.dts + self.cts - self.edit


@dataclass(frozen=True)
class Movie:
    video: Track | None
    audio: Track | None


def read_movie(path: Path) -> Movie | None:
    """The first video and first audio track of an MP4/MOV file, or None when the file is
    not one or its layout is not a plain one (see :mod:`pipeline.mp4_index`)."""
    try:
        with path.open("rb") as fh:
            moov = find_moov(fh)
        if moov is None:
            return None
        top = children(moov)
        movie_scale = timescale(one(top, b"mvhd"), movie=True)
        found: dict[bytes, Track] = {}
        for trak in top.get(b"trak", []):
            kind = one(children(one(children(trak), b"mdia")), b"hdlr")[8:12]
            if kind in (b"vide", b"soun") and kind not in found:
                found[kind] = _track(path, trak, movie_scale)
        return Movie(video=found.get(b"vide"), audio=found.get(b"soun"))
    except (Unsupported, OSError, struct.error, ValueError):
        return None


def _track(path: Path, trak: bytes, movie_scale: int) -> Track:
    boxes = children(trak)
    mdia = children(one(boxes, b"mdia"))
    kind = one(mdia, b"hdlr")[8:12]
    scale = timescale(one(mdia, b"mdhd"), movie=False)
    stbl = children(one(children(one(mdia, b"minf")), b"stbl"))
    stsd = one(stbl, b"stsd")
    if struct.unpack_from(">I", stsd, 4)[0] != 1:
        raise Unsupported("several sample descriptions")
    entry = stsd[8:]
    dts, cts, key = sample_times(stbl)
    sizes = _sizes(one(stbl, b"stsz"), dts.size)
    edts = boxes.get(b"edts", [])
    elst = children(edts[0]).get(b"elst", []) if len(edts) == 1 else []
    if len(edts) > 1 or len(elst) > 1:
        raise Unsupported("several edit lists")
    edit = 0
    if elst and kind == b"vide":
        edit = edit_start(elst[0], dts + cts, scale, movie_scale)
    elif elst:
        # Sound starts with priming samples before its edit; which of them are heard is
        # the caller's to say (the first packet's time as ffmpeg reads it).
        edit = _sound_edit(elst[0])
    offsets = _offsets(stbl, sizes)
    return Track(
        path=path,
        timescale=scale,
        offsets=offsets,
        sizes=sizes,
        dts=dts,
        cts=cts,
        key=key,
        edit=edit,
        entry=entry,
        tkhd=one(boxes, b"tkhd"),
    )


def _sizes(stsz: bytes, count: int) -> Ints:
    size = struct.unpack_from(">I", stsz, 4)[0]
    if size:
        return np.full(count, size, dtype=np.int64)
    return np.frombuffer(stsz, dtype=">u4", count=count, offset=12).astype(np.int64)


def _offsets(stbl: dict[bytes, list[bytes]], sizes: Ints) -> Ints:
    """Each sample's byte offset: chunks start where ``stco``/``co64`` say, and a chunk's
    samples (how many, ``stsc``) follow each other in it."""
    if b"co64" in stbl:
        box = one(stbl, b"co64")
        (n,) = struct.unpack_from(">I", box, 4)
        chunk_at = np.frombuffer(box, dtype=">u8", count=n, offset=8).astype(np.int64)
    else:
        chunk_at = table(one(stbl, b"stco"), 1)[:, 0]
    runs = table(one(stbl, b"stsc"), 3)
    if runs.size == 0 or (runs[:, 2] != 1).any() or runs[0, 0] != 1:
        raise Unsupported("chunk table")
    firsts = runs[:, 0] - 1
    if (np.diff(firsts) <= 0).any() or firsts[-1] >= chunk_at.size:
        raise Unsupported("chunk table out of order")
    per_chunk = np.repeat(runs[:, 1], np.diff(np.append(firsts, chunk_at.size)))
    if int(per_chunk.sum()) != sizes.size:
        raise Unsupported("chunk table does not match the sample count")
    chunk = np.repeat(np.arange(chunk_at.size), per_chunk)
    before = np.concatenate(([0], np.cumsum(sizes)))
    chunk_first = np.concatenate(([0], np.cumsum(per_chunk)))[:-1]
    return chunk_at[chunk] + before[:-1] - before[chunk_first[chunk]]


def _sound_edit(elst: bytes) -> int:
    (count,) = struct.unpack_from(">I", elst, 4)
    if count != 1:
        raise Unsupported("several edits")
    layout = ">QqhH" if elst[0] == 1 else ">IihH"
    _, start, rate, fraction = struct.unpack_from(layout, elst, 8)
    if start < 0 or rate != 1 or fraction != 0:
        raise Unsupported("an empty edit or a rate other than 1")
    return int(start)
