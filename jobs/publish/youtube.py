"""YouTube: a resumable upload, then captions, thumbnail and playlist, each recorded once made.

- Never twice: the resumable session's address is saved on the Publication row (its
  `YouTubeResume`) before the first byte goes out, and the video id the moment Google
  answers; a try that finds the id skips the upload, one that finds the session asks Google
  what it kept and goes on from there. A session Google has forgotten never made a video, so
  a new one cannot make a second.
- Translated subtitles (subtitles.<lang>.srt, jobs.translate) become further caption tracks,
  one per language, recorded like the first; a language translated again replaces the text of
  its track (captions.update), never adds a second one.
- Captions, thumbnail and playlist item are not idempotent at Google: each is recorded in
  ``recording.media["publish"]["youtube"]`` as soon as it is made, and one YouTube refuses
  becomes a note on the row (the video is up), not a failure.
- The template's choices come from ``recording.media["compose"]`` (``language``) and, for
  privacy, schedule (``status.publishAt``, private until then), licence, category, made for
  kids, notify subscribers and playlist, from `pipeline.presets.effective` (the card's
  changes over the template's). A scheduled upload records its time for the outcome line.
- A spent quota waits (arq Retry deferred until the quota resets) and says so in the chat once;
  tokens Google renewed during the job are stored whatever happens.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from arq import Retry

from integrations import google_oauth
from integrations.youtube import (
    UPLOAD_GRANULARITY,
    AsyncYouTube,
    QuotaExceeded,
    UploadSessionExpired,
    VideoMetadata,
    YouTube,
    YouTubeAuthError,
    YouTubeError,
    YouTubeTransient,
)
from jobs import files, keys
from jobs.publish.errors import PublishFailure, Reconnect, Transient
from jobs.publish.resume import YouTubeResume
from jobs.publish.spec import Platform
from jobs.publish.target import Target
from locales.format import language_name
from pipeline import presets
from pipeline.translation import TARGETS

log = logging.getLogger(__name__)


async def publish_youtube_to(target: Target) -> str:
    settings = target.deps.settings
    if not settings.youtube_client_id or not settings.youtube_client_secret:
        raise PublishFailure("not_configured", platform=target.name)
    payload = target.payload()
    video = target.video()
    delay = target.deps.settings.publish_retry_delay
    expires = payload.get("expires_at")
    client = await asyncio.to_thread(
        YouTube,
        access_token=payload.get("access_token"),
        refresh_token=payload.get("refresh_token"),
        client_id=settings.youtube_client_id,
        client_secret=settings.youtube_client_secret.get_secret_value(),
        token_url=settings.google_token_url,
        api_url=settings.youtube_api_url,
        expires_at=datetime.fromisoformat(expires) if expires else None,
        scope=str(payload.get("scope") or ""),
        retry_delay=delay,
        max_delay=64.0 * delay,
    )
    yt = AsyncYouTube(client)
    try:
        video_id = target.publication.remote_id
        if video_id is None:
            video_id = await _youtube_upload(target, yt, video)
        await _youtube_extras(target, yt, video_id)
    except QuotaExceeded as exc:
        await _quota_wait(target, exc.reset_at)
    except (YouTubeTransient, google_oauth.OAuthTransient) as exc:
        raise Transient(f"YouTube: {exc}") from None
    except (YouTubeAuthError, google_oauth.OAuthRevoked):
        raise Reconnect from None
    except YouTubeError as exc:
        raise PublishFailure("youtube_refused", reason=exc.message or exc.reason) from None
    finally:
        await _keep_google_tokens(target, yt, payload)
    return youtube_url(video_id)


def youtube_url(video_id: str) -> str:
    return f"https://youtu.be/{video_id}"


def youtube_metadata(target: Target) -> VideoMetadata:
    meta = target.metadata
    # Privacy, schedule, licence, category and flags: the template's, changed on the card.
    chosen = presets.effective(target.recording.media).at_upload(datetime.now(UTC))
    metadata: VideoMetadata = {
        # YouTube refuses angle brackets in titles and descriptions.
        "title": _no_angles(meta["title"])[:100],
        "description": _no_angles(meta["description"]),
        "defaultLanguage": target.language,
        "defaultAudioLanguage": target.language,
        **chosen.youtube_fields(),  # type: ignore[typeddict-item]
    }
    if meta["tags"]:
        metadata["tags"] = meta["tags"]
    return metadata


def _shown(target: Target) -> str | None:
    """The scheduled time in the zone it was given in, for the outcome line."""
    when = presets.effective(target.recording.media).publish_at
    return when.isoformat() if when else None


def _no_angles(text: str) -> str:
    return text.replace("<", "‹").replace(">", "›")


async def _youtube_upload(target: Target, yt: AsyncYouTube, video: Path) -> str:
    metadata = youtube_metadata(target)
    chunk = target.deps.settings.youtube_chunk_size
    chunk = max(UPLOAD_GRANULARITY, chunk // UPLOAD_GRANULARITY * UPLOAD_GRANULARITY)
    state = target.resume(YouTubeResume)
    if state is None:
        state = YouTubeResume(session_uri=await yt.start_upload(video, metadata))
        await target.save(resume=state)
        # What the outcome line says: "scheduled for <time>" when YouTube holds the video.
        await target.remember(scheduled=metadata.get("publishAt"), scheduled_shown=_shown(target))
    session_uri = state.session_uri
    try:
        video_id = await yt.upload(video, session_uri, chunk_size=chunk, on_progress=target.percent)
    except UploadSessionExpired:
        # The old session never made a video, so a new one cannot make a second.
        log.info(
            "recording %s: YouTube upload session expired, opening a new one", target.recording.id
        )
        session_uri = await yt.start_upload(video, metadata)
        await target.save(resume=YouTubeResume(session_uri=session_uri))
        video_id = await yt.upload(video, session_uri, chunk_size=chunk, on_progress=target.percent)
    await target.save(remote_id=video_id, url=youtube_url(video_id))
    return video_id


async def _youtube_extras(target: Target, yt: AsyncYouTube, video_id: str) -> None:
    done = target.remembered()
    notes: list[str] = list(done.get("notes") or [])
    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    srt = target.file(files.SRT)
    thumbnail = target.file(files.THUMBNAIL)
    playlist = presets.effective(target.recording.media).playlist_id or ""
    if srt is not None:
        name = target._("publish.caption_name")
        steps.append(("captions", lambda: yt.set_captions(video_id, srt, target.language, name)))
    steps += translated_captions(target, yt, video_id)
    if thumbnail is not None:
        steps.append(("thumbnail", lambda: yt.set_thumbnail(video_id, thumbnail)))
    if playlist:
        steps.append(("playlist", lambda: yt.add_to_playlist(video_id, playlist)))
    for step, call in steps:
        if step in done:
            continue
        await target.show("finishing")
        try:
            result = await call()
        except (QuotaExceeded, YouTubeTransient, YouTubeAuthError):
            raise
        except YouTubeError as exc:
            # The video is up; a part YouTube refuses becomes a note, not a failure.
            log.info("recording %s: YouTube %s refused: %s", target.recording.id, step, exc.reason)
            kind = step.split(":")[0]  # "captions:en", a translated track, warns as captions
            notes.append(target._(f"publish.warning.{kind}", reason=exc.message or exc.reason))
            await target.remember(**{step: False, "notes": notes})
            continue
        await target.remember(**{step: result if result is not None else True})
    if notes:
        await target.save(error="; ".join(notes)[:2000])


def caption_digest(path: Path) -> str:
    """A short digest of a subtitles file: which text a track was last given."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def replaced_step(language: str, digest: str) -> str:
    """The remembered step of putting the text with `digest` into an existing track."""
    return f"captions:{language}@{digest}"


