"""Publish presets: times as people write them, the card's changes over the template's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from pipeline import presets
from pipeline.presets import PresetError, Presets
from pipeline.templates import Template

NOW = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+2d 10:00", datetime(2026, 12, 7, 10, 0, tzinfo=UTC)),
        ("+2д 10.00", datetime(2026, 12, 7, 10, 0, tzinfo=UTC)),
        ("+3h", NOW + timedelta(hours=3)),
        ("+90m", NOW + timedelta(minutes=90)),
        ("+1ч", NOW + timedelta(hours=1)),
        ("2026-12-12 10:00", datetime(2026, 12, 12, 10, 0, tzinfo=UTC)),
        ("2026-12-12T10:00", datetime(2026, 12, 12, 10, 0, tzinfo=UTC)),
        ("12.12.2026 10:00", datetime(2026, 12, 12, 10, 0, tzinfo=UTC)),
        ("12.12 10:00", datetime(2026, 12, 12, 10, 0, tzinfo=UTC)),
        # A day and month already gone this year mean next year's.
        ("10.01 09:30", datetime(2027, 1, 10, 9, 30, tzinfo=UTC)),
    ],
)
def test_times_people_write(text: str, expected: datetime) -> None:
    assert presets.parse_when(text, NOW) == expected


def test_time_is_read_in_the_workspace_zone() -> None:
    moscow = ZoneInfo("Europe/Moscow")
    when = presets.parse_when("+1d 10:00", NOW, moscow)
    # 23:30 UTC is already the 6th in Moscow: one day on is the 7th, 10:00 there.
    assert when == datetime(2026, 12, 7, 10, 0, tzinfo=moscow)
    assert when.astimezone(UTC).hour == 7


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("tomorrow", "when_format"),
        ("+3h 10:00", "when_format"),
        ("31.02 10:00", "when_format"),
        ("2026-12-01 10:00", "when_past"),
        ("+0m", "when_past"),
        ("+400d", "when_far"),
    ],
)
def test_times_refused_with_a_reason(text: str, code: str) -> None:
    with pytest.raises(PresetError) as refused:
        presets.parse_when(text, NOW)
    assert refused.value.code == code


def test_a_scheduled_video_is_private_until_its_time() -> None:
    chosen = Presets(
        privacy="unlisted", publish_at=NOW + timedelta(days=1), notify_subscribers=False
    )
    fields = chosen.youtube_fields()
    assert fields["privacyStatus"] == "private"
    assert fields["publishAt"] == "2026-12-06T23:30:00Z"
    assert fields["notifySubscribers"] is False
    # Once the time has passed at upload, the video simply goes public.
    late = chosen.at_upload(NOW + timedelta(days=2))
    assert late.publish_at is None and late.privacy == "public"
    assert "publishAt" not in late.youtube_fields()


def test_the_cards_changes_win_over_the_templates() -> None:
    media = {
        "compose": {
            "privacy": "public",
            "playlist_id": "PLcourse",
            "license": "creativeCommon",
            "category_id": "28",
            "made_for_kids": False,
            "notify_subscribers": True,
            "vk_privacy": "friends",
            "vk_album_id": "12",
            "publish_at": (NOW + timedelta(days=3)).isoformat(),
        },
        "presets": {"privacy": "unlisted", "playlist_id": None, "vk_privacy": "nonsense"},
    }
    chosen = presets.effective(media)
    assert chosen.privacy == "unlisted"
    assert chosen.playlist_id is None  # cleared on the card
    assert chosen.vk_privacy == "friends"  # an invalid value never reaches a platform
    assert chosen.license == "creativeCommon" and chosen.category_id == "28"
    assert chosen.publish_at == NOW + timedelta(days=3)


def test_template_presets_are_validated_and_resolved_at_compose() -> None:
    template = Template(name="Course", publish_at="+2d 10:00", license="creativeCommon")
    options = presets.template_options(template, NOW)
    assert options["publish_at"] == datetime(2026, 12, 7, 10, 0, tzinfo=UTC).isoformat()
    assert options["license"] == "creativeCommon"
    with pytest.raises(ValidationError):
        Template(name="Bad", publish_at="next week")
    with pytest.raises(ValidationError):
        Template(name="Bad", license="cc-by")
    with pytest.raises(ValidationError):
        Template(name="Bad", category_id="education")


def test_a_templates_time_is_read_in_the_workspace_zone() -> None:
    template = Template(name="Course", publish_at="+1d 10:00")
    options = presets.template_options(template, NOW, "Europe/Moscow")
    assert (
        options["publish_at"]
        == datetime(2026, 12, 7, 7, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Moscow")).isoformat()
    )
