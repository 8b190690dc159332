"""Yandex Disk: the video and its texts into the lecture's folder, the folder opened by link.

- Where: ``disk:/LEAP/<course>/<title> (<id>)/``. The course is the one the template's facts
  name, else the template's own name (the default template adds no level); every folder on the
  way is made when missing. Beside the video go the SRT and VTT subtitles, the transcript with
  timecodes and the description (with the chapter list), then the folder is published
  (``PUT /resources/publish``) and its ``public_url`` is the publication's link.
- Never twice: the folder is chosen once and saved as the row's `YandexDiskResume` before any
  byte goes out, and every file the Disk has taken is added to it at once; a later try sends
  only what is missing. Every file goes to its fixed path with ``overwrite=true`` through a
  fresh upload address, so even a file whose answer was lost is replaced, not doubled.
- Faults: an upload cut short is sent again whole (integrations.yandex.disk), then the job is
  retried later (`Transient`); a 401 refreshes the token once (under the credential's lock, the
  new pair stored first), and a refresh Yandex refuses asks for a new sign-in (`Reconnect`);
  507 says the Disk is full, with the size of the file that did not fit.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from redis.exceptions import LockError

from integrations.yandex import (
    YandexAuthError,
    YandexDisk,
    YandexDiskFull,
    YandexError,
    YandexTransient,
    join,
    safe_name,
)
from integrations.yandex import oauth as yandex_oauth
from jobs import files, keys
from jobs.publish.errors import PublishFailure, Reconnect, Transient
from jobs.publish.metadata import description_text, is_audio_only
from jobs.publish.resume import YandexDiskResume
from jobs.publish.spec import Platform
from jobs.publish.target import Target
from locales.format import size
from pipeline.transcript import Transcript

ROOT = "disk:/LEAP"
DEFAULT_TEMPLATE = "default"
# An access token this close to its end is renewed before the upload starts.
REFRESH_MARGIN = 3600
CREDENTIAL_LOCK_SECONDS = 60


async def publish_yandex_disk_to(target: Target) -> str:
    if target.publication.remote_id and target.publication.url:
        return target.publication.url
    settings = target.deps.settings
    if not settings.yandex_client_id or settings.yandex_client_secret is None:
        raise PublishFailure("not_configured", platform=target.name)
    video = target.video()
    state = target.resume(YandexDiskResume)
    if state is None:
        state = YandexDiskResume(folder=lecture_folder(target))
        await target.save(resume=state)
    tokens = yandex_oauth.YandexTokens.from_stored(target.payload())
    if tokens.expires_within(REFRESH_MARGIN):
        tokens = await _refreshed(target, tokens)
    try:
        with tempfile.TemporaryDirectory(prefix="leap-disk-") as scratch:
            made = _files(target, video, Path(scratch))
            try:
                return await _put(target, tokens.access_token, made)
            except YandexAuthError:
                # Expired early or revoked: one refresh tells which.
                tokens = await _refreshed(target, tokens)
                return await _put(target, tokens.access_token, made)
    except YandexAuthError:
        raise Reconnect from None
    except YandexDiskFull as exc:
        raise _full(target, exc, video) from None
    except YandexTransient as exc:
        raise Transient(f"Yandex Disk: {exc.message}") from None
    except YandexError as exc:
        raise PublishFailure("yandex_refused", reason=exc.message) from None


def _full(target: Target, exc: YandexDiskFull, path: Path) -> PublishFailure:
    """A full Disk (or a file over its limit), with the size of the file that did not fit."""
    code = "yandex_file_too_large" if exc.too_large else "yandex_full"
    return PublishFailure(code, size=size(target.lang, path.stat().st_size))


def lecture_folder(target: Target) -> str:
    """The lecture's folder: under the course's (or template's) folder, named by title and id."""
    recording = target.recording
    facts = recording.options.get("facts") or {}
    course = str(facts.get("course") or "") if isinstance(facts, dict) else ""
    template = str(target.options.get("template") or "")
    group = course or (template if template != DEFAULT_TEMPLATE else "")
    folder = ROOT if not group else join(ROOT, safe_name(group, "Lectures"))
    title = safe_name(target.metadata["title"], f"lecture-{recording.id}", limit=80)
    return join(folder, f"{title} ({recording.id})")


def _files(target: Target, video: Path, scratch: Path) -> list[tuple[str, Path]]:
    """(name on the Disk, local file) of everything the folder gets, the video first."""
    meta = target.metadata
    stem = safe_name(meta["title"], f"lecture-{target.recording.id}", limit=80)
    ext = ".m4a" if is_audio_only(target.recording) else ".mp4"
    made: list[tuple[str, Path]] = [(stem + ext, video)]
    for name, suffix in ((files.SRT, ".srt"), (files.VTT, ".vtt")):
        found = target.file(name)
        if found is not None:
            made.append((stem + suffix, found))
    transcript = target.file(files.TRANSCRIPT)
    if transcript is not None:
        try:
            lines = Transcript.load_json(transcript).to_timecoded_lines()
        except (OSError, ValueError):
            lines = []
        if lines:
            text = scratch / "transcript.txt"
            heading = f"{meta['title']} — {target._('yandex.transcript_title')}"
            text.write_text(heading + "\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
            made.append((f"{stem} — {target._('yandex.transcript_title')}.txt", text))
    description = scratch / "description.txt"
    description.write_text(description_text(meta, target.chapters()), encoding="utf-8")
    made.append((f"{stem}.txt", description))
    return made


async def _put(target: Target, token: str, made: list[tuple[str, Path]]) -> str:
    """Send what the Disk does not have yet, recording each file it takes; the folder's link."""
    state = target.resume(YandexDiskResume)
    assert state is not None
    delay = target.deps.settings.publish_retry_delay
    async with YandexDisk(
        token,
        api_url=target.deps.settings.yandex_disk_api_url,
        retry_delays=(delay, 2 * delay, 5 * delay),
    ) as disk:
        await disk.make_folders(state.folder)
        for index, (name, path) in enumerate(made):
            if name in state.done:
                continue
            progress = target.percent if index == 0 else None
            try:
                await disk.upload(join(state.folder, name), path, on_progress=progress)
            except YandexDiskFull as exc:
                raise _full(target, exc, path) from None
            if index == 0:
                await target.show("yandex_files")
            state = YandexDiskResume(folder=state.folder, done=[*state.done, name])
            await target.save(resume=state)
        await target.show("yandex_sharing")
        url = await disk.publish(state.folder)
    await target.save(remote_id=state.folder, url=url)
    return url


async def _refreshed(target: Target, spent: yandex_oauth.YandexTokens) -> yandex_oauth.YandexTokens:
    """Fresh tokens, stored before they are used: another job's if it renewed them meanwhile
    (the same lock as VK's covers every job of the credential), else Yandex's."""
    if target.credential is None:
        raise Reconnect
    lock = target.deps.redis.lock(
        keys.credential_lock(target.credential.id),
        timeout=CREDENTIAL_LOCK_SECONDS,
        blocking_timeout=CREDENTIAL_LOCK_SECONDS + 30,
    )
    if not await lock.acquire():
        raise Transient("Yandex OAuth: the connection is being refreshed by another job")
    try:
        payload = await target.reload_payload()
        stored = yandex_oauth.YandexTokens.from_stored(payload)
        if stored.access_token != spent.access_token and not stored.expires_within(REFRESH_MARGIN):
            return stored
        settings = target.deps.settings
        secret = settings.yandex_client_secret
        try:
            fresh = await yandex_oauth.refresh(
                stored.refresh_token,
                client_id=settings.yandex_client_id or "",
                client_secret=secret.get_secret_value() if secret else "",
                oauth_url=settings.yandex_oauth_url,
            )
        except YandexAuthError:
            raise Reconnect from None
        except YandexTransient as exc:
            raise Transient(f"Yandex OAuth: {exc.message}") from None
        except YandexError:
            raise Reconnect from None
        await target.store_payload({**payload, **fresh.stored()})
        return fresh
    finally:
        with contextlib.suppress(LockError):
            await lock.release()


PLATFORM = Platform(
    name="yandex_disk",
    provider="yandex",
    timeout=6 * 3600,
    needs_picture=False,
    publish=publish_yandex_disk_to,
    resume=YandexDiskResume,
)
