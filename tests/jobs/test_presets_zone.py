"""A recording's publication time keeps the workspace's zone, and the card shows it in it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.presets_text import scheduled_note, summary, when_text
from pipeline import presets
from pipeline.templates import Template

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "lang", "shown"),
    [
        ("Europe/Moscow", "ru", "7 дек 10:00 MSK"),
        ("Europe/London", "en", "7 Dec 10:00 GMT"),
        ("Asia/Yekaterinburg", "en", "7 Dec 10:00 Asia/Yekaterinburg"),
    ],
)
def test_a_templates_time_is_shown_in_the_zone_compose_read_it_in(
    zone: str, lang: str, shown: str
) -> None:
    options = presets.template_options(Template(name="Course", publish_at="+2d 10:00"), NOW, zone)
    assert options["timezone"] == zone
    media = {"compose": options}
    chosen = presets.effective(media)
    assert when_text(lang, chosen.publish_at) == shown
    assert shown in summary(lang, chosen, ["youtube"])
    # What YouTube is sent stays in UTC.
    assert chosen.youtube_fields()["publishAt"].endswith("Z")
    publish = {"youtube": {"scheduled": chosen.youtube_fields()["publishAt"]}}
    assert shown in scheduled_note({**media, "publish": publish}, "youtube", lang)


def test_without_a_zone_times_stay_in_utc() -> None:
    options = presets.template_options(Template(name="Course", publish_at="+2d 10:00"), NOW)
    assert options["timezone"] is None
    chosen = presets.effective({"compose": options})
    assert when_text("en", chosen.publish_at) == "7 Dec 10:00 UTC"


def test_a_time_typed_on_the_card_keeps_its_own_zone_over_the_templates() -> None:
    typed = datetime(2026, 12, 8, 9, 0, tzinfo=UTC).isoformat()
    media = {
        "compose": {"timezone": "Europe/London"},
        "presets": {"publish_at": typed, "timezone": "Europe/Moscow"},
    }
    assert when_text("en", presets.effective(media).publish_at) == "8 Dec 12:00 MSK"
