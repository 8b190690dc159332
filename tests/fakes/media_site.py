"""A small video site on 127.0.0.1: direct files, pages with <video>, feeds, and failures.

It records every request it receives, so a test can prove that something was never asked
for (a refused address, media that was too long to fetch).

Routes:
  /media/<name>          a registered file (HEAD and Range work); `?slow=1` trickles it out
  /watch/<name>          an HTML page titled after the file with one <video src>;
                         `?encoding=gzip|deflate|raw-deflate` sends it compressed that way
  /course                an HTML page with three <video> tags (a playlist to yt-dlp)
  /feed.xml              an RSS feed of three lectures with their durations; `?broken=1`
                         makes the second one a missing file, `?long=1` adds a 12-hour one
  /long                  a page whose JSON-LD says the video runs twelve hours
  /huge                  a page with a <video> whose file claims 5 GB
  /big/<name>            that file: 5 GB by Content-Length, trickling zeros
  /big/<name>?chunked=1  the same without a Content-Length
  /embed?src=<url>       an HTML page with <video src="<url>">
  /text                  an HTML page with no video at all
  /live                  a live DASH manifest
  /private               403
  /go?to=<url>           302 to <url>
  /vast                  an HTML page of VAST_SIZE bytes, made as it is sent, without a
                         Content-Length; `?gzip=1` sends it gzip-encoded (under 2 MB on the wire)
  /drip                  an HTML page that sends one byte every DRIP_EVERY seconds for as long
                         as anyone listens (`?every=` changes the pace); `drips_open` counts
                         the connections still held, `drips_closed` the ones the client ended
  /turns/<name>          the /watch page of the file the first time, /vast every time after
  anything else          404
"""

from __future__ import annotations

import asyncio
import html
import json
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

