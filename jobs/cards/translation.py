"""The review card's subtitle translation: its lines and its button.

- What the card says comes from ``recording.media["translations"]``, one entry per target
  language: ``{"status": "queued"}`` from the press until a worker starts it,
  ``{"status": "running", "done": k, "total": n}`` while the batches are being
  translated, ``{"status": "done", "cues": n}`` once the files are written, ``{"status":
  "failed", "reason": code}`` when it could not be done (``translate.reason_<code>`` says why).
- Translation needs a language model: it is offered when one was set up as the topics stage
  ran (``media["topics"]["llm"]``, true even when its request failed and the offline method made
  the chapters); without one (no LLM key) the card says so instead of showing the button.
  Recordings from before that flag go by how their chapters were made.
- The button opens the choice of language (:class:`TranslateCb` with no ``to``); it is on the
  card while the recording awaits review (the translation then goes out with Publish) and
  once it is published (the translation goes to its YouTube video at once, ``"youtube"`` in
  the done state saying whether YouTube took it, ``"replaced"`` that it took the place of the
  track an earlier translation into that language made).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram.types import InlineKeyboardButton

from jobs.cards.callbacks import TranslateCb
from locales import gettext
from locales.format import language_name
from pipeline.translation import TARGETS
from storage.models import Recording, RecordingStatus

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
# Where a translation is offered: before Publish, and after it went well.
OFFERED = (RecordingStatus.AWAITING_REVIEW, RecordingStatus.READY)
# The done line, by whether the translation reached an already published YouTube video.
_DONE_KEYS = {None: "card_done", True: "card_done_youtube", False: "card_done_youtube_failed"}


def translations(recording: Recording) -> dict[str, dict[str, Any]]:
    """Each target language's state, by code (only codes a translation may have)."""
    found = recording.media.get("translations")
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if k in TARGETS and isinstance(v, dict)}


def translated_languages(recording: Recording) -> list[str]:
    """The languages whose translated subtitles are written, in a stable order."""
    return sorted(k for k, v in translations(recording).items() if v.get("status") == DONE)


def model_set_up(recording: Recording) -> bool | None:
    """Whether a language model was set up when the chapters were made; None before topics."""
    topics = recording.media.get("topics")
    if not isinstance(topics, dict) or not topics:
        return None
    if isinstance(topics.get("llm"), bool):
        return bool(topics["llm"])
    # Recorded before the flag: a model's chapters prove one; offline ones are all there is.
    method = topics.get("method")
    return True if method == "llm" else False if method == "offline" else None


def offline(recording: Recording) -> bool:
    """Whether the recording was processed without a language model set up."""
    return model_set_up(recording) is False


def offered(recording: Recording) -> bool:
    """Whether the card offers a translation: a language model was set up, and the recording
    awaits review or is published."""
    return model_set_up(recording) is True and recording.status in OFFERED


def translation_lines(recording: Recording, _: Callable[..., str]) -> list[str]:
    lang = recording.language
    lines: list[str] = []
    for code, state in sorted(translations(recording).items()):
        named = language_name(lang, code)
        status = state.get("status")
        if status == QUEUED:
            lines.append(_("translate.card_queued", language=named))
        elif status == RUNNING:
            lines.append(
                _("translate.card_running", language=named, done=int(state.get("done") or 0),
                  total=int(state.get("total") or 1))
            )  # fmt: skip
        elif status == DONE:
            key = _DONE_KEYS.get(state.get("youtube"), "card_done")
            if key == "card_done_youtube" and state.get("replaced"):
                key = "card_done_youtube_replaced"
            if key == "card_done" and recording.status is not RecordingStatus.AWAITING_REVIEW:
                key = "card_done_after"  # published already, and not on YouTube
            lines.append(_(f"translate.{key}", language=named, count=int(state.get("cues") or 0)))
        elif status == FAILED:
            reason = reason_text(lang, str(state.get("reason") or "internal"))
            lines.append(_("translate.card_failed", language=named, reason=reason))
    if offline(recording) and recording.status in OFFERED:
        lines.append(_("translate.card_offline"))
    return ["", *lines] if lines else []


def reason_text(lang: str, code: str) -> str:
    key = f"translate.reason_{code}"
    text = gettext(lang, key)
    return text if text != key else gettext(lang, "translate.reason_internal")


def translate_button(recording: Recording) -> list[InlineKeyboardButton]:
    """The card's translation row: one button, or none when it is not offered."""
    if not offered(recording):
        return []
    return [
        InlineKeyboardButton(
            text=gettext(recording.language, "translate.button"),
            callback_data=TranslateCb(rec=recording.id).pack(),
        )
    ]
