"""Writing an MP4 from samples already coded in other MP4 files, without ffmpeg.

A smart cut's output is mostly the source's own samples in a new order: the picture from
keyframes on, the sound packet by packet, and a few re-encoded frames at the joins.
Putting them into a file is bookkeeping, so this module does it itself: it works out the
new index and copies each run of sample bytes in one call (in the kernel, where it can).
ffmpeg's concat demuxer, which did the same job, spends most of its time formatting
timestamps for a log it does not print.

The file has its index first, so it plays while downloading; the two tracks are
interleaved as in the source. The picture track keeps the source's header
(display size, rotation) and starts with one edit that hides the B-frame delay, as
ffmpeg writes it.
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]

MOVIE_SCALE = 1000
GAP = 1 << 12
_U32 = 2**32 - 1
_COPY_BLOCK = 1 << 24


@dataclass(frozen=True)
class OutTrack:
    """One track of the file to write: its samples in decoding order."""

    handler: bytes
    """b"vide" or b"soun"."""
    timescale: int
    entry: bytes
    """The sample entry box (``avc1``, ``mp4a``, ...)."""
    tkhd: bytes
    """A track header body to take the layer, volume, matrix and display size from."""
    files: npt.NDArray[np.intp]
    """For each sample, which of the files it is copied from."""
    offsets: Ints
    sizes: Ints
    dts: Ints
    """Decoding times, strictly increasing, starting at 0."""
    cts: Ints
    """Composition offsets, none negative."""
    key: npt.NDArray[np.bool_]
    last_duration: int
    """How long the last sample lasts."""
    edit: int = 0
    """Media time shown first (the B-frame delay)."""
    shown: int | None = None
    """Ticks shown from ``edit`` on; all of the track when None."""
    group: Ints | None = None
    """For each sample, which stretch of the output it belongs to (ascending in time):
    the media data is laid out group by group."""

    @property
    def length(self) -> int:
        return int(self.dts[-1]) + self.last_duration

    @property
    def shown_length(self) -> int:
        return self.shown if self.shown is not None else self.length - self.edit


def write(out: Path, files: Sequence[Path], tracks: Sequence[OutTrack]) -> None:
    """Write ``tracks`` (samples copied from ``files``) to ``out`` as an MP4, index first.

    The media data keeps the order the samples have in their files within each group
    (see :attr:`OutTrack.group`), so runs of samples that lie together in a source, both
    tracks interleaved as the source has them, are copied as one; the few bytes between
    two samples that were not kept (up to ``GAP`` bytes) are copied along rather than
    splitting the run, and nothing refers to them."""
    for track in tracks:
        if track.dts.size == 0 or track.dts[0] != 0 or (np.diff(track.dts) <= 0).any():
            raise ValueError("decoding times must start at 0 and increase")
        if (track.cts < 0).any() or track.last_duration <= 0:
            raise ValueError("negative composition offset or empty last sample")
    group = np.concatenate([np.zeros_like(t.dts) if t.group is None else t.group for t in tracks])
    file = np.concatenate([t.files for t in tracks])
    offset = np.concatenate([t.offsets for t in tracks])
    size = np.concatenate([t.sizes for t in tracks])
    order = np.lexsort((offset, file, group))
    f, o, z = file[order], offset[order], size[order]
    gap = o[1:] - (o[:-1] + z[:-1])
    starts = np.flatnonzero(np.concatenate(([True], (f[1:] != f[:-1]) | (gap < 0) | (gap > GAP))))
    ends = np.append(starts[1:], order.size) - 1
    span_from = o[starts]
    span_len = o[ends] + z[ends] - span_from
    data = int(span_len.sum())
    wide = data + 16 > _U32
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41")
    # Where each sample lands, relative to the start of the media data.
    span_at = np.concatenate(([0], np.cumsum(span_len)[:-1]))
    span_of = np.repeat(np.arange(starts.size), np.diff(np.append(starts, order.size)))
    placed = np.empty(order.size, dtype=np.int64)
    placed[order] = span_at[span_of] + o - span_from[span_of]
    bounds = np.cumsum([0] + [t.dts.size for t in tracks])
    where = [placed[a:b] for a, b in itertools.pairwise(bounds)]
    chunks = [_chunks(t, w) for t, w in zip(tracks, where, strict=True)]
    # The index's size does not depend on the offsets in it: measure it, then write it.
    header = 16 if wide else 8
    base = len(ftyp) + len(_moov(tracks, chunks, where, wide, 0)) + header
    moov = _moov(tracks, chunks, where, wide, base)
    if wide:
        mdat = struct.pack(">I4sQ", 1, b"mdat", data + 16)
    else:
        mdat = struct.pack(">I4s", data + 8, b"mdat")
    handles = [os.open(p, os.O_RDONLY) for p in files]
    try:
        with out.open("wb") as fh:
            fh.write(ftyp + moov + mdat)
            fh.flush()
            for k, at, length in zip(f[starts], span_from, span_len, strict=True):
                _copy(handles[int(k)], fh.fileno(), int(at), int(length))
    finally:
        for h in handles:
            os.close(h)


def _chunks(track: OutTrack, placed: Ints) -> Ints:
    """Sample indexes where chunks start, plus the sample count: a chunk is a run of
    samples that follow each other in the written file."""
    joined = placed[1:] == placed[:-1] + track.sizes[:-1]
    breaks = np.flatnonzero(~joined) + 1
    return np.concatenate(([0], breaks, [track.dts.size])).astype(np.int64)


def _copy(src: int, dst: int, offset: int, count: int) -> None:
    """Append ``count`` bytes from ``offset`` of ``src`` to ``dst``."""
    while count > 0:
        try:
            done = os.copy_file_range(src, dst, min(count, _COPY_BLOCK), offset)
        except OSError:
            done = 0
        if done <= 0:
            block = os.pread(src, min(count, _COPY_BLOCK), offset)
            if not block:
                raise OSError("a sample lies past the end of its file")
            done = os.write(dst, block)
        offset += done
        count -= done


# --- boxes ---------------------------------------------------------------------------------


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full(kind: bytes, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", flags), *parts)


def _u32(value: int) -> bytes:
    if not 0 <= value <= _U32:
        raise ValueError("a value does not fit in 32 bits")
    return struct.pack(">I", value)


_MATRIX = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _moov(
    tracks: Sequence[OutTrack],
    chunks: Sequence[Ints],
    placed: Sequence[Ints],
    wide: bool,
    base: int,
) -> bytes:
    movie = max(_movie_ticks(t, t.shown_length) for t in tracks)
    mvhd = _full(
        b"mvhd",
        0,
        _u32(0) + _u32(0) + _u32(MOVIE_SCALE) + _u32(movie),
        struct.pack(">iH10x", 0x10000, 0x100),
        _MATRIX,
        bytes(24),
        _u32(len(tracks) + 1),
    )
    rows = zip(tracks, chunks, placed, strict=True)
    traks = [_trak(i + 1, t, c, base + p[c[:-1]], wide) for i, (t, c, p) in enumerate(rows)]
    return _box(b"moov", mvhd, *traks)


def _movie_ticks(track: OutTrack, ticks: int) -> int:
    return -(-ticks * MOVIE_SCALE // track.timescale)


def _trak(number: int, t: OutTrack, chunks: Ints, placed: Ints, wide: bool) -> bytes:
    # Layer, alternate group, volume, matrix and display size, as the source says them.
    tail = t.tkhd[44:96] if t.tkhd[0] == 1 else t.tkhd[32:84]
    tkhd = _full(
        b"tkhd",
        3,  # enabled, in the movie
        _u32(0) + _u32(0) + _u32(number) + bytes(4) + _u32(_movie_ticks(t, t.shown_length)),
        bytes(8),
        tail,
    )
    parts = [tkhd]
    if t.edit or t.shown is not None:
        entry = _u32(_movie_ticks(t, t.shown_length)) + struct.pack(">ihH", t.edit, 1, 0)
        parts.append(_box(b"edts", _full(b"elst", 0, _u32(1), entry)))
    mdhd = _full(
        b"mdhd",
        0,
        _u32(0) + _u32(0) + _u32(t.timescale) + _u32(t.length),
        struct.pack(">HH", 0x55C4, 0),  # language "und"
    )
    name = b"VideoHandler\0" if t.handler == b"vide" else b"SoundHandler\0"
    hdlr = _full(b"hdlr", 0, bytes(4), t.handler, bytes(12), name)
    if t.handler == b"vide":
        media_header = _full(b"vmhd", 1, bytes(8))
    else:
        media_header = _full(b"smhd", 0, bytes(4))
    dinf = _box(b"dinf", _full(b"dref", 0, _u32(1), _full(b"url ", 1)))
    minf = _box(b"minf", media_header, dinf, _stbl(t, chunks, placed, wide))
    parts.append(_box(b"mdia", mdhd, hdlr, minf))
    return _box(b"trak", *parts)


def _stbl(t: OutTrack, chunks: Ints, placed: Ints, wide: bool) -> bytes:
    deltas = np.append(np.diff(t.dts), t.last_duration)
    boxes = [_full(b"stsd", 0, _u32(1), t.entry), _full(b"stts", 0, *_runs(deltas))]
    if t.cts.any():
        boxes.append(_full(b"ctts", 0, *_runs(t.cts)))
    if not t.key.all():
        sync = np.flatnonzero(t.key) + 1
        boxes.append(_full(b"stss", 0, _u32(sync.size), sync.astype(">u4").tobytes()))
    if (t.sizes > _U32).any():
        raise ValueError("a sample larger than 4 GB")
    boxes.append(_full(b"stsz", 0, _u32(0), _u32(t.sizes.size), t.sizes.astype(">u4").tobytes()))
    per_chunk = np.diff(chunks)
    change = np.flatnonzero(np.concatenate(([True], per_chunk[1:] != per_chunk[:-1])))
    rows = np.stack([change + 1, per_chunk[change], np.ones_like(change)], axis=1)
    boxes.append(_full(b"stsc", 0, _u32(change.size), rows.astype(">u4").tobytes()))
    if wide:
        boxes.append(_full(b"co64", 0, _u32(placed.size), placed.astype(">u8").tobytes()))
    else:
        boxes.append(_full(b"stco", 0, _u32(placed.size), placed.astype(">u4").tobytes()))
    return _box(b"stbl", *boxes)


def _runs(values: Ints) -> tuple[bytes, bytes]:
    """A run-length table (count, value) of ``values``, with its entry count."""
    change = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(change, values.size))
    if (values < 0).any() or (values > _U32).any():
        raise ValueError("a table value out of range")
    rows = np.stack([counts, values[change]], axis=1)
    return _u32(change.size), rows.astype(">u4").tobytes()
