"""Recordings arriving as files: check what we can before any download, then queue the fetch.

What Telegram says about the file (its kind, size and length) is checked here, in the
sender's words; the quotas, the recording and its fetch are `jobs.admission`'s.

Videos and sound alike: a lecture recorded on a phone's voice recorder, or sent as a voice
message, goes through the same pipeline and comes out as a podcast-style recording.
"""

from __future__ import annotations

import html
from pathlib import PurePath

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import Audio, Document, Message, Video, VideoNote, Voice
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handlers.usage import refusal_text
from jobs import admission, control
from leap.settings import Settings
from locales import Translator
from locales.format import duration as format_duration
from locales.format import size
from pipeline.timecodes import clean_title
from storage import quotas
from storage.files import MediaStore
from storage.models import Recording, SourceKind, Workspace

VIDEO_EXTS = {"mp4", "m4v", "mov", "mkv", "webm", "avi", "wmv", "flv", "mpg", "mpeg", "ts", "3gp"}
AUDIO_EXTS = {"m4a", "mp3", "ogg", "oga", "opus", "wav", "flac", "aac"}
# What a sound file is called when Telegram sends no name: the extension its type implies.
_AUDIO_MIME_EXTS = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/m4a": "m4a",
    "audio/aac": "aac",
    "audio/ogg": "ogg",
    "audio/opus": "opus",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
}

Media = Video | VideoNote | Document | Audio | Voice


def is_video(mime: str | None, file_name: str | None) -> bool:
    if mime and mime.startswith("video/"):
        return True
    ext = PurePath(file_name or "").suffix.lower().lstrip(".")
    # Clients send odd types (octet-stream) for real videos; the probe after download decides.
    return ext in VIDEO_EXTS and (mime is None or not mime.startswith(("image/", "text/")))


def is_audio(mime: str | None, file_name: str | None) -> bool:
    if mime and mime.startswith("audio/"):
        return True
    ext = PurePath(file_name or "").suffix.lower().lstrip(".")
    return ext in AUDIO_EXTS and (mime is None or not mime.startswith(("image/", "text/")))


def is_recording(mime: str | None, file_name: str | None) -> bool:
    """A file the pipeline can take: a video, or sound alone (published as a podcast)."""
    return is_video(mime, file_name) or is_audio(mime, file_name)


def received_media(message: Message) -> tuple[Media, str, str | None]:
    """The file a message carries, the name it goes by and its type, as far as Telegram says."""
    if message.video is not None:
        # A video recorded in Telegram has no name; the day it was recorded tells them apart.
        name = message.video.file_name or f"video-{message.date:%Y-%m-%d}.mp4"
        return message.video, name, message.video.mime_type
    if message.video_note is not None:
        # Round videos come without a name or a type; they are always MP4.
        return message.video_note, f"video-{message.date:%Y-%m-%d}.mp4", "video/mp4"
    if message.voice is not None:
        voice = message.voice
        mime = voice.mime_type or "audio/ogg"
        # A voice message has no name; the day it was said tells recordings apart.
        name = f"voice-{message.date:%Y-%m-%d}.{_AUDIO_MIME_EXTS.get(mime, 'ogg')}"
        return voice, name, mime
    if message.audio is not None:
        audio = message.audio
        mime = audio.mime_type
        ext = _AUDIO_MIME_EXTS.get(mime or "", "mp3")
        name = audio.file_name or (f"{audio.title}.{ext}" if audio.title else f"audio.{ext}")
        return audio, name, mime
    document = message.document
    assert document is not None
    return document, document.file_name or "video.mp4", document.mime_type


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
    media, file_name, mime = received_media(message)
    if not is_recording(mime, file_name):
        await message.reply(
            _("intake.not_video", name=html.escape(file_name), mime=html.escape(mime or "?"))
        )
        return

    if not admission.transcribable(workspace, settings):
        await message.reply(_("error.stt_unsupported_language"))
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

    # Telegram gives the length of videos, sound and voice (not of documents); what it
    # gives is checked now.
    seconds = float(getattr(media, "duration", None) or 0) or None
    limit = settings.max_duration_hours * 3600
    if seconds is not None and seconds > limit:
        await message.reply(
            _("error.too_long", duration=format_duration(seconds), limit=format_duration(limit))
        )
        return

    caption = caption_title(message)
    options = admission.pipeline_options(workspace, settings)
    if seconds:
        # Counted against the month's minutes until the download is measured.
        options["declared_seconds"] = seconds
    if caption:
        # What the sender called it beats what the file is called.
        options["facts"] = {"title": caption}
    new = admission.NewRecording(
        workspace=workspace,
        source_kind=SourceKind.TELEGRAM,
        source_ref=media.file_id,
        source_name=file_name,
        source_size=file_size or None,
        source_ext=PurePath(file_name).suffix or "mp4",
        language=lang,
        chat_id=message.chat.id,
        thread_id=message.message_thread_id if message.is_topic_message else None,
        created_by=message.from_user.id if message.from_user else None,
        options=options,
    )

    async def announce(recording: Recording) -> int:
        text = _("intake.queued", name=html.escape(caption or file_name))
        ahead = await control.queue_place(session, workspace.id, recording.id)
        if ahead:
            # Accepted all the same; the person should know why nothing moves yet.
            text += "\n" + _("queue.place", place=ahead + 1, ahead=ahead)
        return (await message.reply(text)).message_id

    admitted = await admission.admit(session, arq, store, settings, new, announce)
    if isinstance(admitted, quotas.Refusal):
        await message.reply(refusal_text(_, admitted))


CAPTION_TITLE_CHARS = 100


def caption_title(message: Message) -> str:
    """The title a sender gave the file: the first line of its caption (a forwarded post's
    text too), without hashtags and links; empty when there is none."""
    for line in (message.caption or "").splitlines():
        words = [w for w in line.split() if not w.startswith(("#", "http://", "https://"))]
        title = clean_title(" ".join(words))
        if title:
            if len(title) > CAPTION_TITLE_CHARS:
                title = title[: CAPTION_TITLE_CHARS - 1].rstrip() + "…"
            return title
    return ""


# Voice and round video messages in a group shorter than this are people talking, not lectures.
GROUP_TALK_SECONDS = 300


def is_talk(message: Message) -> bool:
    """A short voice or round video message in a group: conversation, left alone.

    In a private chat everything sent to the bot is meant for it; a team's chat is also where
    its members talk, and a voice note there is rarely a lecture.
    """
    short = message.voice or message.video_note
    if short is None or message.chat.type == ChatType.PRIVATE:
        return False
    return (short.duration or 0) < GROUP_TALK_SECONDS


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(
        file_received,
        F.video | F.document | F.video_note | F.audio | F.voice,
        ~F.func(is_talk),
    )
    return router
