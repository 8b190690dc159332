"""VK video publishing over vk_api: save a video slot, send the file, read communities.

VK's upload protocol has two steps: ``video.save`` creates the video and answers with an
``upload_url``; the file then goes to that URL as a multipart POST (field ``video_file``).
`VkVideo.upload` does both; `save` and `send_file` are the same steps apart, so a publish job
can record the remote id before the bytes leave and never create a second video.

vk_api sends every method call to its hard-coded host through the ``requests.Session`` it is
given; our session rewrites that host to ``api_url`` (a proxy or a test server). The file goes
to whatever ``upload_url`` VK returned, through a plain session of our own, so progress can be
reported and a failed transfer retried without creating another video.

Who may see a video: ``privacy_view`` ("all", "friends", "only_me") reaches VK for a video on a
person's own page only; VK's video.save takes no viewers for a community's video, only
``is_private=1`` (not in the community's list, not found by id by others), which `save` sends
for any choice but "all".

All methods block; the ``*_async`` twins run them in a thread for the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Self

import jconfig
import requests
import vk_api
from vk_api.exceptions import TOO_MANY_RPS_CODE

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.vk.ru/method"
DEFAULT_API_VERSION = "5.199"
SITE_URL = "https://vk.com"

# Where vk_api sends method calls, whatever we configure.
_VK_API_PREFIX = "https://api.vk.ru/method/"

AUTH_FAILED = 5
# 6: too many requests per second, 9: flood control, 10: internal server error.
TRANSIENT_CODES = frozenset({6, 9, 10})
HTTP_ERROR = -1
CAPTCHA_NEEDED = 14

PROGRESS_STEP = 1 << 20
_READ_BLOCK = 1 << 16

ProgressHook = Callable[[int, int], None]
AsyncProgress = Callable[[int, int | None], Awaitable[None]]


class VkError(Exception):
    """VK refused or failed a request. `code` is VK's error code; -1 for HTTP failures.

    `retryable` tells a caller that the same request may succeed later (rate limits, VK's own
    faults, network trouble) after the retries made here ran out.
    """

    def __init__(self, code: int, message: str, *, retryable: bool = False) -> None:
        # Codes of our own (HTTP failures, VK ID, our checks) are zero or negative: no prefix.
        super().__init__(f"VK error {code}: {message}" if code > 0 else message)
        self.code = code
        self.message = message
        self.retryable = retryable


class VkAuthError(VkError):
    """The access token is not (or no longer) accepted: the account must be connected again."""


@dataclass(frozen=True)
class VkUploadTarget:
    """A video slot made by ``video.save``; the file still has to go to `upload_url`."""

    owner_id: int
    video_id: int
    upload_url: str
    access_key: str | None = None

    @property
    def url(self) -> str:
        return video_url(self.owner_id, self.video_id)


@dataclass(frozen=True)
class VkUploaded:
    owner_id: int
    video_id: int
    url: str


@dataclass(frozen=True)
class VkVideoInfo:
    owner_id: int
    video_id: int
    title: str
    description: str
    processing: bool
    # VK's own player page for the video (video_ext.php with oid, id and hash), when it says.
    player: str = ""


def video_url(owner_id: int, video_id: int) -> str:
    return f"{SITE_URL}/video{owner_id}_{video_id}"


class _ApiSession(requests.Session):
    """Sends vk_api's calls for its fixed host to `api_url`, always with a timeout."""

    def __init__(self, api_url: str, timeout: float) -> None:
        super().__init__()
        self._api_prefix = api_url.rstrip("/") + "/"
        self._timeout = timeout

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if isinstance(url, str) and url.startswith(_VK_API_PREFIX):
            url = self._api_prefix + url[len(_VK_API_PREFIX) :]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


