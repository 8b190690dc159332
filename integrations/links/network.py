"""The guarded network layer: yt-dlp's only way onto the network, and the byte budget.

Every request yt-dlp makes — the page, each redirect hop, manifests, fragments, the media —
goes through `LeapGuardedRH`, which checks its URL with the address guard and opens its
sockets through the guard (each one tracked, so that closing the guard ends it), so no
download can be steered to a private address. A redirect's target is checked before it is
followed. Through a proxy only the URLs can be checked: the proxy is the operator's choice.

The same handler bounds what a link can make us hold (`Budget`). A body read whole (a page,
a manifest, an API answer, a redirect's body) may hold PAGE_MAX_BYTES once decoded, and so
may every read while the link is being looked at; only the media of a download streams past
that, to disk, where the size limit of `LinkLimits` stops it. Compressed bodies (gzip,
deflate) are inflated as they are read, never more than was asked for, so a small gzip bomb
cannot become a large page. The first body over the limit spends the budget: nothing more
is sent or read for that work, and it ends with `link_page_too_large`.
"""

from __future__ import annotations

import functools
import http.client
import io
import urllib.parse
import urllib.request
import urllib.response
import zlib
from typing import Any, NoReturn

from yt_dlp import YoutubeDL
from yt_dlp.networking._urllib import HTTPHandler, ProxyHandler, RedirectHandler, UrllibRH
from yt_dlp.networking.exceptions import TransportError

from integrations.links.model import PAGE_MAX_BYTES, LinkError
from integrations.url_guard import AddressGuard, AddressRefused, HostNotFound


class _Refused(TransportError):
    """yt-dlp's kind of network error, so extractors and downloaders fail as on any other."""


class PageTooLarge(TransportError):
    """A body over the budget; a network error to yt-dlp, so that it gives up on the request."""


