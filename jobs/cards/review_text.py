"""The review card's text and buttons, from what the stages stored.

- A card is written in its recording's language, whoever pressed the button that redraws
  it; what a presser alone reads (an alert) is the bot's to word in the presser's language.
- What the card shows comes from the recording and metadata.json (title, chapters,
  description), read through the media store, which brings the newest copy when the media
  live in a bucket; a missing or unreadable metadata.json reads as empty.
- The summary (a person's, the language model's or the opening sentences', said so) comes
  before the chapters; when the model's stayed unusable, the card says there is none.
- Chapters are shown as they will be published: nothing is padded to YouTube's minimum, and
  the card says what YouTube's description will lack instead. Quality warnings (at most ten)
  follow the chapters.
- While the recording awaits review the card has the platform toggles, the review buttons and
  a row choosing how finely the chapters are cut (fewer, usual, more; the current one ticked);
  while its chapters are made again it says so, without buttons. After Publish it has one
  line per platform, and once every platform has an outcome, the buttons that still apply:
  Publish again (where it can), Delete.
- The "Share page" button (jobs.share) is on the card while it awaits review, and after
  publishing while the recording's share page is on.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from jobs import control, files
from jobs.cards.callbacks import (
    AGAIN,
    DELETE,
    REVIEW_ACTIONS,
    SHARE_OPEN,
    GranularityCb,
    OutcomeCb,
    PlatformCb,
    ReviewCb,
    ShareCb,
)
from jobs.cards.platforms import platform_name
from jobs.cards.presets import presets_button, presets_lines
from jobs.cards.questions import questions_button, questions_lines
from jobs.cards.text import clip, fit
from jobs.cards.translation import translate_button, translation_lines
from jobs.publish.metadata import display_name
from locales import gettext
from locales.format import duration, language_name
from pipeline.templates.models import GRANULARITIES
from pipeline.timecodes import MIN_CHAPTERS, Chapter, format_tc
from storage.files import MediaStore
from storage.models import Publication, PublicationStatus, Recording, RecordingStatus


async def fetch_metadata(store: MediaStore, recording: Recording) -> dict[str, Any]:
    """`load_metadata` off the event loop: with media in a bucket it may download."""
    return await asyncio.to_thread(load_metadata, store, recording)


def load_metadata(store: MediaStore, recording: Recording) -> dict[str, Any]:
    """metadata.json; with media in a bucket this waits for a small request."""
    # A worker on another machine may have written it: the store brings the newest copy.
    return _read_metadata(store.fetch_now(recording.workspace_id, recording.id, files.METADATA))


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def metadata_chapters(metadata: dict[str, Any]) -> list[Chapter]:
    found: list[Chapter] = []
    for item in metadata.get("chapters") or []:
        try:
            found.append(Chapter.model_validate(item))
        except ValueError:
            continue
    return found


def quality_flags(recording: Recording) -> list[dict[str, str]]:
    flags = recording.media.get("quality", {}).get("flags") or []
    return [f for f in flags if isinstance(f, dict) and f.get("code")]


def flag_text(lang: str, flag: dict[str, str]) -> str:
    key = f"review.flag_{flag.get('code')}"
    text = gettext(lang, key)
    if text == key:
        text = gettext(lang, "review.flag_other", code=html.escape(str(flag.get("code"))))
    return text


def granularity(recording: Recording) -> str:
    """How finely the recording's chapters are cut: its own choice, else what the stage used."""
    chosen = recording.options.get("granularity") or recording.media.get("topics", {}).get(
        "granularity"
    )
    return str(chosen) if chosen in GRANULARITIES else "normal"


def recording_title(recording: Recording, metadata: dict[str, Any]) -> str:
    title = metadata.get("title") or recording.media.get("compose", {}).get("title")
    return str(title or display_name(recording))


def trim_and_template(recording: Recording, _: Callable[..., str]) -> list[str]:
    """How much trimming took off and which template made the description, when known."""
    lines = []
    trim = recording.media.get("trim", {})
    if trim.get("duration"):
        before = float(trim.get("source_duration") or trim["duration"])
        after = float(trim["duration"])
        lines.append(trimmed_line(before, after, _))
    template = recording.media.get("compose", {}).get("template")
    if template:
        lines.append(_("review.template", name=html.escape(str(template))))
    spoken = spoken_languages(recording, _)
    if spoken:
        lines.append(_("review.language", languages=spoken))
    return lines


def trimmed_line(before: float, after: float, _: Callable[..., str]) -> str:
    """The trim line, both lengths rounded alike (half a second up): "0:45 → 0:42 after
    trimming"; when less than a second came off, that nothing was cut (never "0:42 → 0:42")."""
    if before - after < 1.0:
        return _("review.durations_uncut", after=duration(math.floor(after + 0.5)))
    return _(
        "review.durations",
        before=duration(math.floor(before + 0.5)),
        after=duration(math.floor(after + 0.5)),
    )


def spoken_languages(recording: Recording, _: Callable[..., str]) -> str:
    """The transcript's languages as the card names them: the main one first, then any
    other the lecture switched to, with how long it was heard ("русский, английский 0:40")."""
    heard = recording.media.get("transcript", {})
    main = heard.get("language")
    if not main:
        return ""
    lang = recording.language
    names = [language_name(lang, str(main))]
    others = heard.get("languages") or {}
    for code, seconds in sorted(others.items(), key=lambda item: -float(item[1])):
        if code != main and float(seconds) >= 1.0:
            names.append(f"{language_name(lang, str(code))} {duration(float(seconds))}")
    return ", ".join(names)


