"""What the topics model is asked for fewer or more chapters."""

from __future__ import annotations

from integrations.llm.prompts import (
    MAX_TOPICS,
    MIN_TOPICS,
    cut_windows,
    map_request,
    reduce_request,
    topic_target,
)
from pipeline.topics import Topic, Topics
from pipeline.transcript import Segment, Transcript


def test_the_count_asked_for_scales_within_the_bounds() -> None:
    hour = 3600.0
    assert topic_target(hour, "fewer")[1] < topic_target(hour)[1] < topic_target(hour, "more")[1]
    assert topic_target(60.0, "fewer")[1] == MIN_TOPICS
    assert topic_target(10 * hour, "more")[1] == MAX_TOPICS
    assert topic_target(hour, "odd") == topic_target(hour)


def test_the_requests_say_which_chapters_are_wanted() -> None:
    transcript = Transcript(
        language="en", segments=[Segment(start=1.0, end=3.0, text="Good morning everyone.")]
    )
    windows = cut_windows(transcript, 1800.0, 24_000)
    assert "fewer, broader" in map_request(0, windows, 1800.0, "fewer")
    assert "more, finer" in map_request(0, windows, 1800.0, "more")
    plain = map_request(0, windows, 1800.0)
    assert "broader" not in plain and "finer" not in plain
    parts = [Topics(topics=[Topic(start=0.0, title="Opening")])]
    assert "more, finer" in reduce_request(1800.0, windows, parts, "more")
