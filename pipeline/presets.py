"""Publish presets: what YouTube and VK are told about a video, per template and per recording.

Rules it keeps:

- A template carries the presets (`Template.privacy`, ``publish_at``, ``license``,
  ``category_id``, ``made_for_kids``, ``notify_subscribers``, ``playlist_id``, ``vk_privacy``,
  ``vk_album_id``); the compose stage copies them into ``recording.media["compose"]``
  (`template_options`, with ``publish_at`` resolved to a time), and a person's changes on the
  review card go to ``recording.media["presets"]``, which wins. `effective` merges the two
  and drops whatever is not a valid value, so a stored oddity never reaches a platform.
- A publication time is given as a date and time ("2026-12-12 10:00", "12.12.2026 10:00",
  "12.12 10:00"), or relative to now: "+2d 10:00" (two days on, at 10:00), "+3h", "+90m"
  (Russian "д", "ч", "м" too). It is read in the workspace's time zone when it has one, else
  in UTC, and must lie in the future, at most a year ahead (`parse_when`). The zone's name is
  kept beside the time (``timezone`` in ``media["presets"]`` or ``media["compose"]``), so the
  card and the outcome lines show it in that zone (`media_zone`).
- YouTube schedules only private videos: a scheduled video is uploaded private with
  ``status.publishAt`` and becomes public at that time (`Presets.youtube_fields`). A time
  that has passed by the moment of upload is dropped and the video is published as public.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

YOUTUBE_PRIVACY = ("public", "unlisted", "private")
LICENSES = ("youtube", "creativeCommon")
# The assignable YouTube categories a lecture may fall in, in the order the card cycles them.
CATEGORIES = ("27", "28", "22", "26", "24", "25", "29")
VK_PRIVACY = ("all", "friends", "only_me")
MAX_AHEAD = timedelta(days=366)
# YouTube wants a scheduled time in the future; a few minutes leave room for the upload.
MIN_AHEAD = timedelta(minutes=1)
FIELDS = (
    "privacy",
    "publish_at",
    "license",
    "category_id",
    "made_for_kids",
    "notify_subscribers",
    "playlist_id",
    "vk_privacy",
    "vk_album_id",
)

_RELATIVE = re.compile(r"^\+\s*(\d{1,3})\s*([dhmдчм])(?:\s+(\d{1,2})[:.](\d{2}))?$", re.IGNORECASE)
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?$")
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})(?:\.(\d{4}))?(?:\s+(\d{1,2})[:.](\d{2}))?$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class PresetError(ValueError):
    """A value a person typed that is no preset; `code` names a ``presets.error_*`` message."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def zone(name: str | None) -> tzinfo:
    """The workspace's time zone by its IANA name; UTC when it has none (or an unknown one)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def check_spec(spec: str | None) -> str | None:
    """A template's ``publish_at`` as written, refused when it is no time at all."""
    if spec is None or not spec.strip():
        return None
    spec = " ".join(spec.split())
    if not (_RELATIVE.match(spec) or _ISO.match(spec) or _DOTTED.match(spec)):
        raise ValueError('publish_at: a date and time ("2026-12-12 10:00") or "+2d 10:00"')
    return spec


def parse_when(text: str, now: datetime, tz: tzinfo = UTC) -> datetime:
    """The moment `text` names, in `tz`; PresetError when it is no time or not ahead."""
    spec = " ".join(text.split())
    local_now = now.astimezone(tz)
    when = _relative(spec, local_now, tz) or _absolute(spec, local_now, tz)
    if when is None:
        raise PresetError("when_format")
    if when < now + MIN_AHEAD:
        raise PresetError("when_past")
    if when > now + MAX_AHEAD:
        raise PresetError("when_far")
    return when


