"""Errors the media pipeline raises for input it cannot or will not process.

The bot maps ``MediaError.code`` to a localized message, so the codes are part of the
stable interface: add new ones freely, never rename one.
"""

from __future__ import annotations

NOT_MEDIA = "not_media"
"""The file is not audio or video that ffmpeg can read (a document, an image, garbage)."""
EMPTY = "empty"
"""The file has no bytes."""
TRUNCATED = "truncated"
"""The file is a media container whose end is missing (an interrupted upload or download)."""
NO_AUDIO = "no_audio"
"""There is no audio stream, so there is nothing to trim by or transcribe."""
NO_VIDEO = "no_video"
"""A video was required but the file has only audio."""
SILENT = "silent"
"""There is an audio stream, but nobody speaks in it."""
TOO_LONG = "too_long"
"""The recording is longer than the configured maximum."""
PLAYLIST = "playlist"
"""The file is a list of other files (a playlist, a concat script), not a recording."""
FFMPEG_FAILED = "ffmpeg_failed"
"""ffmpeg or ffprobe failed on input that looked valid."""

CODES = frozenset(
    {NOT_MEDIA, EMPTY, TRUNCATED, NO_AUDIO, NO_VIDEO, SILENT, TOO_LONG, PLAYLIST, FFMPEG_FAILED}
)


class MediaError(Exception):
    """Bad or unusable media input; ``code`` is one of :data:`CODES`."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)
