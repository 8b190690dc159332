"""Self-check questions under a review card: look, make again, replace, drop one, quiz the chat,
and choose the channel quiz.

Permissions are the routers' shape: everyone in the workspace may look at and correct the
questions and send them as a quiz in the chat (like the title and the summary); only admins
choose whether the channel gets the quiz after the video, as they choose the platforms;
a button of another workspace's recording is refused. Every button names its recording,
which `OwnRecording` finds within the chat's workspace first.

Rules:
- Without a language model the card offers no questions and says why; a press on an old
  button says the same.
- Making questions waits for the model in a message that says so, then shows the list or,
  when the model failed (twice unusable, or not reachable), why, with the buttons to try again
  or write the list.
- A pasted list is read by `pipeline.questions.parse_questions` (through `jobs.questions`);
  what is wrong is listed with the questions' numbers and the prompt stays open.
- Dropping names the question by place and fingerprint: a list changed since is shown anew.
"""

from __future__ import annotations

import html
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Answering, Ask, Conversations
from bot.filters import IsAdmin, OwnRecording, refuse_foreign, refuse_non_admin
from bot.handlers.usage import edit_quietly
from bot.keyboards.questions import drop_menu, questions_menu
from bot.review_chat import answered_recording, prompt, under_review
from integrations.llm.questions import INVALID, QuestionsError
from jobs import cards, quiz
from jobs import questions as actions
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
)
from leap.settings import Settings
from locales import Translator
from pipeline.templates import TemplateError
from storage.files import MediaStore
from storage.models import Recording, Workspace

log = logging.getLogger(__name__)

ASK_QUESTIONS = "questions_list"
_MEMBER_ACTIONS = {OPEN, REGENERATE, REPLACE, DROP, DROP_ONE, QUIZ, CLOSE}
# How much of the current list a prompt shows (a message holds 4096).
_SHOWN = 3000


def make_router() -> Router:
    router = Router(name=__name__)
    admin = Router(name=f"{__name__}.admin")
    admin.callback_query.filter(IsAdmin())
    admin.callback_query.register(
        toggle_channel, QuestionsCb.filter(F.a == CHANNEL), OwnRecording()
    )
    members = Router(name=f"{__name__}.members")
    members.callback_query.register(
        pressed, QuestionsCb.filter(F.a.in_(_MEMBER_ACTIONS)), OwnRecording()
    )
    members.message.register(list_answered, Answering(ASK_QUESTIONS))
    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(
        refuse_non_admin, QuestionsCb.filter(F.a == CHANNEL), OwnRecording()
    )
    refused.callback_query.register(refuse_foreign, QuestionsCb.filter())
    router.include_routers(admin, members, refused)
    return router


def list_text(_: Translator, recording: Recording, questions: list[actions.Question]) -> str:
    lines = [_("questions.heading", name=html.escape(cards.display_name(recording)))]
    if questions:
        lines += ["", html.escape(actions.questions_text(questions))]
    else:
        lines += ["", _("questions.none")]
    if quiz.channel_chosen(recording):
        lines += ["", _("questions.channel_chosen")]
    return cards.fit("\n".join(lines))


async def _menu(
    _: Translator, session: AsyncSession, recording: Recording, questions: list[actions.Question]
) -> tuple[str, object]:
    has_channel = "telegram" in await cards.offered_platforms(session, recording)
    markup = questions_menu(
        _,
        recording.id,
        questions,
        channel=quiz.channel_chosen(recording),
        has_channel=has_channel,
    )
    return list_text(_, recording, questions), markup


async def pressed(
    query: CallbackQuery,
    callback_data: QuestionsCb,
    recording: Recording,
    session: AsyncSession,
    store: MediaStore,
    settings: Settings,
    arq: ArqRedis,
    bot: Bot,
    _: Translator,
) -> None:
    action = callback_data.a
    message = query.message if isinstance(query.message, Message) else None
    if action == CLOSE:
        await query.answer()
        if message is not None:
            await edit_quietly(message, list_text(_, recording, quiz.stored(recording)), None)
        return
    if action == QUIZ:
        await _send_quiz(query, recording, bot, _)
        return
    if not quiz.offered(recording):
        await query.answer(_("questions.offline_short"), show_alert=True)
        return
    if not await under_review(query, recording, _) or message is None:
        return
    questions = quiz.stored(recording)
    if action == OPEN:
        # Made once by themselves; a list people emptied stays empty until Regenerate.
        if "items" not in quiz.state(recording):
            await query.answer()
            waiting = await message.reply(_("questions.making"))
            await _make(waiting, recording, session, store, settings, bot, query.from_user.id, _)
            return
        await query.answer()
        text, markup = await _menu(_, session, recording, questions)
        if callback_data.i == 0:
            await edit_quietly(message, text, markup)  # type: ignore[arg-type]
        else:
            await message.reply(text, reply_markup=markup)  # type: ignore[arg-type]
    elif action == REGENERATE:
        await query.answer()
        await edit_quietly(message, _("questions.making"), None)
        await _make(message, recording, session, store, settings, bot, query.from_user.id, _)
    elif action == REPLACE:
        text = _("questions.ask_list")
        if questions:
            current = actions.questions_text(questions)
            shown = current if len(current) <= _SHOWN else current[: _SHOWN - 1] + "…"
            text += "\n\n" + _("questions.current", text=html.escape(shown))
        await prompt(query, arq, text, Ask(ASK_QUESTIONS, rec=recording.id), _)
    elif action == DROP:
        await query.answer()
        await edit_quietly(
            message,
            list_text(_, recording, questions) + "\n\n" + _("questions.ask_drop"),
            drop_menu(_, recording.id, questions),
        )
    elif action == DROP_ONE:
        await _drop(query, message, callback_data, recording, session, store, bot, _)