def translated_captions(
    target: Target, yt: AsyncYouTube, video_id: str
) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    """A caption track per translation of the subtitles (jobs.translate), in its language.

    The text each track was given is remembered by its digest (``captions_text:<lang>``); a
    language translated again after its track was made (or refused) puts the new text into
    that track, one step per text, instead of adding a second track of the same language.
    """
    done = target.remembered()
    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    for code in TARGETS:
        path = target.file(files.translated_srt(code))
        if path is None or code == target.language:
            continue
        name = target._("translate.track_name", language=language_name(code, code))
        digest = caption_digest(path)
        made = done.get(f"captions:{code}")
        if f"captions:{code}" not in done:
            call = partial(_add_track, target, yt, video_id, path, code, name, digest)
            steps.append((f"captions:{code}", call))
        elif done.get(f"captions_text:{code}") != digest:
            known = made if isinstance(made, str) else None
            call = partial(_replace_track, target, yt, video_id, known, path, code, name, digest)
            steps.append((replaced_step(code, digest), call))
    return steps


async def _add_track(
    target: Target, yt: AsyncYouTube, video_id: str, path: Path, code: str, name: str, digest: str
) -> str | None:
    made = await yt.set_captions(video_id, path, code, name)
    await target.remember(**{f"captions_text:{code}": digest})
    return made


async def _replace_track(
    target: Target,
    yt: AsyncYouTube,
    video_id: str,
    known: str | None,
    path: Path,
    code: str,
    name: str,
    digest: str,
) -> str:
    made = await yt.replace_captions(video_id, known, path, code, name)
    await target.remember(**{f"captions:{code}": made or True, f"captions_text:{code}": digest})
    return made


async def _quota_wait(target: Target, reset_at: datetime) -> None:
    when = reset_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    await target.show("quota", time=when)
    told = await target.deps.redis.set(
        keys.publish_quota_notice(target.recording.id, int(reset_at.timestamp())),
        1,
        nx=True,
        ex=2 * 24 * 3600,
    )
    if told:
        await target.tell(target._("publish.quota_message", time=when))
    wait = max((reset_at - datetime.now(UTC)).total_seconds(), 60.0) + 60.0
    log.info("recording %s: YouTube quota spent, waiting until %s", target.recording.id, when)
    raise Retry(defer=timedelta(seconds=wait))


async def _keep_google_tokens(target: Target, yt: AsyncYouTube, payload: dict[str, Any]) -> None:
    tokens = yt.tokens
    if not tokens.access_token or tokens.access_token == payload.get("access_token"):
        return
    refreshed = {
        **payload,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token or payload.get("refresh_token"),
        "expires_at": tokens.expires_at.isoformat(),
    }
    await target.store_payload(refreshed)
    payload.update(refreshed)


PLATFORM = Platform(
    name="youtube",
    provider="youtube",
    timeout=6 * 3600,
    needs_picture=True,
    publish=publish_youtube_to,
    resume=YouTubeResume,
)