class _MultipartFile:
    """A multipart/form-data body with one file field, read from disk as it is sent.

    requests streams any iterable with ``read`` and uses ``len`` for Content-Length, so a video
    of any size is never held in memory and every block sent is counted for progress.
    """

    def __init__(
        self, path: Path, field: str, filename: str, on_progress: ProgressHook | None
    ) -> None:
        boundary = secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._path = path
        self._size = path.stat().st_size
        self._on_progress = on_progress
        self._file: BinaryIO | None = None
        self._stage = 0  # 0: head, 1: file, 2: tail, 3: done
        self._sent = 0
        self._reported = -1

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        while block := self.read(_READ_BLOCK):
            yield block

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = _READ_BLOCK
        if self._stage == 0:
            self._stage = 1
            self._file = self._path.open("rb")
            self._report()
            return self._head
        if self._stage == 1:
            assert self._file is not None
            block = self._file.read(size)
            if block:
                self._sent += len(block)
                if self._sent - self._reported >= PROGRESS_STEP or self._sent == self._size:
                    self._report()
                return block
            self._file.close()
            self._stage = 2
        if self._stage == 2:
            self._stage = 3
            return self._tail
        return b""

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def _report(self) -> None:
        self._reported = self._sent
        if self._on_progress is not None:
            try:
                self._on_progress(self._sent, self._size)
            except Exception:
                # A progress display must never break the upload it describes.
                log.exception("VK upload progress callback failed")


