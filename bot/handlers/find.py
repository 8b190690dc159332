"""/find <words>: which of this chat's recordings say them, and where.

Anyone in the workspace may search; the search sees this workspace's transcripts only
(`storage.search` takes the workspace on every query). Each recording found shows its title,
how many passages match and up to three moments, each with the words around the match; a
moment is a link that starts playback there when the recording is published on YouTube or VK,
else just its timecode. At most ten recordings fit one answer, best first.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from jobs import cards
from locales import Translator
from pipeline.timecodes import format_tc
from storage import search
from storage.models import Publication, Workspace

RESULTS = 10
# Platforms whose video links take a start time, in the order a moment links to them.
SEEKABLE = ("youtube", "vk")
QUERY_CHARS = 60
# What Telegram shows of a message at most, with room for the closing lines.
VISIBLE_CHARS = 3800
_TAG = re.compile(r"<[^>]*>")


def play_at(publications: list[Publication], seconds: float) -> str | None:
    """A link that starts the published video at ``seconds``, when a platform allows one."""
    for platform in SEEKABLE:
        for publication in publications:
            if publication.platform == platform and publication.url:
                url = publication.url
                joiner = "&" if urlsplit(url).query else "?"
                return f"{url}{joiner}t={int(max(seconds, 0.0))}"
    return None


def _visible(text: str) -> int:
    return len(html.unescape(_TAG.sub("", text)))


def _moment(hit: search.Hit, publications: list[Publication]) -> str:
    timecode = format_tc(hit.start)
    link = play_at(publications, hit.start)
    mark = f'<a href="{html.escape(link)}">{timecode}</a>' if link else f"<code>{timecode}</code>"
    words = html.escape(hit.before) + (f"<b>{html.escape(hit.word)}</b>" if hit.word else "")
    return f"   ▶️ {mark} — {words}{html.escape(hit.after)}"


async def find_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    workspace: Workspace,
    _: Translator,
) -> None:
    words = " ".join((command.args or "").split())
    if not words:
        await message.answer(_("find.usage"))
        return
    query = html.escape(words if len(words) <= QUERY_CHARS else words[: QUERY_CHARS - 1] + "…")
    results = await search.find(session, workspace.id, words, limit=RESULTS)
    if results is None:
        await message.answer(_("find.only_common", query=query))
        return
    if not results.recordings:
        await message.answer(_("find.nothing", query=query))
        return
    recordings, links = await search.shown(
        session, workspace.id, [found.recording_id for found in results.recordings]
    )
    blocks: list[str] = []
    used = 0
    for found in results.recordings:
        recording = recordings.get(found.recording_id)
        if recording is None:
            continue  # deleted between the two queries
        publications = links.get(recording.id, [])
        title = html.escape(cards.display_name(recording))
        lines = [
            _("find.recording", number=len(blocks) + 1, title=title, count=found.count),
            *(_moment(hit, publications) for hit in found.hits),
        ]
        block = "\n".join(lines)
        if blocks and used + _visible(block) > VISIBLE_CHARS:
            break
        blocks.append(block)
        used += _visible(block) + 2
    if not blocks:
        await message.answer(_("find.nothing", query=query))
        return
    heading = (
        _("find.heading", query=query, total=results.total)
        if len(blocks) >= results.total
        else _("find.heading_some", query=query, total=results.total, shown=len(blocks))
    )
    parts = [heading]
    if not results.all_words:
        parts.append(_("find.any_word"))
    parts += blocks
    if len(blocks) < results.total:
        parts.append(_("find.narrow"))
    await message.answer("\n\n".join(parts), disable_web_page_preview=True)


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(find_command, Command("find"))
    return router