def _relative(spec: str, local_now: datetime, tz: tzinfo) -> datetime | None:
    found = _RELATIVE.match(spec)
    if found is None:
        return None
    amount, unit = int(found.group(1)), found.group(2).lower()
    if unit in ("d", "д"):
        day = local_now.date() + timedelta(days=amount)
        if found.group(3) is None:
            return local_now + timedelta(days=amount)
        return _at(day.year, day.month, day.day, found.group(3), found.group(4), tz)
    if found.group(3) is not None:
        return None  # "+3h 10:00" says two different things
    step = timedelta(hours=amount) if unit in ("h", "ч") else timedelta(minutes=amount)
    return local_now + step


def _absolute(spec: str, local_now: datetime, tz: tzinfo) -> datetime | None:
    iso = _ISO.match(spec)
    if iso is not None:
        year, month, day, hour, minute = iso.groups()
        return _at(int(year), int(month), int(day), hour or "0", minute or "00", tz)
    dotted = _DOTTED.match(spec)
    if dotted is None:
        return None
    day, month, year, hour, minute = dotted.groups()
    when = _at(int(year or local_now.year), int(month), int(day), hour or "0", minute or "00", tz)
    if when is not None and year is None and when < local_now:
        # "12.01" in December means next January.
        when = _at(local_now.year + 1, int(month), int(day), hour or "0", minute or "00", tz)
    return when


def _at(year: int, month: int, day: int, hour: str, minute: str, tz: tzinfo) -> datetime | None:
    try:
        return datetime(year, month, day, int(hour), int(minute), tzinfo=tz)
    except ValueError:
        return None


def check_id(text: str) -> str | None:
    """A playlist or album id as typed; "-" (or nothing) clears it."""
    value = text.strip()
    if value in ("", "-"):
        return None
    if not _ID.match(value):
        raise PresetError("id_format")
    return value


@dataclass(frozen=True)
class Presets:
    privacy: str = "private"
    publish_at: datetime | None = None
    license: str = "youtube"
    category_id: str = "27"
    made_for_kids: bool = False
    notify_subscribers: bool = True
    playlist_id: str | None = None
    vk_privacy: str = "all"
    vk_album_id: str | None = None

    @property
    def scheduled(self) -> bool:
        return self.publish_at is not None

    def at_upload(self, now: datetime) -> Presets:
        """What is sent when the upload starts: a time already passed means public now."""
        if self.publish_at is not None and self.publish_at <= now + MIN_AHEAD:
            return replace(self, publish_at=None, privacy="public")
        return self

    def youtube_fields(self) -> dict[str, Any]:
        """videos.insert's fields as `integrations.youtube.VideoMetadata` names them (status,
        the category of the snippet, and notifySubscribers, a parameter of the call)."""
        status: dict[str, Any] = {
            "privacyStatus": "private" if self.scheduled else self.privacy,
            "license": self.license,
            "selfDeclaredMadeForKids": self.made_for_kids,
            "categoryId": self.category_id,
            "notifySubscribers": self.notify_subscribers,
        }
        if self.publish_at is not None:
            # RFC 3339 in UTC, as YouTube documents status.publishAt.
            status["publishAt"] = self.publish_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return status


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        found = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def _valid(key: str, value: Any) -> Any:
    """The value when it is one the field takes, else None (the default then applies)."""
    if key == "privacy":
        return value if value in YOUTUBE_PRIVACY else None
    if key == "license":
        return value if value in LICENSES else None
    if key == "category_id":
        return str(value) if str(value).isdigit() and len(str(value)) <= 3 else None
    if key in ("made_for_kids", "notify_subscribers"):
        return value if isinstance(value, bool) else None
    if key == "vk_privacy":
        return value if value in VK_PRIVACY else None
    if key in ("playlist_id", "vk_album_id"):
        return str(value) if value and _ID.match(str(value)) else None
    if key == "publish_at":
        return _time(value)
    return None


def media_zone(media: Mapping[str, Any]) -> tzinfo:
    """The zone a recording's times are shown in: the workspace's when its time was typed on
    the card (``presets.timezone``) or its template's was resolved (``compose.timezone``)."""
    for part in ("presets", "compose"):
        source = media.get(part)
        if isinstance(source, Mapping) and source.get("timezone"):
            return zone(str(source["timezone"]))
    return UTC