class VkVideo:
    """Video calls for one access token (a person's, from VK ID, or a community's)."""

    def __init__(
        self,
        access_token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        api_version: str = DEFAULT_API_VERSION,
        retry_delays: Sequence[float] = (1.0, 2.0, 5.0, 10.0),
        upload_retry_delays: Sequence[float] = (2.0, 5.0, 15.0),
        rps_delay: float = 0.34,
        timeout: float = 30.0,
        upload_timeout: float = 300.0,
    ) -> None:
        self._session = _ApiSession(api_url, timeout)
        self._vk = vk_api.VkApi(
            token=access_token,
            api_version=api_version,
            session=self._session,
            config=jconfig.MemoryConfig,
        )
        self._vk.RPS_DELAY = rps_delay
        # vk_api answers error 6 by sleeping and calling again with no limit; our retries are
        # bounded and back off.
        self._vk.error_handlers.pop(TOO_MANY_RPS_CODE, None)
        self._retry_delays = tuple(retry_delays)
        self._upload_retry_delays = tuple(upload_retry_delays)
        self._upload_timeout = upload_timeout
        self._upload_http = requests.Session()

    def __repr__(self) -> str:
        return f"VkVideo(api_version={self._vk.api_version!r})"

    def close(self) -> None:
        self._session.close()
        self._upload_http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- API methods ---------------------------------------------------------------------

    def call(self, method: str, **params: Any) -> Any:
        """Call an API method; transient failures are retried with backoff, then raised."""
        values = {key: _api_value(value) for key, value in params.items() if value is not None}
        delays = iter(self._retry_delays)
        while True:
            try:
                return self._vk.method(method, values)
            except vk_api.ApiError as exc:
                code = int(exc.code)
                message = str(exc.error.get("error_msg") or "")
                if code == AUTH_FAILED:
                    # The library's exception holds the request, token included: leave it behind.
                    raise VkAuthError(code, message) from None
                error = VkError(code, message, retryable=code in TRANSIENT_CODES)
            except vk_api.ApiHttpError as exc:
                status = exc.response.status_code
                error = VkError(
                    HTTP_ERROR,
                    f"VK API answered HTTP {status} to {method}",
                    retryable=status >= 500 or status == 429,
                )
            except vk_api.Captcha:
                error = VkError(CAPTCHA_NEEDED, "VK asks for a captcha; try again later")
            except requests.JSONDecodeError:
                # Not JSON: a proxy's error page or a cut-off answer.
                error = VkError(
                    HTTP_ERROR, f"VK API sent an unreadable answer to {method}", retryable=True
                )
            except requests.RequestException as exc:
                error = VkError(
                    HTTP_ERROR, f"cannot reach VK API ({type(exc).__name__})", retryable=True
                )
            delay = next(delays, None) if error.retryable else None
            if delay is None:
                raise error
            log.warning("VK %s failed (%s); retrying in %.1f s", method, error, delay)
            time.sleep(delay)

    def save(
        self,
        *,
        title: str,
        description: str,
        group_id: int | None = None,
        album_id: int | None = None,
        privacy_view: str = "all",
        wallpost: bool = False,
    ) -> VkUploadTarget:
        """Create the video (``video.save``); its bytes go to the returned `upload_url`."""
        response = self.call(
            "video.save",
            name=title,
            description=description,
            group_id=group_id,
            album_id=album_id,
            # VK applies privacy settings only to videos in a person's own profile; in a
            # community a video can only be hidden (not listed, not found by id by others).
            privacy_view=privacy_view if group_id is None else None,
            is_private=1 if group_id is not None and privacy_view != "all" else None,
            wallpost=wallpost or None,
        )
        try:
            return VkUploadTarget(
                owner_id=int(response["owner_id"]),
                video_id=int(response["video_id"]),
                upload_url=str(response["upload_url"]),
                access_key=response.get("access_key"),
            )
        except (KeyError, TypeError, ValueError):
            raise VkError(HTTP_ERROR, "video.save answered without an upload address") from None

    def send_file(
        self,
        target: VkUploadTarget,
        video_path: Path,
        *,
        on_progress: ProgressHook | None = None,
    ) -> dict[str, Any]:
        """POST the file to the slot's upload server; server faults are retried a few times."""
        delays = iter(self._upload_retry_delays)
        filename = "video" + (video_path.suffix if video_path.suffix.isascii() else "")
        filename = filename.replace('"', "")
        while True:
            body = _MultipartFile(Path(video_path), "video_file", filename, on_progress)
            try:
                response = self._upload_http.post(
                    target.upload_url,
                    data=body,
                    headers={"Content-Type": body.content_type},
                    timeout=(30.0, self._upload_timeout),
                )
            except requests.RequestException as exc:
                error = VkError(
                    HTTP_ERROR,
                    f"cannot reach VK's upload server ({type(exc).__name__})",
                    retryable=True,
                )
            else:
                if response.ok:
                    return _upload_answer(response)
                status = response.status_code
                error = VkError(
                    HTTP_ERROR,
                    f"VK's upload server answered HTTP {status}",
                    retryable=status >= 500 or status == 429,
                )
                if not error.retryable:
                    raise error
            finally:
                body.close()
            delay = next(delays, None)
            if delay is None:
                raise error
            log.warning("VK upload of video %s failed (%s); retrying", target.video_id, error)
            time.sleep(delay)

    def upload(
        self,
        video_path: Path,
        *,
        title: str,
        description: str,
        group_id: int | None = None,
        album_id: int | None = None,
        privacy_view: str = "all",
        on_progress: ProgressHook | None = None,
    ) -> VkUploaded:
        target = self.save(
            title=title,
            description=description,
            group_id=group_id,
            album_id=album_id,
            privacy_view=privacy_view,
        )
        self.send_file(target, video_path, on_progress=on_progress)
        log.info("uploaded VK video %s_%s", target.owner_id, target.video_id)
        return VkUploaded(target.owner_id, target.video_id, target.url)

    def group_name(self, group_id: int) -> str:
        groups = _groups(self.call("groups.getById", group_id=group_id))
        if not groups:
            raise VkError(100, f"community {group_id} not found")
        return str(groups[0].get("name", ""))

    def own_community(self) -> tuple[int, str]:
        """(id, name) of the community a community token belongs to."""
        groups = _groups(self.call("groups.getById"))
        if not groups:
            raise VkError(100, "the token names no community")
        return int(groups[0]["id"]), str(groups[0].get("name", ""))

    def find_video(self, owner_id: int, video_id: int) -> VkVideoInfo | None:
        """The video as VK has it now, or None when it is gone (deleted or never saved)."""
        response = self.call("video.get", owner_id=owner_id, videos=f"{owner_id}_{video_id}")
        items = response.get("items", []) if isinstance(response, dict) else []
        if not items:
            return None
        item = items[0]
        return VkVideoInfo(
            owner_id=int(item.get("owner_id", owner_id)),
            video_id=int(item.get("id", video_id)),
            title=str(item.get("title", "")),
            description=str(item.get("description", "")),
            processing=bool(item.get("processing")),
            player=str(item.get("player") or ""),
        )

    # -- for the event loop ----------------------------------------------------------------

    async def upload_async(
        self,
        video_path: Path,
        *,
        title: str,
        description: str,
        group_id: int | None = None,
        album_id: int | None = None,
        privacy_view: str = "all",
        on_progress: AsyncProgress | None = None,
    ) -> VkUploaded:
        target = await self.save_async(
            title=title,
            description=description,
            group_id=group_id,
            album_id=album_id,
            privacy_view=privacy_view,
        )
        await self.send_file_async(target, video_path, on_progress=on_progress)
        log.info("uploaded VK video %s_%s", target.owner_id, target.video_id)
        return VkUploaded(target.owner_id, target.video_id, target.url)

    async def save_async(
        self,
        *,
        title: str,
        description: str,
        group_id: int | None = None,
        album_id: int | None = None,
        privacy_view: str = "all",
        wallpost: bool = False,
    ) -> VkUploadTarget:
        return await asyncio.to_thread(
            lambda: self.save(
                title=title,
                description=description,
                group_id=group_id,
                album_id=album_id,
                privacy_view=privacy_view,
                wallpost=wallpost,
            )
        )

    async def send_file_async(
        self,
        target: VkUploadTarget,
        video_path: Path,
        *,
        on_progress: AsyncProgress | None = None,
    ) -> dict[str, Any]:
        if on_progress is None:
            return await asyncio.to_thread(self.send_file, target, video_path)
        bridge = _ProgressBridge(on_progress, asyncio.get_running_loop())
        try:
            return await asyncio.to_thread(
                lambda: self.send_file(target, video_path, on_progress=bridge)
            )
        finally:
            await bridge.drain()

    async def group_name_async(self, group_id: int) -> str:
        return await asyncio.to_thread(self.group_name, group_id)

    async def find_video_async(self, owner_id: int, video_id: int) -> VkVideoInfo | None:
        return await asyncio.to_thread(self.find_video, owner_id, video_id)

    async def call_async(self, method: str, **params: Any) -> Any:
        return await asyncio.to_thread(lambda: self.call(method, **params))


