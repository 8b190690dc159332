"""Yandex Disk's REST API (``/v1/disk/...``) over httpx: folders, uploads, publishing, downloads.

Rules it keeps:

- Every request carries ``Authorization: OAuth <token>``; the token is never logged or put into
  an exception. Answers that are not what was asked become the classes of
  `integrations.yandex.errors` (401 revoked/expired, 507 full, 5xx/429/network transient).
- Calls that change nothing, or change it to the same end every time (reading a resource,
  making a folder that may exist, publishing), are tried again after `retry_delays` on
  transient faults. An upload is tried again whole: a fresh upload address, then the file
  from its first byte with ``overwrite=true`` to the same path, so a retry can never leave a
  second copy beside the first (the Disk keeps no half-sent file).
- The file goes to the ``href`` that ``GET /resources/upload`` returns, by the method it names,
  with its length declared, read in chunks so progress can be reported.
- A download is streamed to disk and stops at `max_bytes`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from integrations.yandex.errors import (
    YandexError,
    YandexNotFound,
    YandexTransient,
    from_status,
)

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://cloud-api.yandex.net"
CHUNK = 1024 * 1024
# Items asked for per page of a folder listing, and the most pages read.
PAGE = 200
MAX_PAGES = 50

Progress = Callable[[int, int | None], Awaitable[None]]


@dataclass(frozen=True)
class Owner:
    """Whose Disk the token opens, and how full it is."""

    login: str
    display_name: str
    uid: str
    total_space: int | None = None
    used_space: int | None = None


@dataclass(frozen=True)
class Resource:
    """A file or folder on the Disk, as the API describes it."""

    path: str
    name: str
    type: str  # "file" or "dir"
    size: int | None = None
    public_url: str | None = None
    media_type: str = ""
    mime_type: str = ""

    @property
    def is_dir(self) -> bool:
        return self.type == "dir"


def _resource(data: dict[str, Any]) -> Resource:
    size = data.get("size")
    return Resource(
        path=str(data.get("path") or ""),
        name=str(data.get("name") or ""),
        type=str(data.get("type") or "file"),
        size=int(size) if isinstance(size, int | float) else None,
        public_url=str(data["public_url"]) if data.get("public_url") else None,
        media_type=str(data.get("media_type") or ""),
        mime_type=str(data.get("mime_type") or ""),
    )


def join(folder: str, name: str) -> str:
    """A path inside a folder, in the API's spelling (``disk:/a/b``)."""
    return f"{folder.rstrip('/')}/{name}"