class Budget:
    """What one piece of work (looking at a link, downloading it) may read.

    Bodies read whole hold at most `page_bytes`, and so do streamed reads until `media` is
    set: then the media streams to disk and the size limit of the download takes over. The
    first body over the limit spends the budget: nothing more is sent or read for the work,
    so yt-dlp's retries end at once, and the refusal is remembered for `classify`, since
    yt-dlp wraps or swallows what the handler raises.
    """

    def __init__(self, page_bytes: int = PAGE_MAX_BYTES) -> None:
        self.page_bytes = page_bytes
        self.media = False
        self.exceeded = False

    def refusal(self) -> LinkError:
        return LinkError("link_page_too_large", {"limit": self.page_bytes // 1_000_000})

    def spend(self) -> NoReturn:
        self.exceeded = True
        raise PageTooLarge(f"a body over {self.page_bytes} bytes")

    def check(self) -> None:
        if self.exceeded:
            raise PageTooLarge("the budget of this link is spent")


_CHUNK = 64 * 1024


class _RawChunks:
    """The bytes of a response as they arrive, one socket read at a time."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self._response = response

    def chunk(self, most: int) -> bytes:
        data = self._response.read1(most)
        if not data:
            self._response.close()
        return data

    def close(self) -> None:
        self._response.close()


class _Inflated:
    """One content encoding (gzip or deflate) undone as the bytes arrive.

    Never makes more than was asked for in one call: what a small input would still inflate
    to waits in zlib until it is asked for.
    """

    def __init__(self, source: _RawChunks | _Inflated, encoding: str) -> None:
        self._source = source
        # "deflate" comes both raw and with zlib's two-byte header: the first bytes tell.
        self._inflater: Any = (
            None if encoding == "deflate" else zlib.decompressobj(zlib.MAX_WBITS | 16)
        )
        self._head = b""

    def chunk(self, most: int) -> bytes:
        while True:
            inflater = self._inflater
            if inflater is not None and inflater.eof:
                # One payload only, as yt-dlp decodes it: whatever follows is ignored.
                return b""
            if inflater is not None and inflater.unconsumed_tail:
                data = inflater.unconsumed_tail
            else:
                data = self._source.chunk(_CHUNK)
                if not data:
                    return self._drain(most)
            if inflater is None:
                self._head += data
                if len(self._head) < 2:
                    continue
                data, self._head = self._head, b""
                inflater = self._inflater = _deflater_for(data)
            out = inflater.decompress(data, most)
            if out:
                return out
            if inflater.unconsumed_tail == data:
                raise zlib.error("compressed data makes no progress")

    def _drain(self, most: int) -> bytes:
        """What zlib still holds once the input has ended."""
        if self._inflater is None:
            if not self._head:
                return b""
            head, self._head = self._head, b""
            self._inflater = _deflater_for(head)
            return bytes(self._inflater.decompress(head, most))
        if self._inflater.eof:
            return b""
        return bytes(self._inflater.decompress(b"", most))

    def close(self) -> None:
        self._source.close()


def _deflater_for(head: bytes) -> Any:
    zlib_header = len(head) >= 2 and head[0] & 0x0F == 8 and ((head[0] << 8) | head[1]) % 31 == 0
    return zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)


class _Body(io.RawIOBase):
    """A response body read within the budget (see `Budget`)."""

    def __init__(self, response: http.client.HTTPResponse, budget: Budget) -> None:
        super().__init__()
        self._budget = budget
        source: _RawChunks | _Inflated = _RawChunks(response)
        # Content-Encoding lists the encodings in the order they were applied; any other
        # than these is passed on as it came, as yt-dlp does with one it cannot undo.
        encodings = [
            e.strip().lower() for e in (response.headers.get("Content-Encoding") or "").split(",")
        ]
        encoded = False
        for encoding in reversed(encodings):
            if encoding in ("gzip", "x-gzip", "deflate"):
                source = _Inflated(source, "deflate" if encoding == "deflate" else "gzip")
                encoded = True
        self._source = source
        declared = response.headers.get("Content-Length")
        exact = declared and declared.isdigit() and not encoded
        exact = exact and getattr(response, "_method", None) != "HEAD"
        self._declared = int(declared) if exact else None
        self._taken = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        self._budget.check()
        whole = size is None or size < 0
        if whole and self._declared is not None and self._declared > self._budget.page_bytes:
            self._refuse()  # no need to read what it says it holds
        want = self._budget.page_bytes + 1 - self._taken if whole else size
        if whole and want <= 0:
            self._refuse()  # read whole after more than a page came in pieces
        pieces: list[bytes] = []
        got = 0
        while want is not None and got < want:
            piece = self._source.chunk(min(want - got, _CHUNK) if whole else want - got)
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
            self._taken += len(piece)
            if self._taken > self._budget.page_bytes and (whole or not self._budget.media):
                self._refuse()
        return b"".join(pieces)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()

    def _refuse(self) -> NoReturn:
        # Closing tells the server at once that nobody reads the rest.
        self.close()
        self._budget.spend()


class _GuardedHTTPHandler(HTTPHandler):
    def __init__(self, guard: AddressGuard, budget: Budget, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard
        self._budget = budget

    def http_response(self, req: urllib.request.Request, resp: Any) -> Any:
        # yt-dlp's own handler reads a compressed body whole and inflates it at once.
        wrapped = urllib.response.addinfourl(
            _Body(resp, self._budget), resp.headers, resp.url, resp.code
        )
        wrapped.msg = resp.msg
        wrapped.reason = getattr(resp, "reason", None)
        return wrapped

    https_response = http_response

    def http_open(self, req: urllib.request.Request) -> Any:
        return self._open(http.client.HTTPConnection, req)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self._open(http.client.HTTPSConnection, req, context=self._context)

    def _open(self, base: type[http.client.HTTPConnection], req: Any, **extra: Any) -> Any:
        # Through a proxy the socket leads to the proxy the operator chose; the URL of every
        # hop has been checked by then, which is all a proxy lets us see.
        proxied = (
            req.has_proxy()
            or getattr(req, "_tunnel_host", None)
            or req.has_header("Ytdl-socks-proxy")
        )
        conn_class = self._make_conn_class(base, req)
        source = self._source_address

        guard = self._guard

        def connection(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            conn = conn_class(*args, **kwargs)
            if not proxied:
                conn._create_connection = guard.connect  # type: ignore[attr-defined]
            if source is not None:
                conn.source_address = (source, 0)
            opened = conn.connect

            def connect() -> None:
                opened()
                # The socket it reads from, TLS and all, so that closing the guard ends it.
                if conn.sock is not None:
                    guard.track(conn.sock)

            conn.connect = connect  # type: ignore[method-assign]
            return conn

        return self.do_open(connection, req, **extra)


class _GuardedRedirects(RedirectHandler):
    """Checks each redirect's target before following it (urllib would follow ftp:// too)."""

    def __init__(self, guard: AddressGuard) -> None:
        super().__init__()
        self._guard = guard

    def _checked(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        target = headers.get("location") or headers.get("uri")
        if target:
            self._guard.check_url(urllib.parse.urljoin(req.full_url, target))
        return RedirectHandler.http_error_302(self, req, fp, code, msg, headers)

    http_error_301 = http_error_302 = http_error_303 = http_error_307 = http_error_308 = _checked


class LeapGuardedRH(UrllibRH):
    """yt-dlp's urllib handler with every URL, redirect and socket checked by the guard."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")

    def __init__(self, *, guard: AddressGuard, budget: Budget, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard
        self._budget = budget

    def _create_instance(
        self, proxies: dict[str, str], cookiejar: Any, legacy_ssl_support: bool | None = None
    ) -> urllib.request.OpenerDirector:
        opener = urllib.request.OpenerDirector()
        for handler in (
            ProxyHandler(proxies),
            _GuardedHTTPHandler(
                self._guard,
                self._budget,
                debuglevel=int(bool(self.verbose)),
                context=self._make_sslcontext(legacy_ssl_support=legacy_ssl_support),
                source_address=self.source_address,
            ),
            urllib.request.HTTPCookieProcessor(cookiejar),
            urllib.request.UnknownHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
            _GuardedRedirects(self._guard),
        ):
            opener.add_handler(handler)
        opener.addheaders = []
        return opener

    def _prepare_headers(self, request: Any, headers: Any) -> None:
        # Only the encodings `_Inflated` undoes as it reads, whatever else yt-dlp could.
        if "Accept-Encoding" not in headers:
            headers["Accept-Encoding"] = "gzip, deflate"

    def _send(self, request: Any) -> Any:
        self._budget.check()
        try:
            self._guard.check_url(request.url)
            return super()._send(request)
        except (AddressRefused, HostNotFound) as exc:
            raise _Refused(cause=exc) from exc


class GuardedYoutubeDL(YoutubeDL):
    """YoutubeDL whose only way onto the network is the guarded handler."""

    def __init__(self, params: dict[str, Any], guard: AddressGuard, budget: Budget) -> None:
        self._guard = guard
        self.budget = budget
        super().__init__(params)

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        return super().build_request_director(
            [functools.partial(LeapGuardedRH, guard=self._guard, budget=self.budget)], preferences
        )
