"""Every ffmpeg and ffprobe command line of the pipeline, built as argument lists.

Nothing here runs a process except :func:`run`, and nothing goes through a shell, so
file names with spaces or quotes are safe. Times are formatted with microsecond
precision because that is ffmpeg's own internal resolution (``AV_TIME_BASE``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import FFMPEG_FAILED, MediaError

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"

_BASE = [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-y"]

PCM_RATE = 16_000
"""Sample rate of the PCM used for silence analysis and for speech recognition."""


def sec(t: float) -> str:
    """A time in seconds as ffmpeg reads it, never in exponent notation."""
    return f"{max(t, 0.0):.6f}"


def run(cmd: Sequence[str], *, what: str) -> subprocess.CompletedProcess[bytes]:
    """Run one ffmpeg/ffprobe command; a failure becomes ``MediaError("ffmpeg_failed")``."""
    proc = subprocess.run(list(cmd), capture_output=True, check=False)
    if proc.returncode != 0:
        raise MediaError(FFMPEG_FAILED, f"{what}: {last_line(proc.stderr)}")
    return proc


def last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


# --- probing -------------------------------------------------------------------------------


def probe_cmd(path: Path) -> list[str]:
    return [
        FFPROBE,
        "-hide_banner",
        "-v",
        "error",
        "-of",
        "json",
        "-show_format",
        "-show_streams",
        str(path),
    ]


def demux_duration_cmd(path: Path) -> list[str]:
    """Read every packet without decoding; ffmpeg's final ``time=`` is the real duration.

    Used only for containers that do not state a duration (live-recorded WebM/MKV).
    """
    return [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-stats",
        "-i",
        str(path),
        "-map",
        "0",
        "-c",
        "copy",
        "-f",
        "null",
        "-",
    ]


def video_packets_cmd(path: Path) -> list[str]:
    """Timestamps and key flags of every packet of the first video stream, nothing decoded."""
    return [
        FFPROBE,
        "-hide_banner",
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts_time,dts_time,flags",
        "-of",
        "csv=p=0",
        str(path),
    ]