class YandexDisk:
    """One account's Disk; use as ``async with YandexDisk(token, api_url=...) as disk``."""

    def __init__(
        self,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        retry_delays: Sequence[float] = (1.0, 2.0),
        client: httpx.AsyncClient | None = None,
        timeout: float = 60.0,
    ) -> None:
        self._auth = {"Authorization": f"OAuth {token}"}
        self._base = f"{api_url.rstrip('/')}/v1/disk"
        self._retry_delays = tuple(retry_delays)
        self._own = client is None
        self._http = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=15.0))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    # --- the API ---------------------------------------------------------------------------

    async def owner(self) -> Owner:
        data = await self._call("GET", "/")
        user = data.get("user") if isinstance(data.get("user"), dict) else {}
        return Owner(
            login=str(user.get("login") or ""),
            display_name=str(user.get("display_name") or ""),
            uid=str(user.get("uid") or ""),
            total_space=data.get("total_space"),
            used_space=data.get("used_space"),
        )

    async def resource(self, path: str) -> Resource | None:
        """The file or folder at `path`; None when there is none."""
        try:
            return _resource(await self._call("GET", "/resources", path=path, limit=0))
        except YandexNotFound:
            return None

    async def listing(self, path: str) -> tuple[Resource, list[Resource]]:
        """The folder at `path` and what it holds, read page by page."""
        items: list[Resource] = []
        folder: Resource | None = None
        for page in range(MAX_PAGES):
            data = await self._call(
                "GET", "/resources", path=path, limit=PAGE, offset=page * PAGE, sort="name"
            )
            folder = folder or _resource(data)
            embedded = data.get("_embedded") if isinstance(data.get("_embedded"), dict) else {}
            found = [_resource(i) for i in embedded.get("items") or [] if isinstance(i, dict)]
            items += found
            total = embedded.get("total")
            if len(found) < PAGE or (isinstance(total, int) and len(items) >= total):
                break
        assert folder is not None
        return folder, items

    async def make_folders(self, path: str) -> None:
        """Make the folder at `path` and every missing folder above it."""
        root, _, rest = path.partition(":/")
        current = f"{root}:"
        for part in (p for p in rest.split("/") if p):
            current = f"{current}/{part}"
            try:
                await self._call("PUT", "/resources", path=current)
            except YandexError as exc:
                # 409: it is there already (a folder, or a file in the way, which the upload
                # into it will then name).
                if exc.status != 409:
                    raise

    async def upload(self, path: str, file: Path, *, on_progress: Progress | None = None) -> None:
        """Put `file` at `path`, replacing what is there; tried again whole on transient faults."""
        for delay in (*self._retry_delays, None):
            try:
                link = await self._call("GET", "/resources/upload", path=path, overwrite="true")
                await self._send(link, file, on_progress)
                return
            except YandexTransient as exc:
                if delay is None:
                    raise
                log.info("Yandex Disk upload interrupted (%s), trying again", exc.message)
                await asyncio.sleep(delay)

    async def publish(self, path: str) -> str:
        """Open `path` to anyone with its link; the link."""
        await self._call("PUT", "/resources/publish", path=path)
        found = await self.resource(path)
        if found is None or not found.public_url:
            raise YandexError(200, "NoPublicUrl", "the Disk published the folder without a link")
        return found.public_url

    async def download(
        self,
        path: str,
        dest: Path,
        *,
        max_bytes: int | None = None,
        on_progress: Progress | None = None,
    ) -> int:
        """Stream the file at `path` into `dest`; its size. `YandexError` ``TooLarge`` past
        `max_bytes`."""
        link = await self._call("GET", "/resources/download", path=path)
        href = str(link.get("href") or "")
        if not href:
            raise YandexError(200, "NoHref", "the Disk gave no download address")
        done = 0
        try:
            async with self._http.stream("GET", href, headers=self._auth) as response:
                if response.status_code >= 400:
                    raise from_status(response.status_code, "DownloadError")
                total = _length(response)
                with dest.open("wb") as out:
                    async for chunk in response.aiter_bytes(CHUNK):
                        done += len(chunk)
                        if max_bytes is not None and done > max_bytes:
                            raise YandexError(413, "TooLarge", f"more than {max_bytes} bytes")
                        out.write(chunk)
                        if on_progress is not None:
                            await on_progress(done, total)
        except httpx.TransportError as exc:
            raise YandexTransient(0, "NetworkError", type(exc).__name__) from None
        return done

    # --- the wire --------------------------------------------------------------------------

    async def _send(self, link: dict[str, Any], file: Path, on_progress: Progress | None) -> None:
        href = str(link.get("href") or "")
        if not href:
            raise YandexError(200, "NoHref", "the Disk gave no upload address")
        size = file.stat().st_size

        async def body() -> AsyncIterator[bytes]:
            sent = 0
            with file.open("rb") as source:
                while chunk := source.read(CHUNK):
                    sent += len(chunk)
                    yield chunk
                    if on_progress is not None:
                        await on_progress(sent, size)

        method = str(link.get("method") or "PUT").upper()
        try:
            # The upload host takes the file itself; the token stays with the API.
            response = await self._http.request(
                method, href, content=body(), headers={"Content-Length": str(size)}
            )
        except httpx.TransportError as exc:
            raise YandexTransient(0, "NetworkError", type(exc).__name__) from None
        if response.status_code >= 400:
            raise _error(response)

    async def _call(self, method: str, route: str, **params: Any) -> dict[str, Any]:
        url = self._base + route
        for delay in (*self._retry_delays, None):
            try:
                response = await self._http.request(method, url, params=params, headers=self._auth)
            except httpx.TransportError as exc:
                error: YandexError = YandexTransient(0, "NetworkError", type(exc).__name__)
            else:
                if response.status_code < 400:
                    return _json(response)
                error = _error(response)
            if not isinstance(error, YandexTransient) or delay is None:
                raise error
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error(response: httpx.Response) -> YandexError:
    data = _json(response)
    message = str(data.get("message") or data.get("description") or "")
    return from_status(response.status_code, str(data.get("error") or ""), message)


def _length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None
