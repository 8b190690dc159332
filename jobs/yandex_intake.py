"""Private Yandex Disk links at intake: looked at through the workspace's Yandex connection.

Rules it keeps:

- Only a private path (`integrations.yandex.disk_path`: ``disk:/...`` or the Disk's web client
  address) is treated here; every other link goes on to the Drive intake and the inspector
  unchanged, so public Disk links (``/d/``, ``/i/``) keep going through yt-dlp.
- The connected Disk is the admin's who connected it: in a group, only admins may bring files in
  from it (a member is told to send a public link instead).
- Without a Yandex connection a private path is refused with a message that says how to
  connect one; a connection Yandex no longer takes is named as such.
- A file must be video or sound; a folder becomes a batch of its video and sound files (by
  name, at most PLAYLIST_MAX_ITEMS), offered for confirmation like a playlist before anything
  is queued. Each recording keeps its Disk path (``Video.disk_path``, then
  ``options["yandex_path"]``), and the fetch stage downloads it (`jobs.fetch_yandex`).
- The bot's database transaction is closed before the Disk is asked anything.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.links import LinkError, Playlist, Video, check_limits
from integrations.yandex import (
    Resource,
    YandexAuthError,
    YandexDisk,
    YandexError,
    YandexNotFound,
    YandexTransient,
    disk_path,
)
from jobs import drive_intake
from jobs.fetch_link import link_limits
from jobs.fetch_yandex import PROVIDER, DiskAccess
from jobs.link_intake import LinkInspector
from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox
from storage.models import Workspace, WorkspaceKind

log = logging.getLogger(__name__)


def is_media(resource: Resource) -> bool:
    kind = resource.media_type or resource.mime_type.split("/", 1)[0]
    return not resource.is_dir and kind in ("video", "audio")


async def inspect(
    inspector: LinkInspector,
    url: str,
    settings: Settings,
    session: AsyncSession,
    workspace_id: int,
    box: SecretBox | None,
    redis: ArqRedis,
    *,
    user_id: int | None = None,
) -> Video | Playlist:
    """What a link holds: a private Disk path through the connection, anything else as before."""
    path = disk_path(url)
    if path is None:
        return await drive_intake.inspect(inspector, url, settings, session, workspace_id, box)
    if not await _may_read(session, workspace_id, user_id):
        await session.commit()
        raise LinkError("yandex_admins_only")
    connected = await repo.credentials(session, workspace_id, PROVIDER)
    await session.commit()
    if not connected or box is None:
        raise LinkError("yandex_connect")

    @contextlib.asynccontextmanager
    async def sessions() -> AsyncIterator[AsyncSession]:
        # The request's own session, its transaction closed before the Disk is asked.
        yield session
        await session.commit()

    access = DiskAccess(settings, box, sessions, redis, workspace_id)
    try:
        found = await access.run(lambda disk: _look(disk, path))
    except LookupError:
        raise LinkError("yandex_connect") from None
    except YandexNotFound:
        raise LinkError("yandex_not_found") from None
    except YandexAuthError:
        raise LinkError("yandex_revoked") from None
    except YandexTransient:
        raise LinkError("link_unreachable") from None
    except YandexError as exc:
        log.info("Yandex Disk refused a look at a path: %s", exc.message)
        raise LinkError("yandex_failed") from None
    return _found(url, path, found, settings)


async def _may_read(session: AsyncSession, workspace_id: int, user_id: int | None) -> bool:
    """Whether the sender may read the workspace's connected Disk: in a group, admins only."""
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None or workspace.kind is not WorkspaceKind.GROUP:
        return workspace is not None
    member = await repo.get_member(session, workspace_id, user_id) if user_id else None
    return member is not None and member.role.is_admin


async def _look(disk: YandexDisk, path: str) -> tuple[Resource, list[Resource]]:
    resource = await disk.resource(path)
    if resource is None:
        raise YandexNotFound(404, "DiskNotFoundError")
    if not resource.is_dir:
        return resource, []
    return await disk.listing(path)


def _found(
    url: str, path: str, found: tuple[Resource, list[Resource]], settings: Settings
) -> Video | Playlist:
    resource, items = found
    if not resource.is_dir:
        if not is_media(resource):
            raise LinkError("yandex_not_media")
        video = Video(url=url, title=_stem(resource.name), size=resource.size, disk_path=path)
        check_limits(video, link_limits(settings))
        return video
    media = [item for item in items if is_media(item)]
    if not media:
        raise LinkError("yandex_empty_folder")
    videos = tuple(
        Video(url=item.path, title=_stem(item.name), size=item.size, disk_path=item.path)
        for item in media[: settings.playlist_max_items]
    )
    return Playlist(url=url, title=resource.name or "Yandex Disk", videos=videos, total=len(media))


def _stem(name: str) -> str:
    return (Path(name).stem or name)[:512]
