"""The topic editor's keyboards (the review card's keyboard is posted by workers: jobs.cards)."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import review as cb
from bot.callbacks.review import TopicCb
from jobs.cards import DISCARD_KEEP, DISCARD_SURE, ReviewCb
from locales import Translator
from pipeline.timecodes import Chapter

_LABEL = 28


def start_ms(chapter: Chapter) -> int:
    """The chapter's start as its buttons carry it."""
    return round(chapter.start * 1000)


def topic_list(_: Translator, rec: int, chapters: list[Chapter]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for index, chapter in enumerate(chapters):
        title = chapter.title if len(chapter.title) <= _LABEL else chapter.title[: _LABEL - 1] + "…"
        builder.button(
            text=f"{index + 1}. {title}",
            callback_data=TopicCb(action=cb.PICK, rec=rec, idx=index, at=start_ms(chapter)),
        )
    builder.button(text=_("topics_edit.button_add"), callback_data=TopicCb(action=cb.ADD, rec=rec))
    builder.button(
        text=_("topics_edit.button_list"), callback_data=TopicCb(action=cb.LIST, rec=rec)
    )
    builder.button(
        text=_("topics_edit.button_close"), callback_data=TopicCb(action=cb.CLOSE, rec=rec)
    )
    rows = [2] * (len(chapters) // 2) + ([1] if len(chapters) % 2 else [])
    builder.adjust(*rows, 2, 1)
    return builder.as_markup()


def topic_actions(_: Translator, rec: int, idx: int, chapter: Chapter) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    at = start_ms(chapter)
    for action, key in (
        (cb.RENAME, "topics_edit.button_rename"),
        (cb.RETIME, "topics_edit.button_time"),
        (cb.DELETE, "topics_edit.button_delete"),
        (cb.BACK, "topics_edit.button_back"),
    ):
        builder.button(text=_(key), callback_data=TopicCb(action=action, rec=rec, idx=idx, at=at))
    builder.adjust(3, 1)
    return builder.as_markup()


def confirm_discard(_: Translator, rec: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("review.button_discard_sure"), callback_data=ReviewCb(action=DISCARD_SURE, rec=rec)
    )
    builder.button(
        text=_("review.button_discard_keep"), callback_data=ReviewCb(action=DISCARD_KEEP, rec=rec)
    )
    builder.adjust(2)
    return builder.as_markup()
