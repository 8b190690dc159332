"""When a language model's summary is usable."""

from __future__ import annotations

from integrations.llm.summary import MAX_SUMMARY_CHARS, summary_problem


def test_a_summary_must_be_said_short_and_in_the_lectures_script() -> None:
    assert summary_problem("The lecture covers sampling.", "en") is None
    assert summary_problem("Лекция о дискретизации сигналов.", "ru") is None
    assert summary_problem("Лекция о дискретизации сигналов.", "en") is not None
    assert summary_problem("The lecture covers sampling.", "ru") is not None
    assert summary_problem("   ", "en") == "the summary is empty"
    assert summary_problem("word " * MAX_SUMMARY_CHARS, "en") is not None
    # A language of another script is taken as it is.
    assert summary_problem("講義はサンプリングについてです。", "ja") is None
