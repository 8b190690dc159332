"""The buttons under a recording's self-check questions (the card's own button is the workers':
jobs.cards.questions)."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from jobs.cards.questions import (
    CHANNEL,
    CLOSE,
    DROP,
    DROP_ONE,
    OPEN,
    QUIZ,
    REGENERATE,
    REPLACE,
    QuestionsCb,
    fingerprint,
)
from locales import Translator
from pipeline.questions import Question


def questions_menu(
    _: Translator, rec: int, questions: list[Question], *, channel: bool, has_channel: bool
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("questions.button_regenerate"), callback_data=QuestionsCb(a=REGENERATE, rec=rec)
    )
    builder.button(
        text=_("questions.button_replace"), callback_data=QuestionsCb(a=REPLACE, rec=rec)
    )
    sizes = [2]
    if questions:
        builder.button(text=_("questions.button_drop"), callback_data=QuestionsCb(a=DROP, rec=rec))
        builder.button(text=_("questions.button_quiz"), callback_data=QuestionsCb(a=QUIZ, rec=rec))
        sizes.append(2)
    if has_channel:
        key = "questions.button_channel_on" if channel else "questions.button_channel_off"
        builder.button(text=_(key), callback_data=QuestionsCb(a=CHANNEL, rec=rec))
        sizes.append(1)
    builder.button(text=_("questions.button_close"), callback_data=QuestionsCb(a=CLOSE, rec=rec))
    sizes.append(1)
    builder.adjust(*sizes)
    return builder.as_markup()


def drop_menu(_: Translator, rec: int, questions: list[Question]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for index, question in enumerate(questions):
        builder.button(
            text=_("questions.button_drop_number", number=index + 1),
            callback_data=QuestionsCb(a=DROP_ONE, rec=rec, i=index, h=fingerprint(question)),
        )
    builder.button(text=_("questions.button_back"), callback_data=QuestionsCb(a=OPEN, rec=rec, i=0))
    rows = [5] * (len(questions) // 5) + ([len(questions) % 5] if len(questions) % 5 else [])
    builder.adjust(*rows, 1)
    return builder.as_markup()
