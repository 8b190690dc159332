"""Local export: an archive of the video, subtitles (and their translations), metadata and
description for the person.

- The archive is sent into the recording's chat when it fits the Bot API's upload limit, else
  it is put where the web server serves it (the media bucket too, when media lives in one)
  and the chat gets a signed link that expires after EXPORT_LINK_HOURS; without a public
  address or a secret key there is no link to give, and the platform says so with the size.
- Never twice: a file sent into the chat follows jobs.publish.sending; a link is recorded with
  its expiry in ``recording.media["publish"]["export"]`` and on the row.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import FSInputFile
from arq import Retry

from integrations import export
from jobs import files
from jobs.publish.errors import PublishFailure
from jobs.publish.metadata import ARCHIVE_TEXT, archive_name, description_text, esc
from jobs.publish.resume import ExportResume
from jobs.publish.sending import lost_answer, upload_limit, was_sending
from jobs.publish.spec import Platform
from jobs.publish.target import Target
from locales.format import size


async def publish_export_to(target: Target) -> str | None:
    if target.publication.remote_id:
        return target.publication.url
    if was_sending(target, ExportResume):
        # An earlier try sent the archive and never heard back: see publish_telegram_to.
        raise PublishFailure("export_maybe_sent")
    deps = target.deps
    recording = target.recording
    target.video()
    meta = target.metadata
    archive = target.folder / export.ARCHIVE
    await target.show("packing")
    total = await asyncio.to_thread(
        export.build_archive,
        archive,
        [
            (target.folder / name, name)
            for name in (files.VIDEO, files.SRT, files.VTT, files.METADATA, *files.translations())
        ],
        {ARCHIVE_TEXT: description_text(meta, target.chapters())},
    )
    if total <= upload_limit(deps) and recording.chat_id is not None:
        await target.show("sending")
        await target.save(resume=ExportResume(sending=True))
        try:
            message = await deps.bot.send_document(
                recording.chat_id,
                FSInputFile(archive, filename=archive_name(meta["title"], recording.id)),
                caption=target._("publish.export_caption", title=esc(meta["title"])),
                message_thread_id=recording.thread_id,
                request_timeout=max(300, total // (256 * 1024)),
            )
        except TelegramRetryAfter as exc:
            await target.save(resume=None)
            raise Retry(defer=exc.retry_after + 1) from None
        except TelegramEntityTooLarge as exc:  # a network error by class, a refusal in fact
            await target.save(resume=None)
            raise PublishFailure("export_refused", reason=exc.message) from None
        except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as exc:
            await lost_answer(target, exc)
            raise PublishFailure("export_maybe_sent") from None
        except TelegramAPIError as exc:
            await target.save(resume=None)
            raise PublishFailure("export_refused", reason=exc.message) from None
        await target.save(remote_id=f"message:{message.message_id}", resume=None)
        return None
    secret = deps.settings.secret_key.get_secret_value() if deps.settings.secret_key else ""
    base = deps.settings.public_base_url
    if not base or not secret:
        raise PublishFailure("export_no_link", size=size(target.lang, total))
    # The link serves the archive from the bucket when media lives in one: it must be there
    # before anyone can follow the link.
    await deps.store.put(recording.workspace_id, recording.id, export.ARCHIVE)
    hours = deps.settings.export_link_hours
    expires = int((datetime.now(UTC) + timedelta(hours=hours)).timestamp())
    token = export.sign(export.link_key(secret), recording.workspace_id, recording.id, expires)
    url = f"{base.rstrip('/')}/export/{token}"
    await target.remember(expires_at=expires)
    await target.save(remote_id="link", url=url)
    return url


PLATFORM = Platform(
    name="export",
    provider=None,
    timeout=3600,
    needs_picture=False,
    publish=publish_export_to,
    resume=ExportResume,
)
