"""Keyboards of /recordings: a page of recordings (with the CSV of them all), one recording's
actions; and the question Delete asks on a review card whose publishing has ended."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import recordings as cb
from bot.callbacks.recordings import RecCb, RecCsvCb, RecListCb
from jobs import cards, control
from jobs.cards import OutcomeCb, display_name
from locales import Translator
from storage.models import Publication, Recording, RecordingStatus

STATUS_MARKS = {
    RecordingStatus.INITIALIZED: "🕓",
    RecordingStatus.DOWNLOADING: "⏳",
    RecordingStatus.DOWNLOADED: "📥",
    RecordingStatus.PROCESSING: "⏳",
    RecordingStatus.PROCESSED: "⏳",
    RecordingStatus.AWAITING_REVIEW: "📝",
    RecordingStatus.UPLOADING: "🚀",
    RecordingStatus.READY: "✅",
    RecordingStatus.FAILED: "❌",
    RecordingStatus.SKIPPED: "🗑",
    RecordingStatus.EXPIRED: "⌛",
}
_LABEL = 40


def status_mark(recording: Recording) -> str:
    if recording.failure_code == control.CANCELLED:
        return "⏹"
    return STATUS_MARKS.get(recording.status, "•")


def page(
    _: Translator, recordings: Sequence[Recording], number: int, more: bool
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for recording in recordings:
        name = display_name(recording)
        name = name if len(name) <= _LABEL else name[: _LABEL - 1] + "…"
        builder.button(
            text=f"{status_mark(recording)} {name}",
            callback_data=RecCb(action=cb.OPEN, rec=recording.id, page=number),
        )
    turns = 0
    if number > 0:
        builder.button(text=_("recs.button_newer"), callback_data=RecListCb(page=number - 1))
        turns += 1
    if more:
        builder.button(text=_("recs.button_older"), callback_data=RecListCb(page=number + 1))
        turns += 1
    # The whole list, every page of it, as a file for a spreadsheet.
    builder.button(text=_("csv.button"), callback_data=RecCsvCb())
    builder.adjust(*([1] * len(recordings)), turns + 1)
    return builder.as_markup()


def recording(
    _: Translator,
    recording: Recording,
    number: int,
    publications: Sequence[Publication] = (),
) -> InlineKeyboardMarkup:
    """One recording's actions; `publications` are its rows, for Publish again."""
    rec = recording.id
    builder = InlineKeyboardBuilder()
    if control.can_retry(recording):
        builder.button(
            text=_("recs.button_retry"), callback_data=RecCb(action=cb.RETRY, rec=rec, page=number)
        )
    if control.has_results(recording):
        builder.button(
            text=_("recs.button_downloads"),
            callback_data=RecCb(action=cb.DOWNLOADS, rec=rec, page=number),
        )
    if control.republishable(recording, publications):
        builder.button(
            text=_("recs.button_publish_again"),
            callback_data=RecCb(action=cb.PUBLISH_AGAIN, rec=rec, page=number),
        )
    if control.can_cancel(recording):
        builder.button(
            text=_("recs.button_cancel"),
            callback_data=RecCb(action=cb.CANCEL, rec=rec, page=number),
        )
    if recording.status is RecordingStatus.AWAITING_REVIEW:
        builder.button(
            text=_("recs.button_review"),
            callback_data=RecCb(action=cb.REVIEW, rec=rec, page=number),
        )
    builder.button(
        text=_("recs.button_delete"), callback_data=RecCb(action=cb.DELETE, rec=rec, page=number)
    )
    builder.button(text=_("recs.button_back"), callback_data=RecListCb(page=number))
    builder.adjust(2)
    return builder.as_markup()


def confirm_delete(_: Translator, rec: int, number: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("recs.button_delete_sure"),
        callback_data=RecCb(action=cb.DELETE_SURE, rec=rec, page=number),
    )
    builder.button(
        text=_("recs.button_keep"), callback_data=RecCb(action=cb.OPEN, rec=rec, page=number)
    )
    builder.adjust(2)
    return builder.as_markup()


def confirm_card_delete(_: Translator, rec: int) -> InlineKeyboardMarkup:
    """Under the question a card's Delete asks, never on the card itself."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("recs.button_delete_sure"),
        callback_data=OutcomeCb(action=cards.DELETE_SURE, rec=rec),
    )
    builder.button(
        text=_("recs.button_keep"), callback_data=OutcomeCb(action=cards.DELETE_KEEP, rec=rec)
    )
    builder.adjust(2)
    return builder.as_markup()