def review_text(
    recording: Recording,
    metadata: dict[str, Any],
    connected: list[str],
    selected: list[str],
    note: str | None = None,
    publishing: Sequence[str] = (),
) -> str:
    """The card; `publishing` are its per-platform lines once Publish was pressed."""
    lang = recording.language
    _ = lambda key, **params: gettext(lang, key, **params)  # noqa: E731
    lines = [_("review.heading", title=html.escape(recording_title(recording, metadata)))]
    lines += trim_and_template(recording, _)
    lines += summary_lines(recording, _)
    lines += questions_lines(recording, _)

    chapters = metadata_chapters(metadata)
    lines.append("")
    if chapters:
        lines.append(_("review.chapters"))
        lines += [
            f"<code>{format_tc(c.start)}</code> {clip(html.escape(c.title), 120)}" for c in chapters
        ]
        if len(chapters) < MIN_CHAPTERS and "youtube" in selected:
            # Nothing is padded to YouTube's minimum: say what its description will lack.
            lines.append(_("review.youtube_no_chapters", min=MIN_CHAPTERS, count=len(chapters)))
    else:
        lines.append(_("review.no_chapters"))

    flags = quality_flags(recording)
    if flags:
        lines += ["", _("review.warnings")]
        lines += [f"• {flag_text(lang, f)}" for f in flags[:10]]
    lines += translation_lines(recording, _)
    lines += presets_lines(recording, selected, _)

    lines.append("")
    status = recording.status
    if status is RecordingStatus.AWAITING_REVIEW:
        if recording.media.get("source", {}).get("has_video") is False:
            lines.append(_("review.audio_only"))
        if selected:
            names = ", ".join(platform_name(lang, p) for p in selected)
            lines.append(_("review.publish_to", platforms=names))
        else:
            lines.append(_("review.choose_platforms"))
    elif recording.stage is not None:
        # Back in the pipeline: its chapters are being made again.
        lines.append(_("granularity.redoing", choice=_(f"granularity.{granularity(recording)}")))
    else:
        lines.append(_(f"review.status_{status.value}") if _has(lang, status) else status.value)
        lines += [clip(line) for line in publishing]
    if note:
        lines += ["", note]
    return fit("\n".join(lines))


# The longest summary a card shows; a person's may be up to 1000 characters.
_SUMMARY_SHOWN = 1000


def summary_lines(recording: Recording, _: Callable[..., str]) -> list[str]:
    summary = recording.media.get("summary") or {}
    text = str(summary.get("text") or "").strip()
    if text:
        heading = _(
            "review.summary_opening" if summary.get("source") == "opening" else "review.summary"
        )
        return ["", heading, clip(html.escape(text), _SUMMARY_SHOWN)]
    if summary.get("source") == "missing":
        return ["", _("review.summary_missing")]
    return []


def _has(lang: str, status: RecordingStatus) -> bool:
    key = f"review.status_{status.value}"
    return gettext(lang, key) != key


def review_keyboard(
    recording: Recording, connected: list[str], selected: list[str]
) -> InlineKeyboardMarkup | None:
    if recording.status is not RecordingStatus.AWAITING_REVIEW:
        return None
    lang = recording.language
    rec = recording.id
    builder = InlineKeyboardBuilder()
    for platform in connected:
        mark = "✅" if platform in selected else "▫️"
        builder.button(
            text=f"{mark} {platform_name(lang, platform)}",
            callback_data=PlatformCb(rec=rec, p=platform),
        )
    for action in REVIEW_ACTIONS:
        builder.button(
            text=gettext(lang, f"review.button_{action}"),
            callback_data=ReviewCb(action=action, rec=rec),
        )
    current = granularity(recording)
    for choice in GRANULARITIES:
        label = gettext(lang, f"granularity.button_{choice}")
        if choice == current:
            label = gettext(lang, "granularity.chosen", label=label)
        builder.button(text=label, callback_data=GranularityCb(rec=rec, g=choice))
    toggle_rows = [2] * ((len(connected) + 1) // 2)
    if len(connected) % 2:
        toggle_rows[-1] = 1
    builder.adjust(*toggle_rows, 1, 3, 3, 3)
    # Two to a row, so the card stays short on a phone.
    builder.row(*questions_button(recording), *translate_button(recording))
    builder.row(share_button(recording), *presets_button(recording))
    return builder.as_markup()


def outcome_keyboard(
    recording: Recording, rows: Sequence[Publication]
) -> InlineKeyboardMarkup | None:
    """Once every platform has an outcome: Publish again where it applies, and Delete."""
    if recording.status not in (RecordingStatus.READY, RecordingStatus.FAILED) or not rows:
        return None
    if any(r.status in (PublicationStatus.PENDING, PublicationStatus.UPLOADING) for r in rows):
        return None
    lang = recording.language
    builder = InlineKeyboardBuilder()
    if control.republishable(recording, rows):
        builder.button(
            text=gettext(lang, "recs.button_publish_again"),
            callback_data=OutcomeCb(action=AGAIN, rec=recording.id),
        )
    builder.button(
        text=gettext(lang, "recs.button_delete"),
        callback_data=OutcomeCb(action=DELETE, rec=recording.id),
    )
    builder.adjust(2)
    if (recording.options or {}).get("share"):
        # A live share page stays reachable (its link, its off switch) after publishing.
        builder.row(share_button(recording))
    builder.row(*translate_button(recording))
    return builder.as_markup()


def share_button(recording: Recording) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=gettext(recording.language, "share.button"),
        callback_data=ShareCb(action=SHARE_OPEN, rec=recording.id).pack(),
    )