async def _make(
    message: Message,
    recording: Recording,
    session: AsyncSession,
    store: MediaStore,
    settings: Settings,
    bot: Bot,
    user_id: int,
    _: Translator,
) -> None:
    """New questions into ``message`` (which says they are being made), or why there are none."""
    try:
        made = await actions.generate(session, store, settings, recording, user_id)
    except QuestionsError as exc:
        log.warning("recording %s: questions not made (%s)", recording.id, exc.code)
        key = "questions.failed_invalid" if exc.code == INVALID else "questions.failed_service"
        text = _(key, code=exc.code)
        _unused, markup = await _menu(_, session, recording, quiz.stored(recording))
        await edit_quietly(message, text, markup)  # type: ignore[arg-type]
        return
    except TemplateError as exc:
        await edit_quietly(message, _("review.compose_failed", reason=html.escape(str(exc))), None)
        return
    text, markup = await _menu(_, session, recording, made)
    await edit_quietly(message, text, markup)  # type: ignore[arg-type]
    await cards.refresh_review_card(bot, session, store, recording)


async def _drop(
    query: CallbackQuery,
    message: Message,
    callback_data: QuestionsCb,
    recording: Recording,
    session: AsyncSession,
    store: MediaStore,
    bot: Bot,
    _: Translator,
) -> None:
    try:
        left = await actions.drop(
            session, store, recording, callback_data.i, callback_data.h, query.from_user.id
        )
    except actions.Stale:
        await query.answer(_("questions.changed"), show_alert=True)
        text, markup = await _menu(_, session, recording, quiz.stored(recording))
        await edit_quietly(message, text, markup)  # type: ignore[arg-type]
        return
    except TemplateError as exc:
        await query.answer()
        await message.reply(_("review.compose_failed", reason=html.escape(str(exc))))
        return
    await query.answer(_("questions.dropped", number=callback_data.i + 1))
    text, markup = await _menu(_, session, recording, left)
    await edit_quietly(message, text, markup)  # type: ignore[arg-type]
    await cards.refresh_review_card(bot, session, store, recording)


async def _send_quiz(query: CallbackQuery, recording: Recording, bot: Bot, _: Translator) -> None:
    questions = quiz.stored(recording)
    message = query.message
    if not questions or message is None:
        await query.answer(_("questions.none_short"), show_alert=True)
        return
    await query.answer()
    thread = message.message_thread_id if isinstance(message, Message) else None
    try:
        await quiz.post_quiz(bot, message.chat.id, questions, thread_id=thread)
    except TelegramAPIError as exc:
        log.warning("recording %s: quiz not sent: %s", recording.id, exc.message)
        await bot.send_message(
            message.chat.id,
            _("questions.quiz_refused", reason=html.escape(exc.message)),
            message_thread_id=thread,
        )


async def toggle_channel(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    _: Translator,
) -> None:
    if not await under_review(query, recording, _):
        return
    chosen = await actions.toggle_channel(session, recording, query.from_user.id)
    await query.answer(_("questions.channel_now_on" if chosen else "questions.channel_now_off"))
    if isinstance(query.message, Message):
        text, markup = await _menu(_, session, recording, quiz.stored(recording))
        await edit_quietly(query.message, text, markup)  # type: ignore[arg-type]


async def list_answered(
    message: Message,
    ask: Ask,
    session: AsyncSession,
    arq: ArqRedis,
    bot: Bot,
    store: MediaStore,
    _: Translator,
    workspace: Workspace,
) -> None:
    """A pasted list: checked, saved (and composed into the description), then closed."""
    recording = await answered_recording(message, ask, session, arq, workspace, _)
    if recording is None:
        return
    user = message.from_user
    assert user is not None
    try:
        questions = actions.parse_questions(message.text or "")
    except actions.QuestionListError as exc:
        lines = [_("questions.not_saved")]
        lines += [f"• {_problem(_, p)}" for p in exc.problems[:15]]
        await message.reply("\n".join(lines))
        return
    try:
        await actions.replace(session, store, recording, questions, user.id)
    except TemplateError as exc:
        await message.reply(_("review.compose_failed", reason=html.escape(str(exc))))
        return
    await Conversations(arq).close(message.chat.id, user.id, ask.prompt)
    text, markup = await _menu(_, session, recording, questions)
    await message.reply(_("questions.saved", count=len(questions)))
    await message.answer(text, reply_markup=markup)  # type: ignore[arg-type]
    await cards.refresh_review_card(bot, session, store, recording)


def _problem(_: Translator, problem: actions.Problem) -> str:
    said = _(f"questions.problem.{problem.code}", limit=problem.limit)
    if problem.number:
        return _("questions.problem_at", number=problem.number, problem=said)
    return said
