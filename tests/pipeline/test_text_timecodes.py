import pytest

from pipeline import timecodes
from pipeline.timecodes import (
    Chapter,
    TopicListError,
    format_hms,
    format_tc,
    parse_tc,
    parse_topic_list,
)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0.0, "0:00"), (59.99, "0:59"), (754.0, "12:34"), (3723.4, "1:02:03"), (-3.0, "0:00")],
)
def test_format_tc(seconds: float, expected: str) -> None:
    assert format_tc(seconds) == expected


def test_format_tc_always_hours_and_hms() -> None:
    assert format_tc(754.0, always_hours=True) == "0:12:34"
    assert format_hms(3723.9) == "01:02:03"
    assert format_hms(0) == "00:00:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1:02:03", 3723.0), ("02:03", 123.0), ("62:03", 3723.0), ("0:05.5", 5.5), ("0:07,25", 7.25)],
)
def test_parse_tc(text: str, expected: float) -> None:
    assert parse_tc(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "expected MM:SS"),
        ("12", "expected MM:SS"),
        ("1:75", "seconds"),
        ("1:61:00", "minutes"),
        ("1:2:3:4", "expected"),
    ],
)
def test_parse_tc_explains_bad_input(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_tc(text)


def test_parse_topic_list_accepts_common_forms() -> None:
    text = """
    00:00 Intro
    - 01:30 — Part one
    [05:00] Part two
    1:10:00. Part three
    01:15:20 | Q & A
    """
    assert parse_topic_list(text, duration=5000.0) == [
        Chapter(start=0.0, title="Intro"),
        Chapter(start=90.0, title="Part one"),
        Chapter(start=300.0, title="Part two"),
        Chapter(start=4200.0, title="Part three"),
        Chapter(start=4520.0, title="Q & A"),
    ]


def _codes(text: str, duration: float = 600.0) -> list[tuple[int, str]]:
    with pytest.raises(TopicListError) as caught:
        parse_topic_list(text, duration)
    return [(e.line_no, e.code) for e in caught.value.errors]


def test_each_error_code_names_its_line() -> None:
    assert _codes("00:00 Intro\nabout time\n02:00 B\n03:00 C") == [(2, "bad_time")]
    assert _codes("00:00 Intro\n01:75 Bad\n02:00 B\n03:00 C") == [(2, "bad_time")]
    assert _codes("00:00 Intro\n01:00\n02:00 B") == [(2, "no_title")]
    assert _codes("00:00 A\n01:00 B\n20:00 C") == [(3, "past_end")]
    assert _codes("00:00 A\n02:00 B\n01:00 C\n03:00 D") == [(3, "not_increasing")]
    assert _codes("00:00 A\n01:00 B\n09:55 C") == [(3, "too_close")]
    assert _codes("00:10 A\n01:00 B\n02:00 C") == [(1, "first_not_zero")]
    assert _codes("") == [(0, "no_topics")]


def test_a_topic_too_short_is_reported_on_its_own_line() -> None:
    # B runs from 1:00 to 1:05: B's line is the one to change, not C's.
    assert _codes("00:00 A\n01:00 B\n01:05 C\n03:00 D") == [(2, "too_close")]
    assert _codes("00:00 A\n00:05 B\n03:00 C") == [(1, "too_close")]
    with pytest.raises(TopicListError) as caught:
        parse_topic_list("00:00 Intro\n00:04 Main\n03:00 End", 600.0)
    assert [(e.line_no, e.line) for e in caught.value.errors] == [(1, "00:00 Intro")]


def test_how_many_topics_a_list_needs_is_the_callers_to_say() -> None:
    assert [c.title for c in parse_topic_list("00:00 Only", 600.0)] == ["Only"]
    assert [c.title for c in parse_topic_list("00:00 A\n01:00 B", 600.0)] == ["A", "B"]
    with pytest.raises(TopicListError) as caught:
        parse_topic_list("00:00 A\n01:00 B", 600.0, min_count=3)
    assert [(e.line_no, e.code) for e in caught.value.errors] == [(0, "too_few")]


def test_all_errors_are_reported_together() -> None:
    text = "00:05 A\n\nnonsense\n02:00\n01:00 C\n30:00 D"
    assert _codes(text) == [
        (1, "first_not_zero"),
        (3, "bad_time"),
        (4, "no_title"),
        (5, "not_increasing"),
        (6, "past_end"),
    ]


def test_ten_thousand_lines_are_refused_before_any_line_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(timecodes, "parse_tc", lambda text: calls.append(text) or 0.0)
    text = "\n".join(f"{i // 60:02d}:{i % 60:02d} Topic {i}" for i in range(10_000))
    assert _codes(text, duration=100_000.0) == [(0, "too_many_lines")]
    assert _codes("x" * 1_000_000) == [(0, "too_many_lines")]
    assert calls == []
