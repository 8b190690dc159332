"""The offline method's chapter count follows the granularity: fewer, normal, more."""

from __future__ import annotations

from pipeline.offline_topics import extract_topics
from pipeline.topics import chapters
from tests.pipeline.test_text_offline_topics import _lecture


def test_more_gives_more_chapters_than_fewer_on_a_long_lecture() -> None:
    transcript = _lecture(["photosynthesis", "castles", "programming"] * 3, 200.0)
    counts = {
        granularity: len(
            chapters(extract_topics(transcript, 1800.0, granularity=granularity), 1800.0)
        )
        for granularity in ("fewer", "normal", "more")
    }
    assert counts["fewer"] <= counts["normal"] <= counts["more"], counts
    assert counts["fewer"] < counts["more"], counts
    # YouTube's minimum still holds for a lecture this long.
    assert counts["fewer"] >= 3, counts


def test_a_short_talk_scales_within_its_bounds() -> None:
    transcript = _lecture(["photosynthesis", "castles", "programming"], 100.0)
    fewer = extract_topics(transcript, 300.0, granularity="fewer").topics
    more = extract_topics(transcript, 300.0, granularity="more").topics
    assert 1 <= len(fewer) < len(more), (fewer, more)


def test_an_unknown_granularity_reads_as_normal() -> None:
    transcript = _lecture(["photosynthesis", "castles"], 300.0)
    assert extract_topics(transcript, 600.0, granularity="odd") == extract_topics(transcript, 600.0)


def test_the_offline_summary_is_the_opening_sentences_and_none_for_a_short_talk() -> None:
    transcript = _lecture(["photosynthesis", "castles", "programming"], 300.0)
    found = extract_topics(transcript, 900.0)
    assert found.summary.startswith(transcript.segments[0].text)
    assert len(found.summary) <= 600
    short = _lecture(["castles"], 60.0)
    assert extract_topics(short, 60.0).summary == ""
