"""Telegram channel: one post with the video (or the sound, as audio) and the chapters.

- The post goes to the channel the connection names; the bot must be an admin there, and a
  channel Telegram cannot find is explained the same way.
- A file over the Bot API's upload limit (50 MB cloud, 2000 MB with a local server) is
  explained with both sizes instead of being tried.
- Sound without a picture goes out as audio: a player in the channel, not a black video.
- The self-check quiz follows the video when chosen (`jobs.publish.quiz_post`).
- Never twice: see jobs.publish.sending; a post whose answer was lost fails the platform with
  a reason asking the person to look.
"""

from __future__ import annotations

from pathlib import Path

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import FSInputFile, Message
from arq import Retry

from integrations import telegram_channel
from jobs.publish.errors import PublishFailure
from jobs.publish.metadata import archive_name, is_audio_only
from jobs.publish.quiz_post import quiz_after_video
from jobs.publish.resume import TelegramResume
from jobs.publish.sending import lost_answer, upload_limit, was_sending
from jobs.publish.spec import Platform
from jobs.publish.target import Target
from locales.format import size


async def publish_telegram_to(target: Target) -> str:
    payload = target.payload()
    if target.publication.remote_id and target.publication.url:
        return target.publication.url
    if was_sending(target, TelegramResume):
        # An earlier try sent the post and never heard back (a lost answer, a stopped worker).
        raise PublishFailure("telegram_maybe_sent")
    video = target.video()
    bytes_ = video.stat().st_size
    limit = upload_limit(target.deps)
    if bytes_ > limit:
        raise PublishFailure(
            "telegram_too_big", size=size(target.lang, bytes_), limit_mb=limit // (1024 * 1024)
        )
    chat_id = int(payload["chat_id"])
    text = telegram_channel.caption(target.metadata["title"], target.chapters())
    media = target.recording.media
    source = media.get("source") or {}
    duration = (media.get("trim") or {}).get("duration") or source.get("duration")
    seconds = int(duration) if duration else None
    timeout = max(300, bytes_ // (256 * 1024))
    await target.show("sending")
    await target.save(resume=TelegramResume(sending=True))
    try:
        if is_audio_only(target.recording):
            message = await _post_audio(target, chat_id, video, text, seconds, timeout)
        else:
            message = await telegram_channel.post_video(
                target.deps.bot,
                chat_id,
                video,
                text,
                duration=seconds,
                width=source.get("width"),
                height=source.get("height"),
                timeout=timeout,
            )
    except TelegramRetryAfter as exc:
        await target.save(resume=None)
        raise Retry(defer=exc.retry_after + 1) from None
    except TelegramEntityTooLarge:
        await target.save(resume=None)
        raise PublishFailure(
            "telegram_too_big", size=size(target.lang, bytes_), limit_mb=limit // (1024 * 1024)
        ) from None
    except TelegramForbiddenError:
        await target.save(resume=None)
        raise PublishFailure("telegram_not_admin") from None
    except TelegramBadRequest as exc:
        await target.save(resume=None)
        if "chat not found" in exc.message.lower():
            raise PublishFailure("telegram_not_admin") from None
        raise PublishFailure("telegram_refused", reason=exc.message) from None
    except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as exc:
        await lost_answer(target, exc)
        raise PublishFailure("telegram_maybe_sent") from None
    url = telegram_channel.post_link(chat_id, payload.get("username"), message.message_id)
    await target.save(remote_id=str(message.message_id), url=url, resume=None)
    await quiz_after_video(target, chat_id)
    return url


async def _post_audio(
    target: Target, chat_id: int, sound: Path, text: str, seconds: int | None, timeout: int
) -> Message:
    """A sound-only recording goes out as audio: a player in the channel, not a black video."""
    title = target.metadata["title"]
    return await target.deps.bot.send_audio(
        chat_id,
        FSInputFile(sound, filename=f"{archive_name(title, target.recording.id)[:-4]}.m4a"),
        caption=text,
        duration=seconds,
        title=title[:64],
        request_timeout=timeout,
    )


PLATFORM = Platform(
    name="telegram",
    provider="telegram",
    timeout=3600,
    needs_picture=False,
    publish=publish_telegram_to,
    resume=TelegramResume,
)
