"""The keep-list: mapping between the source and the output timeline."""

from __future__ import annotations

import pytest

from pipeline.timeline import Interval, Timeline


@pytest.fixture
def timeline() -> Timeline:
    # Keeps 2-5 and 8-10 of a 12-second source.
    return Timeline.of([(2.0, 5.0), (8.0, 10.0)])


def test_duration_is_the_sum_of_the_kept_parts(timeline: Timeline) -> None:
    assert timeline.duration == 5.0
    assert timeline.output_starts == (0.0, 3.0)


def test_source_times_map_to_the_output(timeline: Timeline) -> None:
    assert timeline.to_output(2.0) == 0.0
    assert timeline.to_output(4.5) == 2.5
    assert timeline.to_output(8.0) == 3.0
    assert timeline.to_output(9.5) == 4.5


def test_a_time_that_was_cut_maps_to_the_cut_point(timeline: Timeline) -> None:
    assert timeline.to_output(0.5) == 0.0
    assert timeline.to_output(6.0) == 3.0
    assert timeline.to_output(11.0) == 5.0


def test_output_times_map_back_to_the_source(timeline: Timeline) -> None:
    assert timeline.to_source(0.0) == 2.0
    assert timeline.to_source(2.5) == 4.5
    assert timeline.to_source(3.0) == 8.0  # the cut point shows what follows it
    assert timeline.to_source(5.0) == 10.0
    for t in (0.3, 1.7, 3.4, 4.9):
        assert timeline.to_output(timeline.to_source(t)) == pytest.approx(t)


def test_intervals_map_whole_or_clipped(timeline: Timeline) -> None:
    assert timeline.to_output_interval(Interval(3.0, 4.0)) == Interval(1.0, 2.0)
    assert timeline.to_output_interval(Interval(4.0, 9.0)) == Interval(2.0, 4.0)
    assert timeline.to_output_interval(Interval(5.5, 7.5)) is None


def test_building_merges_overlaps_and_drops_empty_parts() -> None:
    t = Timeline.of([(5.0, 6.0), (1.0, 2.0), (1.5, 3.0), (4.0, 4.0)])
    assert t.pairs() == [[1.0, 3.0], [5.0, 6.0]]
    assert t.removed(8.0) == [Interval(0.0, 1.0), Interval(3.0, 5.0), Interval(6.0, 8.0)]


def test_unsorted_or_overlapping_keep_lists_are_rejected() -> None:
    with pytest.raises(ValueError):
        Timeline((Interval(3.0, 4.0), Interval(1.0, 2.0)))
    with pytest.raises(ValueError):
        Interval(2.0, 1.0)


def test_empty_timeline_maps_everything_to_zero() -> None:
    empty = Timeline.of([])
    assert (empty.duration, empty.to_output(3.0), empty.to_source(1.0)) == (0.0, 0.0, 0.0)
