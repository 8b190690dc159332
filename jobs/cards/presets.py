"""Publish presets on the review card: the "what will happen" line, its button, the editor.

Rules it keeps:

- The card's line names what YouTube and VK will do with the video, for the platforms the
  card has chosen (`jobs.presets_text.summary`); it is there only while the recording awaits
  review, like the Presets button that opens the editor (`PresetCb` with no field).
- The editor is one message per recording or template: its text says what will happen on
  both platforms, each button shows one field's value (a press goes round a choice; a time,
  playlist or album is typed, see bot/handlers/presets.py).
- The bot reaches the presets' rules (`pipeline.presets`: parsing a typed time, going round
  a choice) through this module, as it reaches every card.
- A recording's changes are kept in ``recording.media["presets"]`` (`pipeline.presets`
  merges them over the template's), committed before the card is drawn again.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from jobs.cards.callbacks import PresetCb
from jobs.presets_text import category_name, summary, when_text
from locales import gettext
from pipeline import presets
from pipeline.presets import (
    CODES,
    CYCLED,
    TYPED,
    PresetError,
    Presets,
    check_id,
    effective,
    next_value,
    of_template,
    parse_when,
    zone,
)
from storage.models import Recording, RecordingStatus

# The editor's rules, for the bot: what a press or a typed answer makes of a field.
__all__ = [
    "CODES",
    "CYCLED",
    "TYPED",
    "PresetError",
    "Presets",
    "check_id",
    "editor_keyboard",
    "editor_text",
    "effective",
    "next_value",
    "of_template",
    "parse_when",
    "presets_button",
    "presets_lines",
    "recording_heading",
    "set_recording_preset",
    "template_line",
    "with_presets_button",
    "zone",
]

PUBLISHED_ON = ("youtube", "vk")
DONE = "ok"


def presets_lines(recording: Recording, selected: list[str], _: Callable[..., str]) -> list[str]:
    """The card's line, for the chosen platforms that take presets."""
    if recording.status is not RecordingStatus.AWAITING_REVIEW:
        return []
    chosen = [p for p in PUBLISHED_ON if p in selected]
    if not chosen:
        return []
    line = summary(recording.language, presets.effective(recording.media), chosen)
    return [_("presets.card_line", line=line)]


def presets_button(recording: Recording) -> list[InlineKeyboardButton]:
    if recording.status is not RecordingStatus.AWAITING_REVIEW:
        return []
    return [
        InlineKeyboardButton(
            text=gettext(recording.language, "presets.button"),
            callback_data=PresetCb(k="r", id=recording.id).pack(),
        )
    ]


def editor_text(lang: str, heading: str, chosen: Presets, when: str | None = None) -> str:
    line = summary(lang, chosen, PUBLISHED_ON, when)
    now = gettext(lang, "presets.now", line=line)
    return f"{heading}\n\n{now}\n\n<i>{gettext(lang, 'presets.vk_note')}</i>"


def editor_keyboard(
    lang: str, kind: str, target_id: int, chosen: Presets, when: str | None = None
) -> InlineKeyboardMarkup:
    """The editor's buttons; `when` shows a template's time as written ("+2d 10:00")."""

    def _(key: str, **params: Any) -> str:
        return gettext(lang, key, **params)

    def yes_no(value: bool) -> str:
        return _("presets.yes") if value else _("presets.no")

    if chosen.publish_at is not None:
        privacy = _("presets.yt_scheduled", time=when_text(lang, chosen.publish_at))
    else:
        privacy = _(f"presets.privacy_{chosen.privacy}")
    shown_when = when or (when_text(lang, chosen.publish_at) if chosen.publish_at else None)
    labels = {
        "pv": _("presets.b_privacy", value=privacy),
        "at": _("presets.b_when", value=shown_when or _("presets.when_none")),
        "li": _("presets.b_license", value=_(f"presets.license_{chosen.license}")),
        "ca": _("presets.b_category", value=category_name(lang, chosen.category_id)),
        "ki": _("presets.b_kids", value=yes_no(chosen.made_for_kids)),
        "no": _("presets.b_notify", value=yes_no(chosen.notify_subscribers)),
        "pl": _("presets.b_playlist", value=chosen.playlist_id or _("presets.none")),
        "vp": _("presets.b_vk_privacy", value=_(f"presets.vk_{chosen.vk_privacy}")),
        "va": _("presets.b_vk_album", value=chosen.vk_album_id or _("presets.none")),
    }
    builder = InlineKeyboardBuilder()
    for code, label in labels.items():
        builder.button(text=label, callback_data=PresetCb(k=kind, id=target_id, f=code))
    builder.button(text=_("presets.b_done"), callback_data=PresetCb(k=kind, id=target_id, f=DONE))
    builder.adjust(1, 1, 2, 2, 1, 2, 1)
    return builder.as_markup()


def recording_heading(recording: Recording, title: str) -> str:
    return gettext(recording.language, "presets.heading", title=html.escape(title))


async def set_recording_preset(
    session: AsyncSession, recording: Recording, key: str, value: Any
) -> Presets:
    """Keep one field the person chose for this recording; the presets as they now are."""
    own = presets.changed(recording.media, key, value)
    if key == "privacy":
        # A privacy chosen by hand means "now", not after a scheduled time.
        own["publish_at"] = None
    recording.media = {**recording.media, "presets": own}
    await session.commit()
    return presets.effective(recording.media)


def template_line(_: Callable[..., str], template: Any) -> str:
    """A /templates card's line: what its recordings' publishing will do."""
    line = summary(_.lang, presets.of_template(template), PUBLISHED_ON, template.publish_at)
    return _("presets.card_line", line=line)


def with_presets_button(
    _: Callable[..., str], markup: InlineKeyboardMarkup | None, row_id: int
) -> InlineKeyboardMarkup | None:
    """A template card's buttons with Presets as a row of its own, above the last row."""
    if markup is None:
        return None
    button = InlineKeyboardButton(
        text=_("presets.button"), callback_data=PresetCb(k="t", id=row_id).pack()
    )
    rows = list(markup.inline_keyboard)
    at = max(len(rows) - 1, 0)
    return InlineKeyboardMarkup(inline_keyboard=[*rows[:at], [button], *rows[at:]])
