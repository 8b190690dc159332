"""The H.264 decoder configuration of an MP4 video track (``avcC``): its parameter sets
and their ids, and one configuration serving two encoders at once.

A smart cut puts frames re-encoded by x264 between frames copied from the source. When
x264 numbers its parameter sets differently from the source (``sps-id``), both sets can
sit side by side in one ``avcC``: each slice names the set it was coded with, so every
frame decodes with its own and the file keeps a single sample description.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

_ENTRY_FIELDS = 78
"""Bytes of a visual sample entry before its child boxes (ISO/IEC 14496-12, 12.1.3)."""
_MOST_IDS = 32
"""Sequence parameter set ids run from 0 to 31."""
_MOST_NAL_UNITS = 1024
"""NAL units in one sample beyond which it is taken as broken."""
_WINDOW = 32 * 2**20
"""Bytes of the file mapped at a time to check samples."""


class _Bits:
    """A reader of an RBSP's bits (emulation prevention bytes removed)."""

    def __init__(self, nal: bytes) -> None:
        self.data = nal.replace(b"\x00\x00\x03", b"\x00\x00")
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos // 8]  # IndexError past the end: a broken set
        self.pos += 1
        return (byte >> (7 - (self.pos - 1) % 8)) & 1

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("not an exp-Golomb code")
        value = 0
        for _ in range(zeros):
            value = value << 1 | self.bit()
        return (1 << zeros) - 1 + value


def sps_id(nal: bytes) -> int:
    """The id of a sequence parameter set NAL unit (header byte included)."""
    bits = _Bits(nal[4:])  # after the header, profile, constraint flags and level
    return bits.ue()


def pps_id(nal: bytes) -> int:
    """The id of a picture parameter set NAL unit (header byte included)."""
    return _Bits(nal[1:]).ue()


class Config:
    """A parsed ``avcC`` body."""

    def __init__(self, body: bytes) -> None:
        if len(body) < 7 or body[0] != 1:
            raise ValueError("not an avcC configuration")
        self.head = body[:5]
        pos = 5
        self.sps: list[bytes] = []
        self.pps: list[bytes] = []
        for kind, mask in ((self.sps, 0x1F), (self.pps, 0xFF)):
            count = body[pos] & mask
            pos += 1
            for _ in range(count):
                (length,) = struct.unpack_from(">H", body, pos)
                nal = body[pos + 2 : pos + 2 + length]
                if len(nal) != length or not nal:
                    raise ValueError("a parameter set overruns the configuration")
                kind.append(nal)
                pos += 2 + length
        self.rest = body[pos:]

    @property
    def length_size(self) -> int:
        """Bytes of the length before each NAL unit in a sample."""
        return (self.head[4] & 3) + 1

    @property
    def ids(self) -> set[int]:
        return {sps_id(n) for n in self.sps} | {pps_id(n) for n in self.pps}

    def free_id(self) -> int | None:
        """An id neither its sequence nor its picture parameter sets use."""
        used = self.ids
        return next((i for i in range(1, _MOST_IDS) if i not in used), None)

    def joined(self, other: Config) -> bytes:
        """This configuration with ``other``'s parameter sets added: this one's profile,
        level and NAL length size, which ``other`` must share. Raises ValueError when the
        two name different sets by the same id."""
        if other.head[4] & 3 != self.head[4] & 3:
            raise ValueError("different NAL length sizes")
        sps = self.sps + [n for n in other.sps if n not in self.sps]
        pps = self.pps + [n for n in other.pps if n not in self.pps]
        if len({sps_id(n) for n in sps}) != len(sps) or len({pps_id(n) for n in pps}) != len(pps):
            raise ValueError("two parameter sets share an id")
        out = bytearray(self.head)
        out.append(0xE0 | len(sps))
        for n in sps:
            out += struct.pack(">H", len(n)) + n
        out.append(len(pps))
        for n in pps:
            out += struct.pack(">H", len(n)) + n
        return bytes(out + self.rest)


def entry_config(entry: bytes) -> Config | None:
    """The ``avcC`` of an ``avc1``/``avc3`` sample entry (a whole box), or None."""
    found = _config_box(entry)
    if found is None:
        return None
    start, end = found
    try:
        return Config(entry[start + 8 : end])
    except (ValueError, IndexError, struct.error):
        return None


def with_config(entry: bytes, config: bytes) -> bytes:
    """The sample entry with its ``avcC`` replaced by ``config``."""
    found = _config_box(entry)
    if found is None:
        raise ValueError("no avcC in the sample entry")
    start, end = found
    body = entry[8:start] + struct.pack(">I4s", 8 + len(config), b"avcC") + config + entry[end:]
    return struct.pack(">I", 8 + len(body)) + entry[4:8] + body


def _config_box(entry: bytes) -> tuple[int, int] | None:
    if len(entry) < 8 + _ENTRY_FIELDS or entry[4:8] not in (b"avc1", b"avc3"):
        return None
    pos = 8 + _ENTRY_FIELDS
    while pos + 8 <= len(entry):
        length, kind = struct.unpack_from(">I4s", entry, pos)
        if length < 8 or pos + length > len(entry):
            return None
        if kind == b"avcC":
            return pos, pos + length
        pos += length
    return None


def whole_samples(
    path: Path, offsets: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64], length_size: int
) -> npt.NDArray[np.bool_]:
    """Whether each sample's length-prefixed NAL units fill it exactly, the way a few
    overwritten kilobytes leave them not. Samples are walked together, one NAL unit a
    round, touching only the length fields, through a window of the file at a time (the
    pages a mapping touches count as the process's memory)."""
    whole = np.zeros(offsets.size, dtype=bool)
    if offsets.size == 0:
        return whole
    total = path.stat().st_size
    order = np.argsort(offsets, kind="stable")
    starts = offsets[order]
    first = 0
    while first < order.size:
        last = int(np.searchsorted(starts, starts[first] + _WINDOW, side="left"))
        last = max(last, first + 1)
        rows = order[first:last]
        low = int(starts[first])
        high = min(int((offsets[rows] + sizes[rows]).max()), total)
        if high > low:
            data = np.memmap(path, dtype=np.uint8, mode="r", offset=low, shape=(high - low,))
            whole[rows] = _walk(data, offsets[rows] - low, sizes[rows], length_size)
            del data
        first = last
    return whole


def _walk(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    length_size: int,
) -> npt.NDArray[np.bool_]:
    pos = offsets.astype(np.int64)
    end = pos + sizes
    whole = (sizes > 0) & (end <= data.size)
    pos = np.where(whole, pos, end)
    for _ in range(_MOST_NAL_UNITS):
        active = np.flatnonzero(pos < end)
        if active.size == 0:
            break
        at = pos[active]
        fits = at + length_size <= end[active]
        at = np.maximum(np.where(fits, at, end[active] - length_size), 0)
        length = np.zeros(active.size, dtype=np.int64)
        for k in range(length_size):
            length = length << 8 | data[at + k].astype(np.int64)
        ok = fits & (length > 0)
        whole[active[~ok]] = False
        pos[active] = np.where(ok, at + length_size + length, end[active])
    else:
        whole[pos < end] = False
    return whole & (pos == end)
