"""Publish presets in words: the card's "what will happen" line and the scheduled outcome.

Rules it keeps:

- The line names only the platforms the card has chosen (YouTube, VK) and, for each, what a
  person would otherwise have to look up: privacy (or "private until <time>, then public"),
  the playlist or album, and any choice that differs from the usual one (licence, category,
  made for kids, subscribers not told).
- Times are shown in the zone they were given in ("12 Dec 10:00 UTC", "12 Dec 10:00 MSK"),
  month names from the catalogue, so a Russian card reads "12 дек 10:00 MSK"; a zone with no
  word for its abbreviation is named by its IANA name ("10:00 Asia/Yekaterinburg").
- A YouTube video uploaded with a publication time says so under its link ("scheduled for
  …"); the time is the one YouTube was given, kept in ``media["publish"]["youtube"]``.
- No import of the cards or the publishers: both use this module.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from locales import gettext
from pipeline.presets import Presets, media_zone

DEFAULTS = Presets()


def when_text(lang: str, when: datetime) -> str:
    month = gettext(lang, f"presets.month_{when.month}")
    return f"{when.day} {month} {when:%H:%M}" + (f" {zone}" if (zone := zone_name(when)) else "")


def zone_name(when: datetime) -> str:
    """ "MSK", "GMT", "UTC"; the IANA name where the zone's abbreviation is a number."""
    short = when.tzname() or ""
    if short.isalpha():
        return short
    key = getattr(when.tzinfo, "key", None)
    return str(key) if key else short


def youtube_words(lang: str, chosen: Presets, when: str | None = None) -> str:
    """`when` is a template's time as written ("+2d 10:00"), shown in place of a moment."""

    def _(key: str, **params: Any) -> str:
        return gettext(lang, key, **params)

    if when:
        parts = [_("presets.yt_scheduled", time=html.escape(when))]
    elif chosen.publish_at is not None:
        parts = [_("presets.yt_scheduled", time=when_text(lang, chosen.publish_at))]
    else:
        parts = [_(f"presets.privacy_{chosen.privacy}")]
    if chosen.playlist_id:
        parts.append(_("presets.yt_playlist", playlist=html.escape(chosen.playlist_id)))
    if chosen.license != DEFAULTS.license:
        parts.append(_("presets.license_creativeCommon"))
    if chosen.category_id != DEFAULTS.category_id:
        parts.append(_("presets.yt_category", category=category_name(lang, chosen.category_id)))
    if chosen.made_for_kids:
        parts.append(_("presets.yt_kids"))
    if not chosen.notify_subscribers:
        parts.append(_("presets.yt_quiet"))
    return "; ".join(parts)


def vk_words(lang: str, chosen: Presets) -> str:
    parts = []
    if chosen.vk_album_id:
        parts.append(gettext(lang, "presets.vk_album", album=html.escape(chosen.vk_album_id)))
    parts.append(gettext(lang, f"presets.vk_{chosen.vk_privacy}"))
    return ", ".join(parts)


def category_name(lang: str, category_id: str) -> str:
    key = f"presets.category_{category_id}"
    text = gettext(lang, key)
    return text if text != key else category_id


def summary(lang: str, chosen: Presets, platforms: Sequence[str], when: str | None = None) -> str:
    """ "YouTube: private until 12 Dec 10:00 UTC, then public; playlist X; VK: album Y, …"."""
    parts = []
    if "youtube" in platforms:
        parts.append(gettext(lang, "presets.line_youtube", words=youtube_words(lang, chosen, when)))
    if "vk" in platforms:
        parts.append(gettext(lang, "presets.line_vk", words=vk_words(lang, chosen)))
    return "; ".join(parts)


def scheduled_note(media: dict[str, Any], platform: str, lang: str) -> str:
    """The line under a published link when the platform holds the video until a time."""
    publish = media.get("publish") if isinstance(media.get("publish"), dict) else {}
    done = publish.get(platform) if isinstance(publish.get(platform), dict) else {}
    raw = done.get("scheduled") if isinstance(done, dict) else None
    shown = done.get("scheduled_shown") if isinstance(done, dict) else None
    if not raw:
        return ""
    try:
        when = datetime.fromisoformat(str(shown or raw).replace("Z", "+00:00"))
    except ValueError:
        return ""
    if when.tzinfo is not None:
        when = when.astimezone(media_zone(media))
    return "\n" + gettext(lang, "presets.outcome_scheduled", time=when_text(lang, when))
