"""VK: a video slot with its upload address, then the file sent to that address.

- Never twice: the slot's id and upload address (its `VKResume`) are saved on the Publication
  row as soon as VK hands them out, before the file is sent; a try that finds them asks VK
  about the video and sends to the same slot while it still waits for its bytes, returns the
  link once VK has it, and starts afresh only when VK no longer knows the slot.
- The description carries the chapter list (VK has no chapters of its own); the album and who
  may see the video are the presets (`pipeline.presets.effective`: the template's
  ``vk_album_id`` and ``vk_privacy``, changed on the card); the video goes to the community, so
  any choice but "all" uploads it hidden (``is_private``, see `integrations.vk`).
- Once the bytes are sent, VK's player address for the video is read and its hash kept in
  ``media["publish"]["vk"]["player_hash"]``: a share page embeds the video with it.
- VK ID rotates its refresh tokens and every job of the workspace holds the same one: an access
  token about to run out is renewed under a Redis lock per credential, against the credential
  as stored by then, and the new pair is stored before it is used.
"""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from redis.exceptions import LockError

from integrations import vk_oauth
from integrations.vk import (
    VkAuthError,
    VkError,
    VkUploadTarget,
    VkVideo,
    VkVideoInfo,
    video_url,
)
from jobs import keys
from jobs.publish.errors import PublishFailure, Reconnect, Transient
from jobs.publish.metadata import vk_description
from jobs.publish.resume import VKResume
from jobs.publish.spec import Platform
from jobs.publish.target import Target
from pipeline import presets

log = logging.getLogger(__name__)
_HASH = re.compile(r"^[0-9a-f]{6,64}$")
# A VK access token this close to its end is renewed before an upload starts.
VK_REFRESH_MARGIN = 300
# Longest a job may hold a credential's refresh lock; a token request takes seconds.
CREDENTIAL_LOCK_SECONDS = 60


async def publish_vk_to(target: Target) -> str:
    settings = target.deps.settings
    payload = target.payload()
    group_id = payload.get("group_id")
    if not group_id:
        raise PublishFailure("vk_no_group")
    video = target.video()
    access_token = await _vk_access_token(target, payload)
    delay = target.deps.settings.publish_retry_delay
    vk = VkVideo(
        access_token,
        api_url=settings.vk_api_url,
        retry_delays=(delay, 2 * delay, 5 * delay),
        upload_retry_delays=(2 * delay, 5 * delay, 15 * delay),
    )
    try:
        return await _vk_upload(target, vk, video, int(group_id))
    except VkAuthError:
        raise Reconnect from None
    except VkError as exc:
        if exc.retryable:
            raise Transient(f"VK: {exc}") from None
        raise PublishFailure("vk_refused", reason=exc.message) from None
    finally:
        vk.close()


async def _vk_access_token(target: Target, payload: dict[str, Any]) -> str:
    """The stored access token, refreshed first when it is about to run out (VK's last 1 h).

    VK ID refresh tokens are single-use, and every publication of the workspace holds the same
    one: the refresh happens under a Redis lock per credential, against the credential as it is
    stored by then, so a second job finds the pair the first one made instead of spending the
    old token again (which VK ID answers with invalid_grant).
    """
    tokens = _vk_tokens(payload)
    if not tokens.expires_within(VK_REFRESH_MARGIN):
        return tokens.access_token
    if target.credential is None:
        raise Reconnect
    lock = target.deps.redis.lock(
        keys.credential_lock(target.credential.id),
        timeout=CREDENTIAL_LOCK_SECONDS,
        blocking_timeout=CREDENTIAL_LOCK_SECONDS + 30,
    )
    if not await lock.acquire():
        raise Transient("VK ID: the connection is being refreshed by another job")
    try:
        return await _vk_refresh(target, payload)
    finally:
        # An expired lock is no harm here: the new pair is stored before it is used.
        with contextlib.suppress(LockError):
            await lock.release()


