"""Links people send, on their way to becoming recordings.

- `LinkInspector` looks at a link before anything is queued, so a refusal (a private address,
  a site yt-dlp does not know, a video too long or too large) comes within seconds. Each look
  runs in a child process (`integrations.link_probe`) that is killed at the deadline
  (`link_check_seconds`), reads at most a few MB of pages, and never holds a thread the
  stages need; INSPECT_SLOTS of them run at once per process, and the others wait their
  turn. The fetch stage looks again, on fresh information, before it downloads.
- A playlist is offered before it is queued: `PlaylistOffer` is what it would bring (the
  videos within the length limit), kept in Redis by the message that offers it until the
  person answers or a day passes. An answer takes the offer, so two quick presses act once.
- `new_recording` is the recording one video becomes, counted against the quotas with the
  length and size the site declared until the download measures them.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis

from integrations import link_probe
from integrations.links import Playlist, Video
from jobs import keys
from jobs.admission import NewRecording, pipeline_options
from jobs.fetch_link import link_limits
from leap.settings import Settings
from storage.models import SourceKind, Workspace

# Links looked at together by one process; each is a child process while yt-dlp works.
INSPECT_SLOTS = 3
OFFER_TTL = 24 * 3600


class LinkInspector:
    """The look at a link, with the slots that bound how many run at once."""

    def __init__(self) -> None:
        self.slots = asyncio.Semaphore(INSPECT_SLOTS)

    async def inspect(self, url: str, settings: Settings) -> Video | Playlist:
        # The deadline starts with the look itself, not with the wait for a slot.
        async with self.slots:
            return await link_probe.inspect(
                url,
                link_limits(settings),
                allow_private=settings.allow_private_urls,
                proxy=settings.link_proxy,
                seconds=settings.link_check_seconds,
            )


def length_limit(settings: Settings) -> float:
    """Seconds a recording may last."""
    return settings.max_duration_hours * 3600


def fitting(playlist: Playlist, settings: Settings) -> list[Video]:
    """The videos of a playlist that are not too long (or do not say how long they are)."""
    limit = length_limit(settings)
    return [v for v in playlist.videos if v.duration is None or v.duration <= limit]


@dataclass
class PlaylistOffer:
    """A playlist waiting for its sender's answer, and where its videos will report."""

    workspace_id: int
    user_id: int
    lang: str
    # The message with the link: each video's progress message answers it.
    reply_to: int
    thread_id: int | None
    title: str
    videos: list[Video]

    def dump(self) -> str:
        return json.dumps(
            {
                "ws": self.workspace_id,
                "user": self.user_id,
                "lang": self.lang,
                "reply_to": self.reply_to,
                "thread": self.thread_id,
                "title": self.title,
                "videos": [
                    {
                        "url": v.url,
                        "title": v.title,
                        "item": v.item,
                        "duration": v.duration,
                        "size": v.size,
                        "disk": v.disk_path,
                    }
                    for v in self.videos
                ],
            },
            ensure_ascii=False,
        )

    @classmethod
    def load(cls, raw: str | bytes) -> PlaylistOffer:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            workspace_id=int(data["ws"]),
            user_id=int(data["user"]),
            lang=str(data["lang"]),
            reply_to=int(data["reply_to"]),
            thread_id=data.get("thread"),
            title=str(data["title"]),
            videos=[
                Video(
                    url=item["url"],
                    title=item["title"],
                    item=item.get("item"),
                    duration=item.get("duration"),
                    size=item.get("size"),
                    disk_path=item.get("disk"),
                )
                for item in data["videos"]
            ],
        )


def _offer_key(chat_id: int, message_id: int) -> str:
    return keys.link_offer(chat_id, message_id)


async def save_offer(redis: ArqRedis, chat_id: int, message_id: int, offer: PlaylistOffer) -> None:
    await redis.set(_offer_key(chat_id, message_id), offer.dump(), ex=OFFER_TTL)


async def find_offer(redis: ArqRedis, chat_id: int, message_id: int) -> PlaylistOffer | None:
    raw = await redis.get(_offer_key(chat_id, message_id))
    return PlaylistOffer.load(raw) if raw else None


async def take_offer(redis: ArqRedis, chat_id: int, message_id: int) -> bool:
    """Whether this answer is the one that removed the offer (and so acts on it)."""
    return bool(await redis.delete(_offer_key(chat_id, message_id)))


def new_recording(
    workspace: Workspace,
    settings: Settings,
    video: Video,
    *,
    lang: str,
    chat_id: int,
    thread_id: int | None,
    user_id: int | None,
    progress_id: int | None,
) -> NewRecording:
    """The recording one video becomes."""
    options: dict[str, Any] = pipeline_options(workspace, settings)
    if video.item is not None:
        options["link_item"] = video.item
    if video.drive_id is not None:
        options["drive_file"] = video.drive_id
    if video.disk_path is not None:
        options["yandex_path"] = video.disk_path
    # Counted against the quotas until the download is measured.
    if video.duration:
        options["declared_seconds"] = video.duration
    if video.size:
        options["declared_bytes"] = video.size
    return NewRecording(
        workspace=workspace,
        source_kind=SourceKind.LINK,
        source_ref=video.url,
        source_name=video.title,
        source_ext="mp4",
        language=lang,
        chat_id=chat_id,
        thread_id=thread_id,
        created_by=user_id,
        progress_message_id=progress_id,
        options=options,
    )
