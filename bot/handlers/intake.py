"""Recordings arriving as files: check what we can before any download, then queue the fetch."""

from __future__ import annotations

import html
import logging
from pathlib import PurePath

from aiogram import F, Router
from aiogram.types import Document, Message, Video
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handlers.usage import quota_turn, refusal_text
from jobs import control
from jobs.enqueue import enqueue_stage
from leap.settings import Settings
from locales import Translator
from locales.format import duration as format_duration
from locales.format import size
from storage import quotas, repo
from storage.files import MediaStore, safe_ext
from storage.models import SourceKind, Workspace

log = logging.getLogger(__name__)

VIDEO_EXTS = {"mp4", "m4v", "mov", "mkv", "webm", "avi", "wmv", "flv", "mpg", "mpeg", "ts", "3gp"}


def is_video(mime: str | None, file_name: str | None) -> bool:
    if mime and mime.startswith("video/"):
        return True
    ext = PurePath(file_name or "").suffix.lower().lstrip(".")
    # Clients send odd types (octet-stream) for real videos; the probe after download decides.
    return ext in VIDEO_EXTS and (mime is None or not mime.startswith(("image/", "text/")))


async def file_received(
    message: Message,
    session: AsyncSession,
    workspace: Workspace,
    settings: Settings,
    store: MediaStore,
    arq: ArqRedis,
    lang: str,
    _: Translator,
) -> None:
    media: Video | Document = message.video or message.document or message.video_note  # type: ignore[assignment]
    file_name = getattr(media, "file_name", None) or "video.mp4"
    mime = getattr(media, "mime_type", None) or ("video/mp4" if message.video_note else None)
    if not is_video(mime, file_name):
        await message.reply(
            _("intake.not_video", name=html.escape(file_name), mime=html.escape(mime or "?"))
        )
        return

    file_size = media.file_size or 0
    if settings.telegram_api_local:
        limit_mb = settings.local_download_limit_mb
        key = "intake.too_big_local"
    else:
        limit_mb = settings.cloud_download_limit_mb
        key = "intake.too_big_cloud"
    if file_size > limit_mb * 1024 * 1024:
        await message.reply(_(key, size=size(lang, file_size), limit_mb=limit_mb))
        return

    # Telegram gives the length of videos (not of documents); what it gives is checked now.
    seconds = float(getattr(media, "duration", None) or 0) or None
    limit = settings.max_duration_hours * 3600
    if seconds is not None and seconds > limit:
        await message.reply(
            _("error.too_long", duration=format_duration(seconds), limit=format_duration(limit))
        )
        return
    async with quota_turn(arq, workspace.id):
        refusal = await quotas.check(
            session, store, workspace, settings, size=file_size or None, seconds=seconds
        )
        if refusal is not None:
            await message.reply(refusal_text(_, refusal))
            return
        options = pipeline_options(workspace, settings)
        if seconds:
            # Counted against the month's minutes until the download is measured.
            options["declared_seconds"] = seconds
        recording = await repo.create_recording(
            session,
            workspace.id,
            created_by=message.from_user.id if message.from_user else None,
            source_kind=SourceKind.TELEGRAM,
            source_ref=media.file_id,
            source_name=file_name[:512],
            source_size=file_size or None,
            source_ext=safe_ext(PurePath(file_name).suffix or "mp4"),
            language=lang,
            chat_id=message.chat.id,
            thread_id=message.message_thread_id if message.is_topic_message else None,
            stage="fetch",
            options=options,
        )
        await repo.stage_run(session, workspace.id, recording.id, "fetch")
        # Counted from here on by whoever checks next.
        await session.commit()
    text = _("intake.queued", name=html.escape(file_name))
    ahead = await control.queue_place(session, workspace.id, recording.id)
    if ahead:
        # Accepted all the same; the person should know why nothing moves yet.
        text += "\n" + _("queue.place", place=ahead + 1, ahead=ahead)
    progress = await message.reply(text)
    recording.progress_message_id = progress.message_id
    # The worker must find the row, so commit before handing the work over.
    await session.commit()
    await enqueue_stage(arq, workspace.id, recording.id, "fetch")
    log.info("recording %s queued from chat %s", recording.id, message.chat.id)


def pipeline_options(workspace: Workspace, settings: Settings) -> dict[str, object]:
    """What the pipeline needs from the workspace's settings, fixed when the file arrives."""
    chosen = workspace.settings or {}
    return {
        "remove_pauses": bool(chosen.get("remove_pauses", False)),
        "transcribe_language": str(
            chosen.get("transcribe_language") or settings.transcribe_language
        ),
    }


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(file_received, F.video | F.document | F.video_note)
    return router