async def _vk_refresh(target: Target, payload: dict[str, Any]) -> str:
    """Under the credential's lock: the stored pair if another job renewed it, else a refresh."""
    current = await target.reload_payload()
    tokens = _vk_tokens(current)
    if not tokens.expires_within(VK_REFRESH_MARGIN):
        payload.update(current)
        return tokens.access_token
    looked_again = False
    while True:
        try:
            fresh = await vk_oauth.refresh(
                tokens.refresh_token,
                tokens.device_id,
                client_id=target.deps.settings.vk_client_id or "",
                oauth_url=target.deps.settings.vk_oauth_url,
            )
            break
        except VkAuthError:
            # Spent by someone the lock does not cover (a new sign-in, an older worker): the
            # stored credential may hold a newer pair. Only when it does not is it gone.
            if looked_again:
                raise Reconnect from None
            looked_again = True
            current = await target.reload_payload()
            newer = _vk_tokens(current)
            if newer.refresh_token == tokens.refresh_token:
                raise Reconnect from None
            tokens = newer
            if not tokens.expires_within(VK_REFRESH_MARGIN):
                payload.update(current)
                return tokens.access_token
        except VkError as exc:
            if exc.retryable:
                raise Transient(f"VK ID: {exc}") from None
            raise Reconnect from None
    # VK ID rotates the refresh token: the new pair must be stored before anything else.
    current.update(
        access_token=fresh.access_token,
        refresh_token=fresh.refresh_token,
        expires_at=fresh.expires_at.isoformat(),
        device_id=fresh.device_id,
    )
    await target.store_payload(current)
    payload.update(current)
    return fresh.access_token


def _vk_tokens(payload: dict[str, Any]) -> vk_oauth.VkTokens:
    try:
        return vk_oauth.VkTokens(
            access_token=str(payload["access_token"]),
            refresh_token=str(payload["refresh_token"]),
            expires_at=datetime.fromisoformat(str(payload["expires_at"])),
            user_id=int(payload["user_id"]),
            device_id=str(payload["device_id"]),
        )
    except (KeyError, TypeError, ValueError):
        raise Reconnect from None


async def _vk_upload(target: Target, vk: VkVideo, video: Path, group_id: int) -> str:
    remote = target.publication.remote_id
    if remote:
        owner_id, video_id = (int(part) for part in remote.split("_", 1))
        info = await vk.find_video_async(owner_id, video_id)
        if info is not None and not info.processing:
            await _remember_player(target, info)
            return video_url(owner_id, video_id)
        state = target.resume(VKResume)
        if info is not None and state is not None and state.upload_url:
            # The slot exists and still waits for its bytes: send them to the same slot.
            slot = VkUploadTarget(owner_id, video_id, state.upload_url)
            await vk.send_file_async(slot, video, on_progress=target.percent)
            return slot.url
        await target.save(remote_id=None, resume=None)
    meta = target.metadata
    chosen = presets.effective(target.recording.media)
    album = chosen.vk_album_id
    slot = await vk.save_async(
        title=meta["title"][:128],
        description=vk_description(meta, target.chapters()),
        group_id=group_id,
        album_id=int(album) if album and album.isdigit() else None,
        privacy_view=chosen.vk_privacy,
    )
    await target.save(
        remote_id=f"{slot.owner_id}_{slot.video_id}",
        resume=VKResume(upload_url=slot.upload_url),
        url=slot.url,
    )
    await vk.send_file_async(slot, video, on_progress=target.percent)
    try:
        info = await vk.find_video_async(slot.owner_id, slot.video_id)
    except VkError as exc:
        # Only the share page's player needs it; the video is up either way.
        log.info("recording %s: VK player not read: %s", target.recording.id, exc.message)
        info = None
    if info is not None:
        await _remember_player(target, info)
    return slot.url


async def _remember_player(target: Target, info: VkVideoInfo) -> None:
    """The hash of VK's player address, so a share page can embed the video (bot.share_page)."""
    query = parse_qs(urlsplit(info.player).query)
    found = (query.get("hash") or [""])[0]
    if _HASH.match(found) and target.remembered().get("player_hash") != found:
        await target.remember(player_hash=found)


PLATFORM = Platform(
    name="vk",
    provider="vk",
    timeout=6 * 3600,
    needs_picture=True,
    publish=publish_vk_to,
    resume=VKResume,
)
