"""The YouTube client a stage or the bot holds: the channel, captions, thumbnail, playlist.

Rules it keeps:

- `YouTube` is blocking (httplib2 underneath) and meant for a worker thread; `AsyncYouTube`
  runs each call in `asyncio.to_thread`. Cancelling an async upload stops the thread after
  the chunk in flight and waits for it, so no chunk is on the wire when the caller moves on.
- Captions: a track the video already has (``captionExists``) counts as made, since an
  earlier try made it and its answer was lost; `replace_captions` puts new text into a track
  (captions.update), so a language translated again keeps one track.
- Playlists: ``playlistItems.insert`` is not idempotent, so every try asks the playlist
  first and adds the video only when it is not in it yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from googleapiclient.http import MediaFileUpload

from integrations.google_oauth import Tokens
from integrations.youtube.errors import YouTubeError, translated
from integrations.youtube.upload import DEFAULT_CHUNK_SIZE, ProgressCallback, Uploads, VideoMetadata

log = logging.getLogger(__name__)


class YouTube(Uploads):
    """One connected channel. Blocking; each call uses its own HTTP connection."""

    def channel_title(self) -> str:
        """The title of the channel the grant belongs to, to confirm the connection."""
        request = self._service.channels().list(part="snippet", mine=True)
        answer = self._execute("channels.list", request)
        items = answer.get("items") or []
        if not items:
            raise YouTubeError("noChannel", "this Google account has no YouTube channel yet")
        return str(items[0]["snippet"]["title"])

    def set_captions(self, video_id: str, srt_path: Path, language: str, name: str) -> str | None:
        """Add a caption track from an SRT file; returns the caption id.

        None when the video already has this track (``captionExists``): an earlier try made it
        and its answer was lost, so the work is done.
        """
        media = MediaFileUpload(str(srt_path), mimetype="application/octet-stream")
        body = {
            "snippet": {"videoId": video_id, "language": language, "name": name, "isDraft": False}
        }
        request = self._service.captions().insert(part="snippet", body=body, media_body=media)
        try:
            return str(self._execute("captions.insert", request)["id"])
        except YouTubeError as exc:
            if exc.reason != "captionExists":
                raise
            log.info("YouTube captions: video %s already has the %s track", video_id, language)
            return None

    def replace_captions(
        self, video_id: str, caption_id: str | None, srt_path: Path, language: str, name: str
    ) -> str:
        """Put new text into the video's track (by id, else by language and name); returns its id.

        captions.update keeps the one track people already pick in the player instead of adding
        a second of the same language. A track gone from YouTube (deleted there) is made again.
        """
        found = caption_id or self.caption_id(video_id, language, name)
        if found:
            media = MediaFileUpload(str(srt_path), mimetype="application/octet-stream")
            body = {"id": found, "snippet": {"isDraft": False}}
            request = self._service.captions().update(part="snippet", body=body, media_body=media)
            try:
                return str(self._execute("captions.update", request)["id"])
            except YouTubeError as exc:
                if exc.status != 404 and exc.reason != "captionNotFound":
                    raise
                log.info("YouTube captions: track %s of video %s is gone", found, video_id)
        made = self.set_captions(video_id, srt_path, language, name)
        return made or self.caption_id(video_id, language, name) or ""

    def caption_id(self, video_id: str, language: str, name: str) -> str | None:
        """The id of the video's track in `language` named `name`, if it has one."""
        request = self._service.captions().list(part="snippet", videoId=video_id)
        for item in self._execute("captions.list", request).get("items") or []:
            snippet = item.get("snippet") or {}
            if snippet.get("language") == language and snippet.get("name", "") == name:
                return str(item["id"])
        return None

    def set_thumbnail(self, video_id: str, image_path: Path) -> None:
        """Set a custom thumbnail (JPEG or PNG, at most 2 MB; the channel must be verified)."""
        path = Path(image_path)
        mimetype = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
        media = MediaFileUpload(str(path), mimetype=mimetype)
        request = self._service.thumbnails().set(videoId=video_id, media_body=media)
        self._execute("thumbnails.set", request)

    def add_to_playlist(self, video_id: str, playlist_id: str) -> str:
        """Append the video to a playlist, unless it is in it already; returns the item id.

        playlistItems.insert is not idempotent: a try whose answer was lost may have added the
        video, and another insert would list it twice. So every try asks the playlist first.
        """
        body = {
            "snippet": {
                "playlistId": playlist_id,
                "resourceId": {"kind": "youtube#video", "videoId": video_id},
            }
        }
        http = self._http()

        def add() -> str:
            with translated():
                found = (
                    self._service.playlistItems()
                    .list(part="id", playlistId=playlist_id, videoId=video_id, maxResults=1)
                    .execute(http=http)
                )
                items = found.get("items") or []
                if items:
                    return str(items[0]["id"])
                request = self._service.playlistItems().insert(part="snippet", body=body)
                return str(request.execute(http=http)["id"])

        return self._retrying("playlistItems.insert", add)


AsyncProgressCallback = Callable[[int, int], Awaitable[None] | None]


class AsyncYouTube:
    """`YouTube` for the event loop: each call runs in a worker thread."""

    def __init__(self, client: YouTube) -> None:
        self.client = client

    @property
    def tokens(self) -> Tokens:
        return self.client.tokens

    async def channel_title(self) -> str:
        return await asyncio.to_thread(self.client.channel_title)

    async def start_upload(self, video_path: Path, metadata: VideoMetadata) -> str:
        return await asyncio.to_thread(self.client.start_upload, video_path, metadata)

    async def upload_state(self, session_uri: str, total: int) -> int | str:
        return await asyncio.to_thread(self.client.upload_state, session_uri, total)

    async def upload(
        self,
        video_path: Path,
        session_uri: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        on_progress: AsyncProgressCallback | None = None,
    ) -> str:
        """As `YouTube.upload`; `on_progress` may be a coroutine function and runs in this loop.

        Cancelling the task stops the thread after the chunk in flight; the session keeps what
        it received, and a later `upload` with the same URI continues.
        """
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        report: ProgressCallback | None = None
        if on_progress is not None:
            callback = on_progress

            async def call(done: int, total: int) -> None:
                result = callback(done, total)
                if inspect.isawaitable(result):
                    await result

            def report(done: int, total: int) -> None:
                asyncio.run_coroutine_threadsafe(call(done, total), loop).result()

        task = asyncio.ensure_future(
            asyncio.to_thread(
                self.client.upload,
                video_path,
                session_uri,
                chunk_size=chunk_size,
                on_progress=report,
                cancel=cancel,
            )
        )
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            cancel.set()
            # Wait for the thread so no chunk is still on the wire when the caller moves on.
            with contextlib.suppress(BaseException):
                await task
            raise

    async def set_captions(
        self, video_id: str, srt_path: Path, language: str, name: str
    ) -> str | None:
        return await asyncio.to_thread(self.client.set_captions, video_id, srt_path, language, name)

    async def replace_captions(
        self, video_id: str, caption_id: str | None, srt_path: Path, language: str, name: str
    ) -> str:
        return await asyncio.to_thread(
            self.client.replace_captions, video_id, caption_id, srt_path, language, name
        )

    async def set_thumbnail(self, video_id: str, image_path: Path) -> None:
        await asyncio.to_thread(self.client.set_thumbnail, video_id, image_path)

    async def add_to_playlist(self, video_id: str, playlist_id: str) -> str:
        return await asyncio.to_thread(self.client.add_to_playlist, video_id, playlist_id)