class _ProgressBridge:
    """Carries progress from the upload thread to a coroutine on the loop.

    The thread never waits for the loop: while one report is still being shown, newer ones
    are dropped except the last, which is always delivered.
    """

    def __init__(self, callback: AsyncProgress, loop: asyncio.AbstractEventLoop) -> None:
        self._callback = callback
        self._loop = loop
        self._pending: concurrent.futures.Future[None] | None = None
        self._last: tuple[int, int] | None = None
        self._shown: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        self._last = (done, total)
        if self._pending is not None and not self._pending.done():
            return
        self._pending = asyncio.run_coroutine_threadsafe(self._deliver(done, total), self._loop)

    async def _deliver(self, done: int, total: int) -> None:
        self._shown = (done, total)
        try:
            await self._callback(done, total)
        except Exception:
            log.exception("VK upload progress callback failed")

    async def drain(self) -> None:
        if self._pending is not None:
            await asyncio.wrap_future(self._pending)
        if self._last is not None and self._last != self._shown:
            # The final count was dropped while an earlier report was still being shown.
            await self._deliver(*self._last)


def _api_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(item) for item in value)
    return value


def _groups(response: Any) -> list[dict[str, Any]]:
    # API 5.194 wrapped the list in {"groups": [...], "profiles": [...]}.
    if isinstance(response, dict):
        response = response.get("groups", [])
    return [group for group in response or [] if isinstance(group, dict)]


def _upload_answer(response: requests.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        # Some upload servers answer a bare "OK"-style body; the bytes did arrive.
        return {}
    if isinstance(payload, dict) and payload.get("error"):
        error = payload["error"]
        if isinstance(error, dict):
            code = int(error.get("error_code", HTTP_ERROR))
            message = str(error.get("error_msg", json.dumps(error)))
        else:
            code, message = HTTP_ERROR, f"VK's upload server refused the file: {error}"
        raise VkError(code, message)
    return payload if isinstance(payload, dict) else {}
