"""How ffmpeg opens a file and runs: the input hardening, the child processes, and the
command lines for sound (and for a thumbnail's still frame).

Every file is opened through :func:`media_input`: ffmpeg guesses a format from the
content, whatever the name, and some of its formats (HLS playlists, concat scripts, image
sequences, DASH manifests) read *other* files named inside them. A user's "video" that is
really a playlist would make ffmpeg read any file the worker can reach. So each input names
the demuxers it may be read with (:data:`MEDIA_DEMUXERS`, none of which opens a second file),
the only protocol allowed is ``file``, and the name goes in as a ``file:`` URL, so a name
like ``concat:a|b``, ``subfile,,…:x`` or ``-f.mp4`` is a file name and nothing else. All of
that lives here and only here; the command lines of :mod:`pipeline.video_cmd` (cutting and
muxing video) and :mod:`pipeline.ffprobe_cmd` (describing a file) open their inputs through
it too.

Commands are built as argument lists and nothing goes through a shell, so file names with
spaces or quotes are safe. Nothing here runs a process except :func:`run` and
:func:`pipe_ranges`, and every child the pipeline starts takes :func:`child_options`, so it
dies with the worker that started it. Times are formatted with microsecond precision
because that is ffmpeg's own internal resolution (``AV_TIME_BASE``).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.errors import FFMPEG_FAILED, MediaError

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"

BASE = [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-y"]
"""How every ffmpeg command line starts: quiet, never reading stdin, overwriting its output."""

# From <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1

MEDIA_DEMUXERS: tuple[str, ...] = (
    "mov",
    "matroska",
    "ogg",
    "mp3",
    "wav",
    "w64",
    "flac",
    "aac",
    "ac3",
    "eac3",
    "avi",
    "mpegts",
    "mpeg",
    "flv",
    "asf",
    "caf",
    "amr",
    "amrnb",
    "amrwb",
    "aiff",
    "mxf",
    "wv",
    "nut",
)
"""Demuxers that read recordings: each reads exactly the one file it is given (mov follows
external data references only when asked to, and nothing here asks)."""

PLAYLIST_DEMUXERS = frozenset({"hls", "concat", "dash", "webm_dash_manifest", "imf"})
"""Formats that are lists of other files: a user's file in one of them is refused."""

_LISTS = ("concat", "mov", "matroska")
"""What our own concat lists may be read with: the lists themselves and the MP4/Matroska
files they name (only those are cut by copying, see pipeline.cut)."""

PCM_RATE = 16_000
"""Sample rate of the PCM used for silence analysis and for speech recognition."""


def sec(t: float) -> str:
    """A time in seconds as ffmpeg reads it, never in exponent notation."""
    return f"{max(t, 0.0):.6f}"


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def _parent_death_guard() -> Callable[[], None] | None:
    """What a child runs before exec so that it dies with the process that started it.

    A worker killed outright (SIGKILL, the OOM killer) cannot stop its ffmpeg children; left
    alone they would go on burning CPU and writing into a recording folder that the next
    worker is using. Linux can tie a child's life to its parent (PR_SET_PDEATHSIG); strictly
    to the thread that started it, which for the pipeline is a pool thread that lives as
    long as the worker.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def guard() -> None:
        # Only a foreign call and a syscall: nothing here may take a lock after fork.
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            # The parent died between fork and prctl; nobody will read our output.
            os._exit(1)

    return guard


def child_options() -> dict[str, Any]:
    """Keyword arguments for every subprocess of the pipeline (see _parent_death_guard)."""
    guard = _parent_death_guard()
    return {"preexec_fn": guard} if guard is not None else {}


def run(cmd: Sequence[str], *, what: str) -> subprocess.CompletedProcess[bytes]:
    """Run one ffmpeg/ffprobe command; a failure becomes ``MediaError("ffmpeg_failed")``."""
    proc = subprocess.run(list(cmd), capture_output=True, check=False, **child_options())
    if proc.returncode != 0:
        raise MediaError(FFMPEG_FAILED, f"{what}: {last_line(proc.stderr)}")
    return proc


def file_url(path: Path) -> str:
    """``path`` as a ``file:`` URL: ffmpeg reads it as a name, never as options or a protocol."""
    return f"file:{path}"


def media_input(path: Path, *, formats: Sequence[str] = MEDIA_DEMUXERS) -> list[str]:
    """The input options for one media file (ffmpeg and ffprobe alike), see the module."""
    return [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        ",".join(formats),
        "-i",
        file_url(path),
    ]


def list_input(listing: Path) -> list[str]:
    """A concat list that we wrote, naming files of one recording's folder."""
    return ["-f", "concat", "-safe", "0", *media_input(listing, formats=_LISTS)]


def last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


# --- audio ---------------------------------------------------------------------------------


