"""Audio for speech recognition: 16 kHz mono from the edited timeline, in chunks that fit.

Timestamps from a recogniser are on the timeline of the audio it heard, so that audio
must be the *edited* one: either the trimmed video itself, or the source with the
keep-list applied here (sample-exact). The format follows the output's suffix; MP3 at
32 kbps is the default (an hour is about 14 MB, within the 25 MB that OpenAI-style APIs
accept), WAV is exact but large, M4A/AAC and FLAC are also possible.

Long audio is split at the quietest moment before each limit, never inside a word, and
the chunks played one after another give back the whole audio.

The local engine hears the same cuts without any encoding: :func:`decode_to_pcm` writes
the raw 16 kHz samples to a file while measuring their loudness in the same pass, and
:func:`choose_cuts` picks where its pieces of a few minutes end; a piece is then read
from the file by sample index, so its times on the whole audio are exact.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import ffmpeg_cmd, loudness, silence
from pipeline.errors import FFMPEG_FAILED, NO_AUDIO, MediaError
from pipeline.probe import probe
from pipeline.timeline import Timeline

RATE = ffmpeg_cmd.PCM_RATE
_CODECS: dict[str, list[str]] = {
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "32k"],
    ".wav": ["-c:a", "pcm_s16le"],
    ".m4a": ["-c:a", "aac", "-b:a", "48k"],
    ".flac": ["-c:a", "flac"],
}
_SMOOTH_SECONDS = 0.5
_HEADER_BYTES = 4096


@dataclass(frozen=True)
class Chunk:
    path: Path
    offset: float
    """Where the chunk starts in the whole audio, seconds."""
    duration: float


def extract_asr_audio(media: Path, out: Path, *, keep: Timeline | None = None) -> Path:
    """Write 16 kHz mono audio of ``media`` to ``out`` (format from its suffix).

    Pass the trimmed video as ``media``; or the source together with its ``keep`` list,
    and only the kept samples are written. ``out`` appears atomically.
    """
    codec = _codec_for(out)
    info = probe(media)
    if not info.has_audio:
        raise MediaError(NO_AUDIO, f"{media.name} has no audio track")
    tmp = out.with_name(f".{out.stem}.part{out.suffix}")
    try:
        if keep is None:
            cmd = ffmpeg_cmd.asr_audio_cmd(media, tmp, codec=codec, muxer=_muxer(out))
            ffmpeg_cmd.run(cmd, what="extracting audio for recognition")
        else:
            encode = ffmpeg_cmd.pcm_encode_cmd(tmp, codec=codec, muxer=_muxer(out))
            _pipe_kept(media, keep, encode)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def prepare_chunks(
    media: Path, out_dir: Path, *, max_seconds: float, max_bytes: int, suffix: str = ".mp3"
) -> list[Chunk]:
    """Audio of ``media`` (the trimmed video) for a recognition API: extracted into
    ``out_dir`` and split to fit the limits. Chunks of an earlier run are removed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    audio = out_dir / f"asr{suffix}"
    for stale in out_dir.glob(f"{audio.stem}.chunk*{suffix}"):
        stale.unlink()
    extract_asr_audio(media, audio)
    return split_for_asr(audio, max_seconds, max_bytes, out_dir=out_dir)


async def prepare_chunks_async(
    media: Path, out_dir: Path, *, max_seconds: float, max_bytes: int, suffix: str = ".mp3"
) -> list[Chunk]:
    """:func:`prepare_chunks` in a worker thread, leaving the event loop free."""
    return await asyncio.to_thread(
        prepare_chunks,
        media,
        out_dir,
        max_seconds=max_seconds,
        max_bytes=max_bytes,
        suffix=suffix,
    )


def decode_to_pcm(
    media: Path, out: Path, *, channel: int | None = None
) -> tuple[loudness.DbArray, float]:
    """Decode the first audio stream of ``media`` to raw 16 kHz mono s16le in ``out``
    (its channels mixed, or only ``channel``).

    Returns the loudness of every :data:`loudness.FRAME` and the seconds decoded, measured
    in the same pass. Memory stays flat whatever the length: samples go straight to disk.
    """
    meter = loudness.LevelMeter()
    with tempfile.TemporaryFile() as err, out.open("wb") as sink:
        proc = subprocess.Popen(
            ffmpeg_cmd.pcm_cmd(media, channel=channel),
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            **ffmpeg_cmd.child_options(),
        )
        assert proc.stdout is not None
        with proc.stdout:
            while block := proc.stdout.read(1 << 20):
                meter.feed(block)
                sink.write(block)
        if proc.wait() != 0:
            err.seek(0)
            raise MediaError(
                FFMPEG_FAILED, "decoding audio for recognition: " + ffmpeg_cmd.last_line(err.read())
            )
    return meter.db(), meter.seconds


