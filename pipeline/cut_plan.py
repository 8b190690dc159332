"""Planning a cut: the source's frames as a grid, and which of them are copied and which
re-encoded.

The rules this module keeps:

- Every cut point is moved to the nearest frame boundary (:meth:`FrameGrid.snap`), so the
  output frame times are exactly ``Timeline.to_output`` of the source frame times.
- A copy starts on a keyframe and ends on a *clean end*, a frame before which decoding
  order has caught up with presentation order (behind every frame without B-frames,
  behind each reference frame with them). Where the packet index does not say, a closed
  GOP ends where the next one starts.
- A cut point may move outwards by a few frames to reach a keyframe or a clean end
  (:meth:`FrameGrid.widen`): it only ever keeps more of what was to go, never less of what
  was to stay.
- Each kept span is re-encoded from its start to its first keyframe and copied from
  there on; a span whose end is not clean is copied to the last clean end before it and
  re-encoded after.
- A broken frame is never copied: the GOP around it is re-encoded, from the clean end
  before it to the next keyframe, and that piece is not exact (the decoder skips the
  frames it cannot read).
- Arithmetic over the packet index of :mod:`pipeline.packets` only: nothing here reads a
  file or starts a process. :mod:`pipeline.cut` carries the plan out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.errors import FFMPEG_FAILED, MediaError
from pipeline.packets import VideoPackets
from pipeline.timeline import Interval, Timeline

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Piece:
    """Frames ``first``..``last`` (exclusive) of the source, copied or re-encoded."""

    first: int
    last: int
    copy: bool
    exact: bool = True
    """False for a re-encoded piece holding broken frames: the decoder skips them, so it
    gives fewer frames, each at its own time."""


@dataclass(frozen=True)
class FrameGrid:
    """Frame times of the source plus the end of the last frame, and where it may be cut
    by stream copy."""

    bounds: FloatArray
    keyframes: npt.NDArray[np.intp]
    keyframe_dts: FloatArray
    frame: float
    reorder_frames: int
    clean: npt.NDArray[np.intp]
    """Frame indexes (ascending, never 0 or ``frames``) where a copy may end: the frames
    before one are the packets before it in decoding order."""
    clean_dts: FloatArray
    """Decoding time of the packet that starts at each clean index (same order)."""

    @property
    def frames(self) -> int:
        return len(self.bounds) - 1

    @classmethod
    def from_packets(cls, packets: VideoPackets, duration: float) -> FrameGrid:
        times = np.asarray(packets.frames, dtype=np.float64)
        if times.size == 0:
            raise MediaError(FFMPEG_FAILED, "the video stream has no frames")
        step = float(np.median(np.diff(times))) if times.size > 1 else max(duration, 0.04)
        end = max(times[-1] + step, min(duration, times[-1] + 2 * step))
        keys = np.searchsorted(times, np.asarray(packets.keyframes, dtype=np.float64))
        keys = np.clip(keys, 0, times.size - 1)
        key_dts = np.asarray(packets.keyframe_dts, dtype=np.float64)
        if packets.clean_ends is not None and packets.clean_end_dts is not None:
            clean = np.asarray(packets.clean_ends, dtype=np.intp)
            clean_dts = np.asarray(packets.clean_end_dts, dtype=np.float64)
        else:
            # Unknown: a closed GOP ends where the next one starts.
            inner = keys > 0
            clean, clean_dts = keys[inner], key_dts[inner]
        return cls(
            bounds=np.append(times, end),
            keyframes=keys,
            keyframe_dts=key_dts,
            frame=step,
            reorder_frames=round(packets.reorder_delay / step) if step > 0 else 0,
            clean=clean,
            clean_dts=clean_dts,
        )

    def nearest(self, t: float) -> int:
        i = int(np.searchsorted(self.bounds, t))
        if i == 0:
            return 0
        if i >= len(self.bounds):
            return len(self.bounds) - 1
        return i if self.bounds[i] - t < t - self.bounds[i - 1] else i - 1

    def snap(self, keep: Timeline) -> list[tuple[int, int]]:
        """The keep-list as frame index spans, each cut moved to the nearest frame boundary."""
        spans: list[tuple[int, int]] = []
        for iv in keep:
            a, b = self.nearest(iv.start), self.nearest(iv.end)
            if b <= a:
                continue
            if spans and a <= spans[-1][1]:
                a = spans.pop()[0]
            spans.append((a, b))
        return spans

    def is_clean(self, n: int) -> bool:
        """Whether a copy may end before frame ``n``."""
        if n >= self.frames:
            return True
        i = int(np.searchsorted(self.clean, n))
        return i < self.clean.size and int(self.clean[i]) == n

    def widen(self, spans: Sequence[tuple[int, int]], reach: int) -> list[tuple[int, int]]:
        """Spans moved outwards by at most ``reach`` frames where that lets them be copied:
        a start back to a keyframe, an end on to a clean end. Only ever keeps more;
        spans that come to touch are joined."""
        out: list[tuple[int, int]] = []
        for a, b in spans:
            k = int(np.searchsorted(self.keyframes, a, side="right")) - 1
            if k >= 0 and a - int(self.keyframes[k]) <= reach:
                a = int(self.keyframes[k])
            if not self.is_clean(b):
                c = int(np.searchsorted(self.clean, b))
                if c < self.clean.size and int(self.clean[c]) - b <= reach:
                    b = int(self.clean[c])
                elif self.frames - b <= reach:
                    b = self.frames
            if out and a <= out[-1][1]:
                a, b = out[-1][0], max(b, out.pop()[1])
            out.append((a, b))
        return out

    def frames_at(self, times: Sequence[float]) -> npt.NDArray[np.intp]:
        """Indexes (ascending, unique) of the frames shown at ``times``."""
        starts = self.bounds[:-1]
        found = np.searchsorted(starts, np.asarray(times, dtype=np.float64) - self.frame / 4)
        return np.unique(np.clip(found, 0, max(self.frames - 1, 0))).astype(np.intp)

    def timeline(self, spans: Sequence[tuple[int, int]]) -> Timeline:
        return Timeline.of(
            [Interval(float(self.bounds[a]), float(self.bounds[b])) for a, b in spans]
        )


def plan_pieces(
    grid: FrameGrid, spans: Sequence[tuple[int, int]], broken: Sequence[int] = ()
) -> list[Piece]:
    """Split frame spans into copied and re-encoded pieces.

    A copy must start on a keyframe and end on a clean end, so each span is encoded from
    its start to the first keyframe in it and copied from there on; when its end is not
    clean, the copy stops at the last clean end before it and the rest is encoded too.
    ``broken`` frames (ascending indexes) cannot be copied: the GOP around each one is
    re-encoded instead, from the clean end before it to the next keyframe.
    """
    pieces = _plan(grid, spans)
    if not len(broken):
        return pieces
    bad = np.asarray(broken, dtype=np.intp)
    out: list[Piece] = []
    for piece in pieces:
        inside = bad[(bad >= piece.first) & (bad < piece.last)]
        if inside.size == 0:
            out.append(piece)
        elif not piece.copy:
            out.append(Piece(piece.first, piece.last, copy=False, exact=False))
        else:
            out += _around_broken(grid, piece, inside)
    return out


def _around_broken(grid: FrameGrid, piece: Piece, broken: npt.NDArray[np.intp]) -> list[Piece]:
    """A copied piece split so that each broken frame's GOP is re-encoded."""
    keys, out = grid.keyframes, []
    start = piece.first  # a keyframe: where the next copy may begin
    for d in broken.tolist():
        if d < start:
            continue  # already inside the re-encoded stretch before
        # The re-encoded stretch starts on a frame before the broken one: its first frame
        # must decode, or the piece's frames would all move up into its place.
        c = int(np.searchsorted(grid.clean, d, side="left")) - 1
        end_copy = int(grid.clean[c]) if c >= 0 else start
        k = int(np.searchsorted(keys, d, side="right"))
        resume = min(int(keys[k]), piece.last) if k < keys.size else piece.last
        if end_copy > start:
            out.append(Piece(start, end_copy, copy=True))
        else:
            end_copy = start
        out.append(Piece(end_copy, resume, copy=False, exact=False))
        start = resume
    if start < piece.last:
        out.append(Piece(start, piece.last, copy=True))
    return out


def _plan(grid: FrameGrid, spans: Sequence[tuple[int, int]]) -> list[Piece]:
    keys = grid.keyframes
    pieces: list[Piece] = []
    for a, b in spans:
        inside = keys[(keys >= a) & (keys < b)]
        if inside.size == 0:
            pieces.append(Piece(a, b, copy=False))
            continue
        k1 = int(inside[0])
        if a < k1:
            pieces.append(Piece(a, k1, copy=False))
        if grid.is_clean(b):
            pieces.append(Piece(k1, b, copy=True))
            continue
        c = int(np.searchsorted(grid.clean, b)) - 1
        last = int(grid.clean[c]) if c >= 0 else -1
        if last > k1:
            pieces.append(Piece(k1, last, copy=True))
            pieces.append(Piece(last, b, copy=False))
        else:
            pieces.append(Piece(k1, b, copy=False))
    return pieces