def pcm_cmd(
    source: Path,
    *,
    start: float | None = None,
    duration: float | None = None,
    rate: int = PCM_RATE,
    extra_outputs: Sequence[str] = (),
    channel: int | None = None,
) -> list[str]:
    """Decode the first audio stream to mono s16le on stdout; video is never decoded.

    ``aresample=async=1:first_pts=0`` pads a late-starting stream and any dropout with
    silence, so sample ``n`` is at ``n / rate`` seconds on the file's timeline (plus
    ``start``) even when the recording has holes. ``extra_outputs`` lets the same pass
    write more outputs from the one demuxing of the file. The channels are mixed into
    one, or with ``channel`` only that one (counted from 0) is taken.
    """
    cmd = [*BASE]
    if start is not None:
        cmd += ["-ss", sec(start)]
    if duration is not None:
        cmd += ["-t", sec(duration)]
    cmd += [*media_input(source), "-map", "0:a:0", "-vn", "-sn", "-dn"]
    resample = f"aresample={rate}:async=1:first_pts=0"
    if channel is None:
        cmd += ["-af", resample, "-ac", "1"]
    else:
        cmd += ["-af", f"pan=mono|c0=c{int(channel)},{resample}"]
    cmd += ["-c:a", "pcm_s16le", "-f", "s16le", "pipe:1", *extra_outputs]
    return cmd


def stereo_pcm_cmd(source: Path, *, rate: int, duration: float) -> list[str]:
    """The first two channels of the first audio stream, interleaved s16le at ``rate``, for
    at most ``duration`` seconds: for telling whether they carry the same sound."""
    return [
        *BASE,
        "-t",
        sec(duration),
        *media_input(source),
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-af",
        f"pan=stereo|c0=c0|c1=c1,aresample={rate}",
        "-c:a",
        "pcm_s16le",
        "-f",
        "s16le",
        "pipe:1",
    ]


def pcm_spans_cmd(source: Path, spans: Sequence[tuple[float, float]]) -> list[str]:
    """Several (start, duration) stretches of the first audio stream, decoded and joined
    into one mono s16le stream on stdout by a single process (each input seeks)."""
    cmd = [*BASE]
    for start, duration in spans:
        cmd += ["-ss", sec(start), "-t", sec(duration), *media_input(source)]
    joined = "".join(f"[{k}:a:0]" for k in range(len(spans)))
    graph = f"{joined}concat=n={len(spans)}:v=0:a=1,aresample={PCM_RATE},"
    graph += "aformat=sample_fmts=s16:channel_layouts=mono[pcm]"
    return [*cmd, "-filter_complex", graph, "-map", "[pcm]", "-f", "s16le", "pipe:1"]


def adts_copy_cmd(
    source: Path, out: Path, *, start: float | None = None, duration: float | None = None
) -> list[str]:
    """Copy the first audio stream's AAC frames, unchanged, into an ADTS file.

    With ``start``, only packets from ``start`` on are kept: the input seek lands a few
    seconds early and the output-side ``-ss`` then drops whole packets before ``start``,
    which is exact for audio because every AAC packet is a keyframe.
    """
    cmd = [*BASE]
    lead = 0.0
    if start is not None:
        seek = max(start - 5.0, 0.0)
        lead = start - seek
        cmd += ["-ss", sec(seek)]
    cmd += [*media_input(source), "-map", "0:a:0", "-vn", "-sn", "-dn", "-c:a", "copy"]
    if start is not None:
        cmd += ["-ss", sec(lead)]
    if duration is not None:
        cmd += ["-t", sec(duration)]
    return [*cmd, "-f", "adts", str(out)]


def pcm_native_cmd(source: Path, *, rate: int, channels: int) -> list[str]:
    """The first audio stream as s16le at its own rate (for re-encoding, not analysis)."""
    return [
        *BASE,
        *media_input(source),
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-af",
        f"aresample={rate}:async=1:first_pts=0",
        "-ac",
        str(channels),
        "-c:a",
        "pcm_s16le",
        "-f",
        "s16le",
        "pipe:1",
    ]


def aac_encode_cmd(out: Path, *, rate: int, channels: int, bitrate: int) -> list[str]:
    """s16le on stdin to AAC in an M4A file."""
    return [
        *BASE,
        "-f",
        "s16le",
        "-ar",
        str(rate),
        "-ac",
        str(channels),
        "-i",
        "pipe:0",
        "-c:a",
        "aac",
        "-b:a",
        str(bitrate),
        "-f",
        "mp4",
        str(out),
    ]


# --- audio for speech recognition ------------------------------------------------------------


def asr_audio_cmd(media: Path, out: Path, *, codec: Sequence[str], muxer: str) -> list[str]:
    """The first audio stream as 16 kHz mono in the given codec, gaps filled with silence."""
    return [
        *BASE,
        *media_input(media),
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-af",
        f"aresample={PCM_RATE}:async=1:first_pts=0",
        "-ac",
        "1",
        *codec,
        "-map_metadata",
        "-1",
        "-f",
        muxer,
        str(out),
    ]