HUGE_SIZE = 5_000_000_000
VAST_SIZE = 400 * 1024 * 1024
DRIP_EVERY = 3.0
_MIB = 1024 * 1024
_VAST_HEAD = b"<!DOCTYPE html><html><head><title>Lecture notes</title></head><body>"
_VAST_LINE = b"<p>Signals are sampled at twice their highest frequency, or more.</p>\n"
_VAST_BLOCK = (_VAST_LINE * (_MIB // len(_VAST_LINE) + 1))[:_MIB]


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    host: str


class MediaSite:
    def __init__(self, files: dict[str, Path] | None = None, *, host: str = "127.0.0.1") -> None:
        self.files = dict(files or {})
        self.host = host
        self.hits: list[Hit] = []
        self.port = 0
        self.drips_open = 0
        self.drips_closed = 0
        self.vast_sent = 0
        """Bytes of /vast bodies handed to the network, all requests together."""
        self._turned: set[str] = set()
        self._vast_gzip: bytes | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def requested(self, path: str, method: str | None = None) -> list[Hit]:
        return [h for h in self.hits if h.path == path and method in (None, h.method)]

    async def start(self) -> None:
        app = web.Application(middlewares=[self._record])
        app.router.add_route("*", "/media/{name}", self._media)
        app.router.add_get("/watch/{name}", self._watch)
        app.router.add_get("/course", self._course)
        app.router.add_get("/feed.xml", self._feed)
        app.router.add_get("/long", self._long)
        app.router.add_get("/huge", self._huge)
        app.router.add_route("*", "/big/{name}", self._big)
        app.router.add_get("/embed", self._embed)
        app.router.add_get("/text", self._text)
        app.router.add_get("/live", self._live)
        app.router.add_get("/private", self._private)
        app.router.add_get("/go", self._go)
        app.router.add_get("/vast", self._vast)
        app.router.add_get("/drip", self._drip)
        app.router.add_get("/turns/{name}", self._turns)
        # Clients that stop reading mid-file must not keep the test waiting at shutdown.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.2
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.hits.append(Hit(request.method, request.path, request.host))
        return await handler(request)

    def _page(self, title: str, body: str) -> web.Response:
        document = (
            f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
        )
        return web.Response(text=document, content_type="text/html")

    async def _media(self, request: web.Request) -> web.StreamResponse:
        path = self.files.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        if request.query.get("slow") and request.method == "GET":
            return await self._trickle(request, path.read_bytes())
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})

    async def _trickle(self, request: web.Request, data: bytes) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = len(data)
        await response.prepare(request)
        step = max(len(data) // 20, 1)
        try:
            for start in range(0, len(data), step):
                await response.write(data[start : start + step])
                await asyncio.sleep(0.03)
            await response.write_eof()
        except ConnectionResetError:
            pass  # a client that only wanted the headers
        return response

    async def _watch(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.files:
            raise web.HTTPNotFound()
        stem = Path(name).stem
        slow = "?slow=1" if request.query.get("slow") else ""
        page = self._page(
            f"Lecture {stem}",
            f'<video controls src="/media/{html.escape(name)}{slow}"></video>',
        )
        encoding = request.query.get("encoding")
        if encoding and isinstance(page.body, bytes):
            # As servers compress pages: gzip, deflate with zlib's header, or raw deflate.
            wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[encoding]
            packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
            page.body = packer.compress(page.body) + packer.flush()
            page.headers["Content-Encoding"] = "gzip" if encoding == "gzip" else "deflate"
        return page

    async def _course(self, request: web.Request) -> web.Response:
        name = next(iter(self.files))
        videos = "".join(
            f'<video controls src="/media/{html.escape(name)}?part={n}"></video>' for n in (1, 2, 3)
        )
        return self._page("Signals course", videos)

    async def _feed(self, request: web.Request) -> web.Response:
        name = next(iter(self.files))
        lectures = [(1, name, "10:00"), (2, name, "20:00"), (3, name, "30:00")]
        if request.query.get("broken"):
            lectures[1] = (2, "missing.mp4", "20:00")
        if request.query.get("long"):
            lectures.append((4, name, "12:00:00"))
        items = "".join(
            f"<item><title>Lecture {n}</title>"
            f'<enclosure url="{self.url(f"/media/{file}")}?n={n}" type="video/mp4" length="1"/>'
            f"<itunes:duration>{length}</itunes:duration></item>"
            for n, file, length in lectures
        )
        feed = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'
            f"<channel><title>Signals podcast</title>{items}</channel></rss>"
        )
        return web.Response(text=feed, content_type="application/rss+xml")

    async def _long(self, request: web.Request) -> web.Response:
        name = next(iter(self.files))
        data = {
            "@context": "https://schema.org",
            "@type": "VideoObject",
            "name": "A very long lecture",
            "duration": "PT12H",
            "uploadDate": "2026-01-01",
            "contentUrl": self.url(f"/media/{name}"),
            "encodingFormat": "video/mp4",
        }
        script = f'<script type="application/ld+json">{json.dumps(data)}</script>'
        return self._page("A very long lecture", script)

    async def _huge(self, request: web.Request) -> web.Response:
        return self._page("A huge lecture", '<video controls src="/big/huge.mp4"></video>')

    async def _embed(self, request: web.Request) -> web.Response:
        src = html.escape(request.query["src"])
        return self._page("An embedded lecture", f'<video controls src="{src}"></video>')

    async def _text(self, request: web.Request) -> web.Response:
        return self._page("Course news", "<p>No lecture this week.</p>")

    async def _big(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        if request.query.get("chunked"):
            response.enable_chunked_encoding()
        else:
            response.content_length = HUGE_SIZE
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        try:
            for _ in range(200):
                await response.write(b"\0" * 65536)
                await asyncio.sleep(0.01)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    async def _live(self, request: web.Request) -> web.Response:
        manifest = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" '
            'availabilityStartTime="2026-01-01T00:00:00Z" minimumUpdatePeriod="PT2S" '
            'profiles="urn:mpeg:dash:profile:isoff-live:2011">'
            '<Period id="1" start="PT0S"><AdaptationSet mimeType="video/mp4">'
            '<Representation id="v" bandwidth="500000" width="320" height="240" '
            'codecs="avc1.4d401e">'
            '<SegmentTemplate media="seg-$Number$.m4s" initialization="init.mp4" '
            'duration="2" startNumber="1"/>'
            "</Representation></AdaptationSet></Period></MPD>"
        )
        return web.Response(text=manifest, content_type="application/dash+xml")

    async def _vast(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
        gzipped = bool(request.query.get("gzip"))
        if gzipped:
            response.headers["Content-Encoding"] = "gzip"
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            if gzipped:
                body = await asyncio.to_thread(self._gzipped_vast)
                for start in range(0, len(body), 65536):
                    await self._send(response, body[start : start + 65536])
            else:
                await self._send(response, _VAST_HEAD)
                for _ in range(VAST_SIZE // _MIB):
                    await self._send(response, _VAST_BLOCK)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client stopped reading, as it should
        return response

    async def _send(self, response: web.StreamResponse, data: bytes) -> None:
        await response.write(data)
        self.vast_sent += len(data)

    def _gzipped_vast(self) -> bytes:
        if self._vast_gzip is None:
            packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
            parts = [packer.compress(_VAST_HEAD)]
            parts.extend(packer.compress(_VAST_BLOCK) for _ in range(VAST_SIZE // _MIB))
            parts.append(packer.flush())
            self._vast_gzip = b"".join(parts)
        return self._vast_gzip

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        every = float(request.query.get("every", DRIP_EVERY))
        # A length that promises a small page, so a reader waits for all of it.
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.content_length = 100_000
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        self.drips_open += 1
        try:
            await response.write(b"<!DOCTYPE html><html><head><title>Slow")
            for _ in range(100_000 - 40):
                await asyncio.sleep(every)
                await response.write(b" ")
        except ConnectionResetError:
            pass
        finally:
            # Reached when the client goes away: the write fails, or aiohttp cancels us.
            self.drips_open -= 1
            self.drips_closed += 1
        return response

    async def _turns(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name in self._turned:
            return await self._vast(request)
        self._turned.add(name)
        return await self._watch(request)

    async def _private(self, request: web.Request) -> web.Response:
        raise web.HTTPForbidden(text="private")

    async def _go(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(location=request.query["to"])
