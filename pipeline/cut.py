"""Cut a recording down to a keep-list: frame-exact, picture and sound in sync.

Video. Every cut point is first moved to the nearest frame boundary, so the output
frame times are exactly ``Timeline.to_output`` of the source frame times. An H.264
source is then *smart cut*: each kept part is copied untouched from its first keyframe
to its end, straight out of the source file by the concat demuxer (``inpoint`` on the
keyframe, ``outpoint`` just before the decoding time of the first packet after the
part, ``duration`` fixing where the next piece starts). A copy can end on any *clean
end*, and a cut point may move outwards by a few frames to reach one; which frames are
copied and which re-encoded is planned by :mod:`pipeline.cut_plan`. Only the frames from
the start of a part to its first keyframe are re-encoded, with x264 one thread per piece,
two pieces at a time, the same B-frame delay as the source so decoding times stay
increasing across the joins, and at most the source's profile. A phone video stored on
its side keeps its pixels as they are (re-encoded pieces too) and its display rotation, so
it plays upright as before. Anything else (VP9, HEVC, 10-bit, odd-sized, unindexed) is
decoded once and re-encoded with x264, keeping just the selected frames (turned upright,
when the source says to turn them).

The file is written with its index first. A smart cut of an MP4/MOV with AAC sound is
put together from the samples themselves (:mod:`pipeline.cut_write`,
:mod:`pipeline.mp4_write`): each run of bytes copied in one call, about ten times less
work than ffmpeg's concat demuxer and muxer, whose result it equals packet for packet.
The re-encoded pieces number their parameter sets apart from the source's so one
sample description serves both. Every other cut is muxed by ffmpeg into space set aside
for the index, so no second pass over the output is needed.

Damaged sources. A file that ffmpeg plays although some of its bytes are broken is never
refused. Copying stops at the first broken packet, so the smart cut comes out short; then
the packets whose bytes do not hold whole NAL units are found (MP4/MOV) and only the GOPs
around them are re-encoded ("patch"), or, where they cannot be told, the whole picture
("repair"). The decoder leaves out the frames it cannot read; every other frame keeps its
time. Every result is checked (frame count, rotation) before it replaces ``out``.

Audio is cut by :mod:`pipeline.cut_audio`: AAC copied packet by packet, never more than
half a packet from the picture, anything else re-encoded sample-exact. An audio-only
source gives an audio-only MP4 (AAC), the "podcast" case.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pipeline import ffmpeg_cmd, mp4_write, video_cmd
from pipeline.cut_audio import aac_frame, cut_audio
from pipeline.cut_plan import FrameGrid, Piece, plan_pieces
from pipeline.cut_write import assemble, parameter_set_id
from pipeline.errors import FFMPEG_FAILED, MediaError
from pipeline.mp4_tables import Movie, read_movie
from pipeline.packets import (
    VideoPackets,
    broken_video_packets,
    first_audio_packet_time,
    read_video_packets,
)
from pipeline.probe import MediaInfo, probe
from pipeline.timeline import Interval, Timeline

_SMART_CONTAINERS = ("mov", "mp4", "matroska")
_SMART_PIX_FMTS = ("yuv420p", "yuvj420p")
_WORKERS = 2


@dataclass(frozen=True)
class CutResult:
    path: Path
    timeline: Timeline
    """The keep-list actually applied (cut points on frame boundaries)."""
    video: str
    """"smart" (copy + partial re-encode), "encode" (full re-encode), "patch" (smart, with
    the GOPs of broken packets re-encoded too), "repair" (full re-encode of a damaged
    source; see :func:`cut`) or "none"."""
    audio: str
    """"copy" (AAC packets copied) or "encode"."""
    encoded_seconds: float
    """Seconds of video that went through the encoder."""
    info: MediaInfo
    """What the written file holds."""


def cut(
    source: Path,
    keep: Timeline,
    out: Path,
    *,
    info: MediaInfo | None = None,
    packets: VideoPackets | None = None,
    adts: Path | None = None,
    first_audio: float | None = None,
    preset: str = "veryfast",
    crf: float = 20,
    piece_preset: str = "ultrafast",
    piece_crf: float = 18,
    smart: bool = True,
    stretch: float = 0.2,
    own_muxer: bool = True,
) -> CutResult:
    """Write the parts of ``source`` in ``keep`` to ``out`` (H.264/AAC MP4, faststart).

    ``info`` and ``packets`` save probing again; ``adts`` is the whole AAC track already
    copied out as ADTS (trimming copies it while the analysis runs), ``first_audio``
    the time of its first packet when already read. ``preset``
    and ``crf`` are for a full re-encode; the short pieces at smart cuts use the fast
    ``piece_preset`` at the higher quality ``piece_crf``, which looks the same for the
    second or so they last. A smart cut may move a cut point outwards by up to
    ``stretch`` seconds (keeping a little more of what was to go, never less of what
    was to stay) to where the source can be copied instead of re-encoded; the returned
    timeline says where the cuts ended up. ``out`` is replaced atomically. The source is
    only read. A smart cut of an MP4/MOV is written by :mod:`pipeline.mp4_write` where it
    can be (``own_muxer=False`` always has ffmpeg mux it, as every other cut is).

    A source with damaged frames that ffmpeg still plays is never refused: copying stops
    at the first packet whose bytes are broken (the smart cut then comes out short), so
    the GOPs holding broken packets are re-encoded ("patch"), or the whole video when
    those packets cannot be found ("repair"). The decoder skips the frames it cannot
    read; the frame before a skipped one stays on screen, every other frame keeps its
    time. A patch may lack only the broken frames, and a repair is accepted only when the
    decoder said it met damage, so a cut that merely lost frames is still an error.
    """
    info = info or probe(source)
    if not keep.keep:
        raise ValueError("nothing to keep")
    with tempfile.TemporaryDirectory(prefix=".cut-", dir=out.parent) as tmp:
        work = Path(tmp)
        if not info.has_video:
            timeline = Timeline.of(
                Interval(iv.start, min(iv.end, info.duration))
                for iv in keep
                if iv.start < info.duration
            )
            audio, audio_fmt, audio_how = cut_audio(source, info, timeline, work, adts, first_audio)
            tmp_out = work / "out.mp4"
            _run(
                video_cmd.mux_cmd(
                    tmp_out, video_concat=None, video_file=None, audio=audio, audio_format=audio_fmt
                ),
                "muxing",
            )
            check = probe(tmp_out)
            os.replace(tmp_out, out)
            return CutResult(out, timeline, "none", audio_how, 0.0, check)

        packets = packets or read_video_packets(source, info.start_time)
        grid = FrameGrid.from_packets(packets, info.duration)
        spans = grid.snap(keep)
        if not spans:
            raise ValueError("the keep-list holds no whole frame")
        attempts: list[str] = ["smart", "encode"] if smart and _smart_ok(info, grid) else ["encode"]
        writable = own_muxer and attempts[0] == "smart" and _writable(info)
        movie = read_movie(source) if writable else None
        broken: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        last_error = ""
        while attempts:
            method = attempts.pop(0)
            tmp_out = work / f"out-{method}.mp4"
            pieces = method in ("smart", "patch")
            settings = (piece_preset, piece_crf) if pieces else (preset, crf)
            chosen = grid.widen(spans, round(stretch / grid.frame)) if pieces else spans
            timeline = grid.timeline(chosen)
            expected = sum(b - a for a, b in chosen)
            # Broken frames the decoder may skip in a patched cut.
            skippable = sum(int(((broken >= a) & (broken < b)).sum()) for a, b in chosen)
            try:
                done = _render(
                    source, info, grid, chosen, timeline, work, tmp_out, adts, method, *settings,
                    broken=broken, first_audio=first_audio,
                    movie=movie if method == "smart" else None,
                )  # fmt: skip
            except MediaError as exc:
                last_error = exc.detail
                continue
            check = probe(tmp_out)
            frames = check.video_frames
            if pieces and check.rotation != info.rotation:
                last_error = f"the rotation came out {check.rotation}, not {info.rotation}"
                continue
            if method == "smart" and frames is not None and frames < expected:
                # Copying stops at a broken packet: re-encode just the GOPs that hold one.
                found = broken_video_packets(source, info.start_time)
                if found:
                    broken = grid.frames_at(found)
                    attempts.insert(0, "patch")
            if frames is not None and frames < expected and done.damage and method == "encode":
                method = "repair"
            elif method == "patch" and frames is not None and frames >= expected - skippable:
                pass
            elif frames not in (None, expected):
                last_error = f"{method} cut gave {frames} frames, expected {expected}"
                continue
            os.replace(tmp_out, out)
            return CutResult(out, timeline, method, done.audio, done.encoded, check)
        raise MediaError(FFMPEG_FAILED, f"cutting failed: {last_error}")


def _writable(info: MediaInfo) -> bool:
    """Whether a smart cut of this source may be written without ffmpeg's muxer (see
    :mod:`pipeline.cut_write`): an MP4/MOV whose sound is AAC that can be copied."""
    return (
        "mp4" in info.format_name
        and info.video_is_first_stream
        and info.has_audio
        and aac_frame(info) is not None
    )


def _smart_ok(info: MediaInfo, grid: FrameGrid) -> bool:
    return (
        info.video_codec == "h264"
        and info.pix_fmt in _SMART_PIX_FMTS
        and any(tag in info.format_name for tag in _SMART_CONTAINERS)
        and info.rotation % 90 == 0
        and (info.width or 1) % 2 == 0
        and (info.height or 1) % 2 == 0
        and 0 <= grid.reorder_frames <= 2
        and grid.keyframes.size > 0
    )


@dataclass(frozen=True)
class _Rendered:
    encoded: float
    """Seconds of video that went through the encoder."""
    audio: str
    damage: str
    """What the video decoder said about broken input on a full re-encode ("" if nothing)."""


def _render(
    source: Path,
    info: MediaInfo,
    grid: FrameGrid,
    spans: Sequence[tuple[int, int]],
    timeline: Timeline,
    work: Path,
    out: Path,
    adts: Path | None,
    method: str,
    preset: str,
    crf: float,
    *,
    broken: Sequence[int] = (),
    first_audio: float | None = None,
    movie: Movie | None = None,
) -> _Rendered:
    """Make ``out``; with ``movie`` (the source's sample tables, for a smart cut) write it
    from the samples without ffmpeg's muxer where :mod:`pipeline.cut_write` can."""
    jobs: list[Callable[[], object]] = []
    complaints: list[bytes] = []
    concat: Path | None = None
    video_file: Path | None = None
    encoded = 0.0
    parts: list[tuple[Piece, Path | None]] = []
    sps_id = parameter_set_id(movie)
    if sps_id is None:
        movie = None
    if method in ("smart", "patch"):
        pieces = plan_pieces(grid, spans, broken if method == "patch" else ())
        concat = work / "video.ffconcat"
        lines = ["ffconcat version 1.0"]
        x264 = video_cmd.x264_args(
            preset=preset,
            crf=crf,
            pix_fmt=info.pix_fmt or "yuv420p",
            reorder_frames=grid.reorder_frames,
            profile=info.video_profile,
            threads=1,
            sps_id=sps_id,
        )
        costs: list[float] = []
        for n, piece in enumerate(pieces):
            start, end = float(grid.bounds[piece.first]), float(grid.bounds[piece.last])
            if piece.copy and info.video_is_first_stream:
                lines += _copy_entry(source, info, grid, piece)
                parts.append((piece, None))
                continue
            path = work / f"piece{n:05d}.mp4"
            eps = min(grid.frame / 4, 0.005)
            if piece.copy:
                entry = _copy_entry(source, info, grid, piece)
                cmd = _copy_piece_cmd(entry, work / f"piece{n:05d}.ffconcat", path)
                what = "copying whole GOPs"
                cost = 0.0
            else:
                what = "re-encoding a cut"
                encoded += end - start
                cmd = video_cmd.encode_piece_cmd(
                    source,
                    path,
                    start=start - eps,
                    frames=piece.last - piece.first,
                    x264=x264,
                    timescale=info.video_timescale,
                    duration=None if piece.exact else end - start,
                )
                cost = _encode_cost(grid, piece)
            jobs.append(lambda cmd=cmd, what=what: _run(cmd, what))
            costs.append(cost)
            parts.append((piece, None if piece.copy else path))
            lines += [f"file {_quote(path)}", f"duration {ffmpeg_cmd.sec(end - start)}"]
        concat.write_text("\n".join(lines) + "\n", encoding="utf-8")
        # Longest first, so the two workers finish together.
        order = sorted(range(len(jobs)), key=lambda i: -costs[i])
        jobs = [jobs[i] for i in order]
    else:
        video_file = work / "video.mp4"
        encoded = timeline.duration
        x264 = video_cmd.x264_args(preset=preset, crf=crf, pix_fmt="yuv420p", reorder_frames=None)
        select, setpts = _select_exprs(grid, spans)
        script = work / "select.txt"
        cmd = video_cmd.encode_selected_cmd(
            source,
            video_file,
            select=select,
            setpts=setpts,
            x264=x264,
            scale_even=(info.width or 0) % 2 == 1 or (info.height or 0) % 2 == 1,
        )
        cmd = _vf_via_script(cmd, script)
        # With "-v error" a clean decode prints nothing: whatever it prints is damage met.
        jobs.append(lambda: complaints.append(_run(cmd, "re-encoding the video").stderr))

    audio_result: list[tuple[Path, str | None, str]] = []
    if info.has_audio and movie is None:
        jobs.insert(
            0,
            lambda: audio_result.append(cut_audio(source, info, timeline, work, adts, first_audio)),
        )
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()
    if movie is not None:
        if _write_own(source, info, movie, grid, parts, timeline, out, first_audio):
            return _Rendered(encoded, "copy", "")
        audio_result.append(cut_audio(source, info, timeline, work, adts, first_audio))
    audio, audio_fmt, audio_how = audio_result[0] if audio_result else (None, None, "none")
    # Copied pixels are still on their side: the player is told to turn them, as before.
    rotation = info.rotation if method in ("smart", "patch") else 0
    _mux(out, concat, video_file, audio, audio_fmt, _moov_estimate(info, grid, timeline), rotation)
    damage = b"".join(complaints).decode("utf-8", "replace").strip()
    return _Rendered(encoded, audio_how, damage)


def _write_own(
    source: Path,
    info: MediaInfo,
    movie: Movie,
    grid: FrameGrid,
    parts: Sequence[tuple[Piece, Path | None]],
    timeline: Timeline,
    out: Path,
    first_audio: float | None,
) -> bool:
    """Write a smart cut from its samples; False when this cut cannot be written so."""
    if first_audio is None:
        first_audio = first_audio_packet_time(source, info.start_time)
    if first_audio is None:
        return False
    made = assemble(movie, info, grid, parts, timeline, first_audio)
    if made is None:
        return False
    try:
        mp4_write.write(out, *made)
    except ValueError:  # a value the index cannot hold (a track of more than 2**32 ticks)
        out.unlink(missing_ok=True)
        return False
    return True


def own_muxer_takes(source: Path, info: MediaInfo) -> bool:
    """Whether a smart cut of ``source`` would likely be written from its samples, so the
    sound need not be copied out for ffmpeg's muxer beforehand."""
    return _writable(info) and parameter_set_id(read_movie(source)) is not None


def _encode_cost(grid: FrameGrid, piece: Piece) -> float:
    """Relative work of re-encoding a piece: decoding from the keyframe before it, and
    encoding its own frames (which costs a few times more per frame)."""
    k = int(np.searchsorted(grid.keyframes, piece.first, side="right")) - 1
    first_decoded = int(grid.keyframes[k]) if k >= 0 else 0
    return (piece.last - first_decoded) + 2.5 * (piece.last - piece.first)


def _moov_estimate(info: MediaInfo, grid: FrameGrid | None, timeline: Timeline) -> int:
    """Bytes to set aside at the start of the output for its index, enough with room to
    spare: per video frame and per audio packet its size, composition offset, chunk
    offset and chunk table entry."""
    video = round(timeline.duration / grid.frame) if grid is not None and grid.frame else 0
    frame = aac_frame(info) or 1024 / (info.audio_sample_rate or 48_000)
    audio = round(timeline.duration / frame) if info.has_audio else 0
    return 24 * video + 20 * audio + (1 << 16)


def _mux(
    out: Path,
    concat: Path | None,
    video_file: Path | None,
    audio: Path | None,
    audio_format: str | None,
    moov_size: int,
    rotation: int = 0,
) -> None:
    """The final MP4 with its index first: written straight into space set aside for it,
    or, if that turns out too small, moved there by a second pass over the file."""
    args = {
        "video_concat": concat,
        "video_file": video_file,
        "audio": audio,
        "audio_format": audio_format,
        "rotation": rotation,
    }
    try:
        _run(video_cmd.mux_cmd(out, moov_size=moov_size, **args), "muxing")
    except MediaError:
        out.unlink(missing_ok=True)
        _run(video_cmd.mux_cmd(out, **args), "muxing")


def _copy_entry(source: Path, info: MediaInfo, grid: FrameGrid, piece: Piece) -> list[str]:
    """A concat entry that copies packets straight out of the source file, from a
    keyframe to a clean end.

    The concat demuxer works on the file's own timestamps (``start_time`` not removed)
    and drops packets whose *decoding* time reaches ``outpoint``, so the outpoint is set
    just before the decoding time of the first packet past the clean end.
    """
    start = float(grid.bounds[piece.first])
    end = float(grid.bounds[piece.last])
    lines = [f"file {_quote(source)}", f"inpoint {ffmpeg_cmd.sec(start + info.start_time)}"]
    if piece.last < grid.frames:
        c = int(np.searchsorted(grid.clean, piece.last))
        dts = float(grid.clean_dts[c]) + info.start_time
        lines.append(f"outpoint {ffmpeg_cmd.sec(dts - min(grid.frame / 4, 0.0005))}")
    lines.append(f"duration {ffmpeg_cmd.sec(end - start)}")
    return lines


def _copy_piece_cmd(entry: list[str], listing: Path, out: Path) -> list[str]:
    """Copy whole GOPs into their own file, through the same concat entry that copies them
    straight out of the source when the picture is the source's first stream."""
    listing.write_text("ffconcat version 1.0\n" + "\n".join(entry) + "\n", encoding="utf-8")
    return video_cmd.concat_copy_cmd(listing, out)


def _select_exprs(grid: FrameGrid, spans: Sequence[tuple[int, int]]) -> tuple[str, str]:
    """ffmpeg expressions keeping the frames of ``spans`` and closing the gaps.

    Frames are compared against the middle between the frame a span starts or ends at
    and the one before it, so a timestamp that rounds a hair either way still lands in
    the right span, however unevenly the frames are spaced (variable frame rate).
    """
    b = grid.bounds

    def edge(i: int) -> float:
        return float(b[i] + b[i - 1]) / 2 if i > 0 else float(b[0]) - grid.frame / 2

    select = "+".join(f"gte(t,{edge(x):.6f})*lt(t,{edge(y):.6f})" for x, y in spans)
    shift = [f"{b[spans[0][0]]:.6f}"]
    for (_, prev_end), (x, _) in itertools.pairwise(spans):
        shift.append(f"{b[x] - b[prev_end]:.6f}*gte(T,{edge(x):.6f})")
    return select, f"(T-({'+'.join(shift)}))/TB"


def _vf_via_script(cmd: list[str], script: Path) -> list[str]:
    """Move a long ``-vf`` into a filter script file (command lines have a length limit)."""
    i = cmd.index("-vf")
    script.write_text(cmd[i + 1], encoding="utf-8")
    return [*cmd[:i], "-filter_script:v", str(script), *cmd[i + 2 :]]


# --- helpers -------------------------------------------------------------------------------


def _run(cmd: Sequence[str], what: str) -> subprocess.CompletedProcess[bytes]:
    return ffmpeg_cmd.run(cmd, what=what)


def _quote(path: Path) -> str:
    """A path as the concat demuxer reads it (single-quoted, quotes escaped)."""
    text = str(path.resolve())
    return "'" + text.replace("'", "'\\''") + "'"