def effective(media: Mapping[str, Any]) -> Presets:
    """The recording's presets: the card's changes over the template's; a publication time
    is given in the zone the workspace had when it was set (`media_zone`)."""
    compose = media.get("compose") if isinstance(media.get("compose"), Mapping) else {}
    own = media.get("presets") if isinstance(media.get("presets"), Mapping) else {}
    values: dict[str, Any] = {}
    for key in FIELDS:
        for source in (own, compose):
            if key in source:
                # A person's "none" (None) on the card clears the template's choice.
                if (
                    source is own
                    and source[key] is None
                    and key in ("publish_at", "playlist_id", "vk_album_id")
                ):
                    values[key] = None
                    break
                valid = _valid(key, source[key])
                if valid is not None:
                    values[key] = valid
                    break
    if values.get("publish_at") is not None:
        values["publish_at"] = values["publish_at"].astimezone(media_zone(media))
    return Presets(**values)


def template_options(template: Any, now: datetime, zone_name: str | None = None) -> dict[str, Any]:
    """What the compose stage keeps of a template's presets, its publication time resolved
    in the workspace's time zone (`zone_name`, an IANA name), else UTC."""
    tz = zone(str(zone_name or "") or None)
    when: datetime | None = None
    spec = getattr(template, "publish_at", None)
    if spec:
        try:
            when = parse_when(spec, now, tz)
        except PresetError:
            when = None  # a fixed date already passed: the template publishes as it says
    return {
        "publish_at": when.isoformat() if when else None,
        "timezone": str(zone_name) if zone_name and tz is not UTC else None,
        "license": template.license,
        "category_id": template.category_id,
        "made_for_kids": template.made_for_kids,
        "notify_subscribers": template.notify_subscribers,
        "vk_privacy": template.vk_privacy,
    }


def changed(media: Mapping[str, Any], key: str, value: Any) -> dict[str, Any]:
    """``media["presets"]`` with one field set by a person on the card."""
    if key not in FIELDS:
        raise KeyError(key)
    current = media.get("presets") if isinstance(media.get("presets"), Mapping) else {}
    stored = value.isoformat() if isinstance(value, datetime) else value
    return {**current, key: stored}


def cycled(options: tuple[str, ...], current: str) -> str:
    """The next value of a choice the card goes round."""
    index = options.index(current) if current in options else -1
    return options[(index + 1) % len(options)]


# The editor's buttons: a short code per field, those a press goes round and those typed.
CODES = {
    "pv": "privacy",
    "at": "publish_at",
    "li": "license",
    "ca": "category_id",
    "ki": "made_for_kids",
    "no": "notify_subscribers",
    "pl": "playlist_id",
    "vp": "vk_privacy",
    "va": "vk_album_id",
}
CYCLED = ("pv", "li", "ca", "ki", "no", "vp")
TYPED = ("at", "pl", "va")


def next_value(chosen: Presets, key: str) -> Any:
    """What one press of a choice's button makes of it."""
    if key == "privacy":
        return cycled(YOUTUBE_PRIVACY, chosen.privacy)
    if key == "license":
        return cycled(LICENSES, chosen.license)
    if key == "category_id":
        return cycled(CATEGORIES, chosen.category_id)
    if key == "made_for_kids":
        return not chosen.made_for_kids
    if key == "notify_subscribers":
        return not chosen.notify_subscribers
    if key == "vk_privacy":
        return cycled(VK_PRIVACY, chosen.vk_privacy)
    raise KeyError(key)


def of_template(template: Any) -> Presets:
    """A template's presets as a recording would get them (its time shown as written)."""
    return Presets(
        privacy=template.privacy,
        license=template.license,
        category_id=template.category_id,
        made_for_kids=template.made_for_kids,
        notify_subscribers=template.notify_subscribers,
        playlist_id=template.playlist_id,
        vk_privacy=template.vk_privacy,
        vk_album_id=template.vk_album_id,
    )