def read_pcm(path: Path, start: int, end: int) -> np.ndarray:
    """Samples ``start``..``end`` of a raw s16le file as float32 in -1..1."""
    count = max(0, end - start)
    with path.open("rb") as source:
        source.seek(start * 2)
        data = source.read(count * 2)
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def split_for_asr(
    audio: Path,
    max_seconds: float,
    max_bytes: int,
    *,
    out_dir: Path | None = None,
    search_seconds: float = 30.0,
) -> list[Chunk]:
    """Cut ``audio`` into chunks of at most ``max_seconds`` and ``max_bytes`` each.

    Each cut goes at the quietest half second within ``search_seconds`` before the
    limit. Audio that already fits comes back as one chunk pointing at ``audio``
    itself; otherwise the chunks are written to ``out_dir`` (default: next to
    ``audio``) in the same format.
    """
    info = probe(audio)
    if not info.has_audio:
        raise MediaError(NO_AUDIO, f"{audio.name} has no audio track")
    size = audio.stat().st_size
    if info.duration <= max_seconds and size <= max_bytes:
        return [Chunk(audio, 0.0, info.duration)]
    codec = _codec_for(audio)
    out_dir = out_dir or audio.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    db, seconds = silence.measure(audio)
    byte_rate = max(size - _HEADER_BYTES, 1) / max(info.duration, 1e-3)
    limit = min(max_seconds, (max_bytes - _HEADER_BYTES) / byte_rate * 0.97)
    for _ in range(4):
        cuts = choose_cuts(db, seconds, limit, search_seconds)
        chunks = _write_chunks(audio, cuts, codec, out_dir)
        biggest = max(c.path.stat().st_size for c in chunks)
        if biggest <= max_bytes:
            return chunks
        limit *= max_bytes / biggest * 0.95
    raise MediaError(FFMPEG_FAILED, f"cannot make chunks under {max_bytes} bytes")


def choose_cuts(
    db: loudness.DbArray, duration: float, limit: float, search_seconds: float = 30.0
) -> list[float]:
    """Chunk boundaries (0, ..., duration): each cut is at the quietest moment in the
    last ``search_seconds`` before the chunk would exceed ``limit`` seconds."""
    if limit <= 2 * loudness.FRAME:
        raise ValueError("chunk limit too small")
    frame = loudness.FRAME
    width = max(round(_SMOOTH_SECONDS / frame), 1)
    power = 10 ** (db / 10)
    smooth = np.convolve(power, np.ones(width) / width, mode="same")
    cuts = [0.0]
    while duration - cuts[-1] > limit:
        end = cuts[-1] + limit
        begin = max(cuts[-1] + limit / 2, end - search_seconds)
        lo, hi = int(np.ceil(begin / frame)), int(np.floor(end / frame))
        window = smooth[lo:hi]
        if window.size == 0:
            cuts.append(end)
            continue
        # The quietest frame; among equally quiet ones the latest, for longer chunks.
        best = lo + window.size - 1 - int(np.argmin(window[::-1]))
        cuts.append(min((best + 0.5) * frame, end))
    cuts.append(duration)
    return cuts


def _write_chunks(audio: Path, cuts: list[float], codec: list[str], out_dir: Path) -> list[Chunk]:
    chunks: list[Chunk] = []
    for n, (start, end) in enumerate(itertools.pairwise(cuts)):
        path = out_dir / f"{audio.stem}.chunk{n:03d}{audio.suffix}"
        cmd = ffmpeg_cmd.audio_slice_cmd(
            audio, path, start=start, duration=end - start, codec=codec, muxer=_muxer(audio)
        )
        ffmpeg_cmd.run(cmd, what="cutting audio chunks")
        chunks.append(Chunk(path, start, end - start))
    return chunks


def _pipe_kept(media: Path, keep: Timeline, encode: list[str]) -> None:
    """Decode 16 kHz mono PCM, pass on only the samples inside ``keep``, encode."""
    ranges = [(round(iv.start * RATE), round(iv.end * RATE)) for iv in keep]
    ffmpeg_cmd.pipe_ranges(
        ffmpeg_cmd.pcm_cmd(media),
        encode,
        ranges,
        sample_bytes=2,
        pad_missing=False,
        what="audio for recognition",
    )


def _codec_for(path: Path) -> list[str]:
    try:
        return _CODECS[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"unsupported audio format {path.suffix!r}; use one of {sorted(_CODECS)}"
        ) from None


def _muxer(path: Path) -> str:
    return {".m4a": "ipod", ".mp3": "mp3", ".wav": "wav", ".flac": "flac"}[path.suffix.lower()]
