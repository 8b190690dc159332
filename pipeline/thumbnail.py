"""One frame of a video as a JPEG (for thumbnails and previews)."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline import ffmpeg_cmd
from pipeline.errors import FFMPEG_FAILED, NO_VIDEO, MediaError
from pipeline.probe import probe


def extract_frame(video: Path, t: float, out_jpg: Path, *, width: int | None = None) -> Path:
    """Write the frame shown at ``t`` seconds to ``out_jpg`` (scaled to ``width`` if given).

    The seek goes before the input, so only the frames from the previous keyframe to
    ``t`` are decoded. A time past the end gives the last second's frame. The file
    appears atomically.
    """
    info = probe(video)
    if not info.has_video:
        raise MediaError(NO_VIDEO, f"{video.name} has no video stream")
    t = min(max(t, 0.0), max(info.duration - 1.0, 0.0))
    tmp = out_jpg.with_name(f".{out_jpg.stem}.part.jpg")
    try:
        for at in (t, 0.0):
            ffmpeg_cmd.run(ffmpeg_cmd.frame_cmd(video, tmp, at=at, width=width), what="thumbnail")
            if tmp.exists() and tmp.stat().st_size > 0:
                os.replace(tmp, out_jpg)
                return out_jpg
    finally:
        tmp.unlink(missing_ok=True)
    raise MediaError(FFMPEG_FAILED, f"no frame could be read from {video.name}")
