"""The share page of a recording: `/share/{token}` and the files it plays, on the bot's server.

- Every request resolves its token afresh through jobs.share (signature, workspace, recording,
  current share id), so a revoked link stops the page, its video and its subtitles alike, and
  a token opens exactly the one recording it names. Anything a token cannot open is the same
  404 page, in English and Russian (nothing tells whose link it was).
- The page is in the recording's language and self-contained: its style and script are inline
  (bot.share_assets) under a Content-Security-Policy with a fresh nonce, and the only outside
  resource is YouTube's player when the recording was published there. Otherwise the page
  plays the file, served with Range support (aiohttp's FileResponse) so the player can seek,
  with the VTT subtitles as its track. When the file is gone (retention) and the recording
  lives on in VK for everyone to see, VK's player (``video_ext.php`` with the video's oid, id
  and the hash its publisher kept) takes its place; a video hidden in its community plays for
  its admins only, so then the page says the video is gone instead.
- Everything the recording holds (title, chapters, summary, transcript) is escaped into the
  HTML; the script reads times and words from attributes and writes only text nodes.
- Files are served by their name in the address (`video`, `subtitles.vtt`, `subtitles.srt`),
  never by a path, and no response names where anything is stored. Nothing is cached: a
  revoked link must not live on in a cache. The browser sends only this server's origin
  onwards, never the token.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.share_assets import SCRIPT, STYLE
from bot.web import DEPS
from jobs import share
from jobs.cards.presets import effective
from jobs.share import PageContent
from locales import LANGUAGES, gettext
from pipeline.timecodes import format_tc
from storage import repo
from storage.models import PublicationStatus, Recording

log = logging.getLogger(__name__)

_NO_STORE = "private, no-store"
_YOUTUBE = "https://www.youtube.com"
_VK = "https://vk.com"
_VK_ID = re.compile(r"^(-?\d{1,20})_(\d{1,20})$")
_VK_HASH = re.compile(r"^[0-9a-f]{6,64}$")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _headers(nonce: str | None = None, youtube: bool = False, vk: bool = False) -> dict[str, str]:
    scripts = f"'nonce-{nonce}'" if nonce else "'none'"
    frames = "'none'"
    if youtube:
        scripts += f" {_YOUTUBE} https://s.ytimg.com"
        frames = _YOUTUBE
    elif vk:
        frames = _VK
    # The 404 page has no script and one inline style attribute.
    styles = f"'nonce-{nonce}'" if nonce else "'unsafe-inline'"
    policy = (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; media-src 'self'; "
        f"img-src 'self' data:; frame-src {frames}; base-uri 'none'; form-action 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "Cache-Control": _NO_STORE,
        "Referrer-Policy": "strict-origin",
        "X-Content-Type-Options": "nosniff",
    }


def not_found() -> web.Response:
    """One page for every link that opens nothing, in both languages."""
    parts = []
    for lang in LANGUAGES:
        parts.append(
            f'<section lang="{lang}"><h1>{_esc(gettext(lang, "share.page.not_found_title"))}</h1>'
            f"<p>{_esc(gettext(lang, 'share.page.not_found'))}</p></section>"
        )
    title = " / ".join(_esc(gettext(lang, "share.page.not_found_title")) for lang in LANGUAGES)
    body = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{title}</title></head>'
        '<body style="font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;'
        f'padding:0 1rem">{"".join(parts)}</body></html>'
    )
    return web.Response(
        text=body, status=404, content_type="text/html", charset="utf-8", headers=_headers()
    )


def _player(content: PageContent, base: str, origin: str | None, vk: str | None = None) -> str:
    lang = content.language
    if not content.youtube_id and not content.video and vk:
        return (
            f'<iframe id="vk" src="{_esc(vk)}" title="{_esc(content.title)}" '
            'allow="autoplay; encrypted-media; fullscreen; picture-in-picture" '
            "allowfullscreen></iframe>"
        )
    if content.youtube_id:
        query = {"enablejsapi": "1", "rel": "0", "playsinline": "1"}
        if origin:
            query["origin"] = origin
        src = f"{_YOUTUBE}/embed/{content.youtube_id}?{urlencode(query)}"
        return (
            f'<iframe id="yt" src="{_esc(src)}" title="{_esc(content.title)}" '
            'allow="encrypted-media; picture-in-picture; fullscreen" allowfullscreen></iframe>'
        )
    if not content.video:
        return f'<div class="missing">{_esc(gettext(lang, "share.page.no_video"))}</div>'
    track = ""
    if content.subtitles:
        label = _esc(gettext(lang, "share.page.subtitles"))
        track = (
            f'<track kind="subtitles" src="{base}/subtitles.vtt" srclang="{_esc(lang)}" '
            f'label="{label}" default>'
        )
    return (
        f'<video id="video" controls playsinline preload="metadata" src="{base}/video">'
        f"{track}</video>"
    )


def _seek_button(start: float, text: str, kind: str) -> str:
    return (
        f'<li><button type="button" class="seek {kind}" data-t="{start:.2f}">'
        f'<span class="tc">{format_tc(start)}</span>'
        f'<span class="text">{_esc(text)}</span></button></li>'
    )


def render(
    content: PageContent, token: str, nonce: str, origin: str | None, vk: str | None = None
) -> str:
    lang = content.language if content.language in LANGUAGES else "en"
    _ = lambda key: _esc(gettext(lang, key))  # noqa: E731
    base = f"/share/{_esc(token)}"
    title = _esc(content.title)

    if content.chapters:
        items = "".join(_seek_button(c.start, c.title, "chapter") for c in content.chapters)
        chapters = f"<ol>{items}</ol>"
    else:
        chapters = f'<p class="empty">{_("share.page.no_chapters")}</p>'

    about = ""
    if content.summary:
        about += f'<h2>{_("share.page.summary")}</h2><p class="summary">{_esc(content.summary)}</p>'
    if content.subtitles:
        about += (
            f'<p class="files">{_("share.page.subtitles")}: '
            f'<a href="{base}/subtitles.srt" download>SRT</a> · '
            f'<a href="{base}/subtitles.vtt" download>VTT</a></p>'
        )

    if content.lines:
        items = "".join(_seek_button(line.start, line.text, "line") for line in content.lines)
        transcript = (
            f'<input type="search" id="q" autocomplete="off" '
            f'placeholder="{_("share.page.search")}" aria-label="{_("share.page.search")}">'
            f'<p class="found" id="found" aria-live="polite" '
            f'data-some="{_("share.page.found")}" data-none="{_("share.page.found_none")}"></p>'
            f'<ol id="lines">{items}</ol>'
        )
    else:
        transcript = f'<p class="empty">{_("share.page.no_transcript")}</p>'

    scripts = f'<script nonce="{nonce}">{SCRIPT}</script>'
    if content.youtube_id:
        scripts += f'<script nonce="{nonce}" src="{_YOUTUBE}/iframe_api"></script>'
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{title}</title>'
        # No favicon to ask this server for.
        '<link rel="icon" href="data:,">'
        f'<style nonce="{nonce}">{STYLE}</style></head><body>'
        f"<header><h1>{title}</h1></header>"
        '<main class="layout">'
        f'<section class="player"><div class="frame">{_player(content, base, origin, vk)}</div>'
        "</section>"
        f'<nav class="chapters" aria-label="{_("share.page.chapters")}">'
        f"<h2>{_('share.page.chapters')}</h2>{chapters}</nav>"
        f'<section class="about">{about}</section>'
        f'<section class="transcript"><h2>{_("share.page.transcript")}</h2>{transcript}</section>'
        f"</main>{scripts}</body></html>"
    )


def _origin(public_base_url: str | None) -> str | None:
    if not public_base_url:
        return None
    parts = urlsplit(public_base_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


async def share_page(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    token = request.match_info["token"]
    async with deps.sessions() as session:
        recording = await share.resolve(session, deps.settings, token)
        if recording is None:
            return not_found()
        content = await share.page_content(session, deps.store, recording)
        vk = None
        if content.youtube_id is None and not content.video:
            vk = await vk_player(session, recording)
    nonce = secrets.token_urlsafe(16)
    page = render(content, token, nonce, _origin(deps.settings.public_base_url), vk)
    return web.Response(
        text=page,
        content_type="text/html",
        charset="utf-8",
        headers=_headers(nonce, youtube=content.youtube_id is not None, vk=vk is not None),
    )


async def vk_player(session: AsyncSession, recording: Recording) -> str | None:
    """VK's player address for the recording's video, when VK shows it to everyone: published
    there (its id whole), not hidden in its community; with the hash when the publisher kept
    it."""
    if effective(recording.media).vk_privacy != "all":
        return None
    publish = recording.media.get("publish")
    done = publish.get("vk") if isinstance(publish, dict) else None
    player_hash = done.get("player_hash") if isinstance(done, dict) else None
    for row in await repo.publications(session, recording.workspace_id, recording.id):
        if row.platform != "vk" or row.status is not PublicationStatus.DONE:
            continue
        found = _VK_ID.match(row.remote_id or "")
        if found is None:
            continue
        query = {"oid": found[1], "id": found[2]}
        if isinstance(player_hash, str) and _VK_HASH.match(player_hash):
            query["hash"] = player_hash
        return f"{_VK}/video_ext.php?{urlencode(query)}"
    return None


_TYPES = {
    "video": None,
    "subtitles.vtt": "text/vtt; charset=utf-8",
    "subtitles.srt": "application/x-subrip; charset=utf-8",
}


async def share_file(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    name = request.match_info["name"]
    if name not in share.SERVED:
        return not_found()
    async with deps.sessions() as session:
        recording = await share.resolve(session, deps.settings, request.match_info["token"])
    if recording is None:
        return not_found()
    path = await share.served_file(deps.store, recording, name)
    if path is None:
        return not_found()
    headers = {"Cache-Control": _NO_STORE, "X-Content-Type-Options": "nosniff"}
    if _TYPES[name]:
        headers["Content-Type"] = str(_TYPES[name])
    if name == "subtitles.srt":
        headers["Content-Disposition"] = f'attachment; filename="lecture-{recording.id}.srt"'
    return web.FileResponse(path, headers=headers)


def setup(app: web.Application) -> None:
    """Add the share page's routes to the bot's web application."""
    app.router.add_get("/share/{token}", share_page)
    app.router.add_get("/share/{token}/{name}", share_file)
