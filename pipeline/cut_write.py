"""A smart cut's output assembled from samples by :mod:`pipeline.mp4_write`.

The copied stretches of picture are runs of the source's own samples, the re-encoded
pieces are their files' samples, and the sound is the source's AAC packets chosen by
:func:`pipeline.cut_audio.choose_packets`. Every time is worked out in the source's
ticks the way ffmpeg's concat demuxer would place the same packets: each part starts
where the parts before it end, a copied part at its keyframe, a piece at its first frame.

Only MP4/MOV sources whose index :mod:`pipeline.mp4_tables` reads qualify, with pieces
that x264 numbered apart from the source's parameter sets
(:mod:`pipeline.h264_config`); :func:`assemble` returns None for anything else and the
caller muxes with ffmpeg as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.cut_audio import aac_frame, choose_packets, without_holes
from pipeline.cut_plan import FrameGrid, Piece
from pipeline.h264_config import entry_config, whole_samples, with_config
from pipeline.mp4_tables import Movie, Track, read_movie
from pipeline.mp4_write import OutTrack
from pipeline.probe import MediaInfo
from pipeline.timeline import Timeline

_SAME_TICKS = 1
"""How far (in ticks) a re-encoded frame's time may be from the source frame's."""


def parameter_set_id(movie: Movie | None) -> int | None:
    """The id x264 should give its parameter sets so that they can sit beside the
    source's in one configuration, or None when the source does not allow that."""
    if movie is None or movie.video is None or movie.audio is None:
        return None
    config = entry_config(movie.video.entry)
    return config.free_id() if config is not None else None


def assemble(
    movie: Movie,
    info: MediaInfo,
    grid: FrameGrid,
    parts: Sequence[tuple[Piece, Path | None]],
    timeline: Timeline,
    first_audio: float,
) -> tuple[list[Path], list[OutTrack]] | None:
    """The files and tracks of the cut: ``parts`` in order, each a piece of the plan with
    the file it was re-encoded into (None for a stretch copied from the source)."""
    video, audio = movie.video, movie.audio
    if video is None or audio is None:
        return None
    files = [video.path]
    picture = _picture(video, grid, parts, files)
    if picture is None or picture.group is None:
        return None
    # The sound is laid out with the part of the picture it plays under.
    starts = picture.dts[np.flatnonzero(np.diff(picture.group, prepend=-1))] / picture.timescale
    sound = _sound(audio, info, timeline, first_audio, starts)
    if sound is None:
        return None
    return files, [picture, sound]


def _picture(
    source: Track, grid: FrameGrid, parts: Sequence[tuple[Piece, Path | None]], files: list[Path]
) -> OutTrack | None:
    count = source.sizes.size
    if grid.frames != count:
        return None
    scale = source.timescale
    pts = source.pts
    order = np.argsort(pts, kind="stable")  # presentation order -> sample
    rank = np.empty(count, dtype=np.int64)
    rank[order] = np.arange(count)
    shown = pts[order]
    step = round(grid.frame * scale)
    bounds = np.append(shown, shown[-1] + step)
    config = entry_config(source.entry)
    if config is None:
        return None
    entry = source.entry
    cols: list[list[np.ndarray]] = [[], [], [], [], [], [], []]
    at = 0  # where the next part starts in the output, in ticks
    for piece, path in parts:
        a, b = piece.first, piece.last
        if path is None:
            k0 = int(order[a])
            k1 = k0 + (b - a)
            span = rank[k0:k1]
            if k1 > count or not source.key[k0] or span.min() != a or span.max() != b - 1:
                return None
            track, rows, file = source, slice(k0, k1), 0
            shift = at - int(shown[a])
        else:
            found = read_movie(path)
            track = found.video if found is not None else None
            if track is None or track.timescale != scale or track.sizes.size != b - a:
                return None
            own = entry_config(track.entry)
            if own is None:
                return None
            try:
                entry = with_config(source.entry, config.joined(own))
            except ValueError:
                return None
            if path not in files:
                files.append(path)
            rows, file = slice(0, b - a), files.index(path)
            # The piece must show its frames when the source shows them.
            times = np.sort(track.pts)
            if (np.abs(times - times[0] - (shown[a:b] - shown[a])) > _SAME_TICKS).any():
                return None
            shift = at - int(times[0])
        n = rows.stop - rows.start
        cols[0].append(np.full(n, file, dtype=np.intp))
        cols[1].append(track.offsets[rows])
        cols[2].append(track.sizes[rows])
        cols[3].append(track.dts[rows] - track.edit + shift)
        cols[4].append(track.cts[rows])
        cols[5].append(track.key[rows])
        cols[6].append(np.full(n, len(cols[6]), dtype=np.int64))
        at += int(bounds[b] - bounds[a])
    dts = np.concatenate(cols[3])
    delay = -int(dts[0])
    if delay < 0 or (np.diff(dts) <= 0).any():
        return None
    # A broken packet is not copied on: the caller's ffmpeg path stops at it and has
    # the GOP around it re-encoded.
    files_of = np.concatenate(cols[0])
    copied = files_of == 0
    offsets, sizes = np.concatenate(cols[1]), np.concatenate(cols[2])
    if not whole_samples(source.path, offsets[copied], sizes[copied], config.length_size).all():
        return None
    return OutTrack(
        handler=b"vide",
        timescale=scale,
        entry=entry,
        tkhd=source.tkhd,
        files=files_of,
        offsets=offsets,
        sizes=sizes,
        dts=dts + delay,
        cts=np.concatenate(cols[4]),
        key=np.concatenate(cols[5]),
        last_duration=max(step, 1),
        edit=delay,
        shown=at,
        group=np.concatenate(cols[6]),
    )


def _sound(
    source: Track, info: MediaInfo, timeline: Timeline, first: float, starts: np.ndarray
) -> OutTrack | None:
    frame = aac_frame(info)
    count = source.sizes.size
    if frame is None or not without_holes(info, count):
        return None
    ticks = round(frame * source.timescale)
    if abs(ticks - frame * source.timescale) > 1e-6:
        return None
    ranges = [(i, j) for i, j in choose_packets(timeline, first, frame, count) if j > i]
    if not ranges:
        return None
    take = np.concatenate([np.arange(i, j) for i, j in ranges])
    dts = np.arange(take.size, dtype=np.int64) * ticks
    group = np.searchsorted(starts, dts / source.timescale, side="right") - 1
    return OutTrack(
        handler=b"soun",
        timescale=source.timescale,
        entry=source.entry,
        tkhd=source.tkhd,
        files=np.zeros(take.size, dtype=np.intp),
        offsets=source.offsets[take],
        sizes=source.sizes[take],
        dts=dts,
        cts=np.zeros(take.size, dtype=np.int64),
        key=np.ones(take.size, dtype=bool),
        last_duration=ticks,
        group=np.maximum(group, 0),
    )
