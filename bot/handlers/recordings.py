"""/recordings: the workspace's recordings, each with its stages, publications and actions.

Retry is for everyone who may submit; cancelling and deleting are for admins. Retry also
answers the button on a failed progress message.

The CSV button under the list sends every recording of the workspace as a spreadsheet
file (`bot.recordings_csv`).

Downloads hands a processed recording's results to anyone in the workspace again, as
documents in the chat (subtitles as SRT and VTT, each translation of them too, the chapter
list, the description, the export archive) with the links where it was published. The files
are read through the media store, so a bucket works as well as the local disk; an archive
bigger than the bot may upload is offered as a signed download link, as the file export does.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramEntityTooLarge
from aiogram.filters import Command
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    FSInputFile,
    InlineKeyboardMarkup,
    Message,
)
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import recordings as cb
from bot.callbacks.recordings import RecCb, RecCsvCb, RecListCb
from bot.filters import IsAdmin, OwnRecording, refuse_foreign, refuse_non_admin
from bot.handlers.usage import edit_quietly
from bot.keyboards import recordings as keyboards
from bot.recordings_csv import recordings_csv
from jobs import cards, control, progress
from jobs.cards import RetryCb
from jobs.publish import archive_name, outcome_lines
from jobs.translate import translated_downloads
from leap.settings import Settings
from locales import Translator
from locales.format import duration, language_name, size
from storage import quotas, repo
from storage.files import MediaStore
from storage.models import PublicationStatus, Recording, RecordingStatus, StageStatus, Workspace

log = logging.getLogger(__name__)

PAGE_SIZE = 8

STAGE_MARKS = {
    StageStatus.DONE: "✅",
    StageStatus.RUNNING: "⏳",
    StageStatus.PENDING: "🕓",
    StageStatus.FAILED: "❌",
    StageStatus.SKIPPED: "⏭",
}
PUBLICATION_MARKS = {
    PublicationStatus.DONE: "✅",
    PublicationStatus.UPLOADING: "⏳",
    PublicationStatus.PENDING: "🕓",
    PublicationStatus.FAILED: "❌",
}


async def list_command(
    message: Message, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    text, markup = await _page(session, workspace, _, 0)
    await message.answer(text, reply_markup=markup)


async def page_pressed(
    query: CallbackQuery,
    callback_data: RecListCb,
    session: AsyncSession,
    workspace: Workspace,
    _: Translator,
) -> None:
    await query.answer()
    text, markup = await _page(session, workspace, _, max(callback_data.page, 0))
    if isinstance(query.message, Message):
        # The page already shown, pressed again, changes nothing: not an error.
        await edit_quietly(query.message, text, markup)


async def csv_pressed(
    query: CallbackQuery, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    """Every recording of the workspace, every page of the list, as one CSV document."""
    if not isinstance(query.message, Message):
        await query.answer()
        return
    await query.answer(_("csv.sending"))
    data, count = await recordings_csv(session, workspace.id, _)
    name = f"recordings-{datetime.now(UTC):%Y-%m-%d}.csv"
    await _send(
        query.message, BufferedInputFile(data, filename=name), _("csv.caption", count=count), _
    )


async def _page(
    session: AsyncSession, workspace: Workspace, _: Translator, number: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    rows = await repo.list_recordings(
        session, workspace.id, limit=PAGE_SIZE + 1, offset=number * PAGE_SIZE
    )
    shown, more = list(rows[:PAGE_SIZE]), len(rows) > PAGE_SIZE
    if not shown and number == 0:
        return _("recs.empty"), None
    text = _("recs.heading", page=number + 1)
    return text, keyboards.page(_, shown, number, more)


async def open_pressed(
    query: CallbackQuery,
    callback_data: RecCb,
    recording: Recording,
    session: AsyncSession,
    _: Translator,
) -> None:
    await query.answer()
    await show_card(query, session, recording, callback_data.page, _)


async def retry_pressed(
    query: CallbackQuery,
    callback_data: RecCb,
    recording: Recording,
    session: AsyncSession,
    arq: ArqRedis,
    _: Translator,
) -> None:
    stage = await control.retry(session, arq, recording.workspace_id, recording.id)
    if stage is None:
        await query.answer(_("recs.nothing_to_retry"), show_alert=True)
        return
    await _retried(session, recording, query, stage, _)
    await show_card(query, session, recording, callback_data.page, _)


async def progress_retry_pressed(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    arq: ArqRedis,
    _: Translator,
) -> None:
    stage = await control.retry(session, arq, recording.workspace_id, recording.id)
    if stage is None:
        await query.answer(_("recs.nothing_to_retry"), show_alert=True)
        return
    await _retried(session, recording, query, stage, _)


async def _retried(
    session: AsyncSession, recording: Recording, query: CallbackQuery, stage: str, _: Translator
) -> None:
    await repo.audit(
        session,
        recording.workspace_id,
        query.from_user.id,
        "retry",
        f"recording:{recording.id}",
        stage=stage,
    )
    await session.commit()
    await query.answer(_("recs.retrying", stage=_(f"stage.{stage}")))


async def cancel_pressed(
    query: CallbackQuery,
    callback_data: RecCb,
    recording: Recording,
    session: AsyncSession,
    arq: ArqRedis,
    bot: Bot,
    settings: Settings,
    _: Translator,
) -> None:
    user = query.from_user
    line = _("recs.cancelled_by", name=html.escape(user.full_name))
    await query.answer(_("recs.cancelling"))
    stage = await control.cancel(session, arq, recording.workspace_id, recording.id, line)
    if stage is None:
        await show_card(query, session, recording, callback_data.page, _)
        return
    await repo.audit(
        session,
        recording.workspace_id,
        user.id,
        "cancel",
        f"recording:{recording.id}",
        stage=stage,
    )
    await session.commit()
    await show_card(query, session, recording, callback_data.page, _)
    if recording.chat_id is not None and recording.progress_message_id is not None:
        summaries = dict(recording.media.get("summaries") or {})
        await progress.paced_edit(
            bot,
            arq,
            recording.chat_id,
            recording.progress_message_id,
            cards.final_text(recording, summaries, line),
            cards.retry_keyboard(recording),
            settings.progress_interval,
        )


async def delete_pressed(
    query: CallbackQuery,
    callback_data: RecCb,
    recording: Recording,
    _: Translator,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await edit_quietly(
            query.message,
            _("recs.delete_confirm", name=html.escape(cards.display_name(recording))),
            keyboards.confirm_delete(_, recording.id, callback_data.page),
        )


async def delete_confirmed(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    arq: ArqRedis,
    store: MediaStore,
    _: Translator,
    own: Translator | None = None,
) -> None:
    name = cards.display_name(recording)
    if not await remove_recording(query, recording, session, arq, store, own or _):
        return
    if isinstance(query.message, Message):
        await query.message.edit_text(_("recs.deleted", name=html.escape(name)))


async def remove_recording(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    arq: ArqRedis,
    store: MediaStore,
    _: Translator,
) -> bool:
    """Delete the recording for the presser, audited; False (and an alert in `_`, the
    presser's language) while publishing."""
    name = cards.display_name(recording)
    workspace_id, rec = recording.workspace_id, recording.id
    # The deleted row no longer counts towards the month's minutes; its audit event does.
    await repo.audit(
        session,
        workspace_id,
        query.from_user.id,
        "delete",
        f"recording:{rec}",
        name=name,
        source_seconds=quotas.recording_seconds(recording.media, recording.options),
        month=recording.created_at.strftime("%Y-%m"),
    )
    if not await control.delete(session, arq, store, workspace_id, rec):
        # A publication started since the question was asked: nothing was removed.
        await session.rollback()
        await query.answer(_("recs.delete_publishing"), show_alert=True)
        return False
    await query.answer(_("recs.deleted_short"))
    return True


async def downloads_pressed(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    store: MediaStore,
    settings: Settings,
    _: Translator,
    own: Translator | None = None,
) -> None:
    """The results again, as documents in the chat, and where the recording was published.

    An archive bigger than the bot may upload goes out as a signed download link instead.
    """
    message = query.message
    if not control.has_results(recording) or not isinstance(message, Message):
        await query.answer((own or _)("recs.nothing_to_download"), show_alert=True)
        return
    await query.answer((own or _)("recs.sending_downloads"))
    rows = await repo.publications(session, recording.workspace_id, recording.id)
    published = [r for r in rows if r.status is PublicationStatus.DONE]
    lines = [_("recs.downloads", name=html.escape(cards.display_name(recording))), ""]
    if published:
        lines.append(_("recs.downloads_published"))
        lines += outcome_lines(recording, published, _.lang)
    else:
        lines.append(_("recs.downloads_not_published"))
    await message.answer(cards.fit("\n".join(lines)), disable_web_page_preview=True)
    items = await control.downloads(store, recording)
    for item in items:
        document = (
            FSInputFile(item.path, filename=item.filename)
            if item.path is not None
            else BufferedInputFile((item.text or "").encode(), filename=item.filename)
        )
        await _send(message, document, _(f"recs.download_{item.kind}"), _)
    # Translated subtitles follow the lecture's own, named like them with the language added.
    stem = next((i.filename[:-4] for i in items if i.kind == "srt"), f"recording-{recording.id}")
    for done in await translated_downloads(store, recording, stem):
        caption = _(
            f"translate.download_{done.kind}", language=language_name(_.lang, done.language)
        )
        await _send(message, FSInputFile(done.path, filename=done.filename), caption, _)
    await _send_archive(message, recording, store, settings, _)


async def _send_archive(
    message: Message, recording: Recording, store: MediaStore, settings: Settings, _: Translator
) -> None:
    path = await control.archive(store, recording)
    if path is None:
        await message.answer(_("recs.no_archive"))
        return
    total = path.stat().st_size
    limit_mb = (
        settings.local_upload_limit_mb
        if settings.telegram_api_local
        else settings.cloud_upload_limit_mb
    )
    metadata = await cards.fetch_metadata(store, recording)
    title = cards.recording_title(recording, metadata)
    if total <= limit_mb * 1024 * 1024:
        document = FSInputFile(path, filename=archive_name(title, recording.id))
        caption = _("publish.export_caption", title=html.escape(title, quote=False))
        if await _send(message, document, caption, _, timeout=max(300, total // (256 * 1024))):
            return
    link = control.export_link(settings, recording)
    if link is None:
        await message.answer(_("publish.error.export_no_link", size=size(_.lang, total)))
        return
    url, expires = link
    until = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
    await message.answer(
        _("recs.archive_link", size=size(_.lang, total), url=html.escape(url), until=until),
        disable_web_page_preview=True,
    )


async def _send(
    message: Message,
    document: FSInputFile | BufferedInputFile,
    caption: str,
    _: Translator,
    *,
    timeout: int = 60,
) -> bool:
    """Send one document into the chat; a refusal is said in the chat instead of lost."""
    try:
        await message.answer_document(document, caption=caption, request_timeout=timeout)
    except TelegramEntityTooLarge:
        return False
    except TelegramAPIError as exc:
        log.warning("download %s not sent: %s", document.filename, exc.message)
        await message.answer(
            _(
                "recs.download_failed",
                name=html.escape(document.filename or ""),
                reason=html.escape(exc.message),
            )
        )
        return False
    return True


async def review_pressed(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    bot: Bot,
    store: MediaStore,
    _: Translator,
) -> None:
    if recording.status is not RecordingStatus.AWAITING_REVIEW:
        await query.answer(_("review.not_under_review"), show_alert=True)
        return
    await query.answer()
    await cards.send_review_card(bot, session, store, recording)


async def show_card(
    query: CallbackQuery,
    session: AsyncSession,
    recording: Recording,
    number: int,
    _: Translator,
) -> None:
    if not isinstance(query.message, Message):
        return
    text = await recording_text(session, recording, _)
    publications = await repo.publications(session, recording.workspace_id, recording.id)
    markup = keyboards.recording(_, recording, number, publications)
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except Exception as exc:  # "not modified" after a press that changed nothing shown
        log.debug("recording card not edited: %s", exc)


async def recording_text(session: AsyncSession, recording: Recording, _: Translator) -> str:
    lines = [
        _("recs.card_title", name=html.escape(cards.display_name(recording)), id=recording.id),
        _(f"recs.status_{recording.status.value}")
        if recording.failure_code != control.CANCELLED
        else _("recs.status_cancelled"),
    ]
    if recording.status is RecordingStatus.FAILED and recording.failure_reason:
        lines.append(cards.clip(cards.safe(recording.failure_reason), 300))
    trim = recording.media.get("trim", {})
    if trim.get("duration"):
        before = float(trim.get("source_duration") or trim["duration"])
        lines.append(cards.trimmed_line(before, float(trim["duration"]), _))
    template = recording.media.get("compose", {}).get("template")
    if template:
        lines.append(_("review.template", name=html.escape(str(template))))

    runs = {
        r.stage: r for r in await repo.stage_runs(session, recording.workspace_id, recording.id)
    }
    lines += ["", _("recs.stages")]
    for stage in cards.shown_stages():
        name = _(f"stage.{stage}")
        run = runs.get(stage)
        if run is None:
            lines.append(f"◽️ {name}")
            continue
        line = f"{STAGE_MARKS.get(run.status, '•')} {name}"
        if run.status is StageStatus.DONE and run.seconds is not None:
            line += f" · {duration(run.seconds)}"
        lines.append(line)

    publications = await repo.publications(session, recording.workspace_id, recording.id)
    if publications:
        lines += ["", _("recs.publications")]
        for publication in publications:
            line = (
                f"{PUBLICATION_MARKS.get(publication.status, '•')} "
                f"{cards.platform_name(_.lang, publication.platform)}"
            )
            if publication.url:
                line += f" — {html.escape(publication.url)}"
            elif publication.status is PublicationStatus.FAILED and publication.error:
                line += f" — {html.escape(cards.clip(publication.error, 200))}"
            lines.append(line)
    return cards.fit("\n".join(lines))


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(list_command, Command("recordings"))

    admin = Router(name=f"{__name__}.admin")
    admin.callback_query.filter(IsAdmin())
    admin.callback_query.register(
        cancel_pressed, RecCb.filter(F.action == cb.CANCEL), OwnRecording()
    )
    admin.callback_query.register(
        delete_pressed, RecCb.filter(F.action == cb.DELETE), OwnRecording()
    )
    admin.callback_query.register(
        delete_confirmed, RecCb.filter(F.action == cb.DELETE_SURE), OwnRecording()
    )

    members = Router(name=f"{__name__}.members")
    members.callback_query.register(page_pressed, RecListCb.filter())
    members.callback_query.register(csv_pressed, RecCsvCb.filter())
    members.callback_query.register(open_pressed, RecCb.filter(F.action == cb.OPEN), OwnRecording())
    members.callback_query.register(
        retry_pressed, RecCb.filter(F.action == cb.RETRY), OwnRecording()
    )
    members.callback_query.register(
        review_pressed, RecCb.filter(F.action == cb.REVIEW), OwnRecording()
    )
    members.callback_query.register(
        downloads_pressed, RecCb.filter(F.action == cb.DOWNLOADS), OwnRecording()
    )
    members.callback_query.register(progress_retry_pressed, RetryCb.filter(), OwnRecording())

    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(
        refuse_non_admin,
        RecCb.filter(F.action.in_({cb.CANCEL, cb.DELETE, cb.DELETE_SURE})),
        OwnRecording(),
    )
    for data in (RecCb, RetryCb):
        refused.callback_query.register(refuse_foreign, data.filter())

    router.include_routers(admin, members, refused)
    return router
