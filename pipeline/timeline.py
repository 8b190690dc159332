"""The keep-list: which parts of the source survive, and how times map between the two.

The *source timeline* is the recording as it arrived; the *output timeline* is the
trimmed video everyone else sees (transcript, topics, subtitles, chapters). A
:class:`Timeline` holds the kept source intervals in order and converts in both
directions.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open span ``[start, end)`` in seconds."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end >= self.start:
            raise ValueError(f"interval ends before it starts: {self.start} > {self.end}")

    @property
    def duration(self) -> float:
        return self.end - self.start

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True)
class Timeline:
    """Kept source intervals, sorted and disjoint, played back to back in the output."""

    keep: tuple[Interval, ...]
    _out_starts: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _src_starts: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for prev, cur in zip(self.keep, self.keep[1:], strict=False):
            if cur.start < prev.end:
                raise ValueError(f"kept intervals overlap or are unsorted: {prev} then {cur}")
        starts: list[float] = []
        total = 0.0
        for iv in self.keep:
            starts.append(total)
            total += iv.duration
        object.__setattr__(self, "_out_starts", tuple(starts))
        object.__setattr__(self, "_src_starts", tuple(iv.start for iv in self.keep))

    @classmethod
    def of(cls, intervals: Iterable[Interval | Sequence[float]]) -> Timeline:
        """Build from intervals or ``(start, end)`` pairs; empty ones are dropped, touching
        or overlapping ones merged."""
        spans = sorted(
            iv if isinstance(iv, Interval) else Interval(float(iv[0]), float(iv[1]))
            for iv in intervals
        )
        merged: list[Interval] = []
        for iv in spans:
            if iv.duration <= 0:
                continue
            if merged and iv.start <= merged[-1].end:
                last = merged.pop()
                iv = Interval(last.start, max(last.end, iv.end))
            merged.append(iv)
        return cls(tuple(merged))

    @classmethod
    def whole(cls, duration: float) -> Timeline:
        return cls.of([Interval(0.0, duration)])

    def __iter__(self) -> Iterator[Interval]:
        return iter(self.keep)

    def __len__(self) -> int:
        return len(self.keep)

    @property
    def duration(self) -> float:
        """Length of the output."""
        return self._out_starts[-1] + self.keep[-1].duration if self.keep else 0.0

    @property
    def output_starts(self) -> tuple[float, ...]:
        """Where each kept interval begins on the output timeline."""
        return self._out_starts

    def removed(self, source_duration: float) -> list[Interval]:
        """The source intervals that do not reach the output."""
        gaps: list[Interval] = []
        pos = 0.0
        for iv in self.keep:
            if iv.start > pos:
                gaps.append(Interval(pos, iv.start))
            pos = iv.end
        if source_duration > pos:
            gaps.append(Interval(pos, source_duration))
        return gaps

    def to_output(self, t_source: float) -> float:
        """Output time of a source time; a time that was cut away maps to the cut point."""
        if not self.keep:
            return 0.0
        i = bisect.bisect_right(self._src_starts, t_source) - 1
        if i < 0:
            return 0.0
        iv = self.keep[i]
        return self._out_starts[i] + min(t_source - iv.start, iv.duration)

    def to_source(self, t_output: float) -> float:
        """Source time shown at an output time; a cut point maps to the start of what follows."""
        if not self.keep:
            return 0.0
        if t_output <= 0:
            return self.keep[0].start
        i = bisect.bisect_right(self._out_starts, t_output) - 1
        iv = self.keep[i]
        return iv.start + min(t_output - self._out_starts[i], iv.duration)

    def to_output_interval(self, span: Interval) -> Interval | None:
        """The output span of a source span, or None when all of it was cut away."""
        start, end = self.to_output(span.start), self.to_output(span.end)
        return Interval(start, end) if end > start else None

    def pairs(self) -> list[list[float]]:
        """``[[start, end], ...]`` as report.json stores it."""
        return [[iv.start, iv.end] for iv in self.keep]