def pcm_encode_cmd(out: Path, *, codec: Sequence[str], muxer: str) -> list[str]:
    """16 kHz mono s16le on stdin, encoded to ``out``."""
    return [
        *BASE,
        "-f",
        "s16le",
        "-ar",
        str(PCM_RATE),
        "-ac",
        "1",
        "-i",
        "pipe:0",
        *codec,
        "-f",
        muxer,
        str(out),
    ]


def audio_slice_cmd(
    audio: Path, out: Path, *, start: float, duration: float, codec: Sequence[str], muxer: str
) -> list[str]:
    """``duration`` seconds of ``audio`` from ``start``, sample-exact (decoded and
    re-encoded: the seek decodes from before ``start`` and drops the excess)."""
    return [
        *BASE,
        "-ss",
        sec(start),
        "-t",
        sec(duration),
        *media_input(audio),
        "-map",
        "0:a:0",
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(PCM_RATE),
        *codec,
        "-map_metadata",
        "-1",
        "-f",
        muxer,
        str(out),
    ]


def pipe_ranges(
    decode: Sequence[str],
    encode: Sequence[str],
    ranges: Sequence[tuple[int, int]],
    *,
    sample_bytes: int,
    pad_missing: bool,
    what: str,
) -> None:
    """Run ``decode`` (raw PCM on stdout) into ``encode`` (raw PCM on stdin), passing on
    only the samples in ``ranges`` (sorted, disjoint, in samples). With ``pad_missing``,
    ranges past the end of the decoded sound are filled with silence.

    The decoder is stopped as soon as the last range is through.
    """
    with tempfile.TemporaryFile() as dec_err, tempfile.TemporaryFile() as enc_err:
        dec = subprocess.Popen(
            list(decode),
            stdout=subprocess.PIPE,
            stderr=dec_err,
            stdin=subprocess.DEVNULL,
            **child_options(),
        )
        enc = subprocess.Popen(
            list(encode),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=enc_err,
            **child_options(),
        )
        assert dec.stdout is not None and enc.stdin is not None
        pos, r, pending = 0, 0, b""
        # The encoder stopped reading (it failed: a full disk, an unwritable output). Its
        # own message says why; the broken pipe we see only says that it is gone.
        broken = False
        try:
            while r < len(ranges) and (block := dec.stdout.read(1 << 20)):
                block = pending + block
                usable = len(block) - len(block) % sample_bytes
                pending = block[usable:]
                n = usable // sample_bytes
                while r < len(ranges) and ranges[r][0] < pos + n:
                    a, b = max(ranges[r][0], pos), min(ranges[r][1], pos + n)
                    if b > a:
                        enc.stdin.write(block[(a - pos) * sample_bytes : (b - pos) * sample_bytes])
                    if ranges[r][1] > pos + n:
                        break
                    r += 1
                pos += n
            finished = r == len(ranges)
            if not finished and pad_missing:
                missing = sum(b - max(a, pos) for a, b in ranges[r:] if b > max(a, pos))
                enc.stdin.write(bytes(missing * sample_bytes))
            enc.stdin.close()
        except BrokenPipeError:
            broken, finished = True, False
        finally:
            if dec.poll() is None:
                dec.kill()
            dec.stdout.close()
            if not enc.stdin.closed:
                # Closing flushes what is still buffered, maybe into the same broken pipe;
                # and an encoder still waiting for input would never exit.
                with contextlib.suppress(BrokenPipeError):
                    enc.stdin.close()
            dec_rc = dec.wait()
            enc_rc = enc.wait()
        if broken:
            enc_err.seek(0)
            detail = last_line(enc_err.read()) if enc_rc != 0 else "stopped reading its input"
            raise MediaError(FFMPEG_FAILED, f"{what}: encoding: {detail}")
        if dec_rc != 0 and not finished:
            dec_err.seek(0)
            raise MediaError(FFMPEG_FAILED, f"{what}: decoding: {last_line(dec_err.read())}")
        if enc_rc != 0:
            enc_err.seek(0)
            raise MediaError(FFMPEG_FAILED, f"{what}: encoding: {last_line(enc_err.read())}")


def frame_cmd(video: Path, out: Path, *, at: float, width: int | None) -> list[str]:
    """One frame at ``at`` seconds as a JPEG (seek before the input: fast)."""
    cmd = [*BASE, "-ss", sec(at), *media_input(video), "-map", "0:v:0", "-frames:v", "1"]
    if width:
        cmd += ["-vf", f"scale={width}:-2"]
    return [*cmd, "-q:v", "2", "-f", "image2", "-update", "1", str(out)]
