"""Cutting the sound of a recording to a keep-list, in step with the picture.

AAC is copied frame by frame (an AAC packet is always a keyframe): each kept interval
takes the run of packets whose start lies nearest to where the output needs it, carrying
the rounding over to the next interval, so the sound never drifts more than half a packet
(about 11 ms) from the picture however many cuts there are. Other codecs, or AAC with
holes, are decoded and the kept samples re-encoded to AAC, sample-exact.

The rules this module keeps:

- AAC is copied only when its packets follow each other without holes: their count
  times the packet length agrees with the stated duration to within a little over three
  packets (priming packets, the part of the last one past the end). Matroska does not say
  how many packets there are; then the track is copied out as ADTS and counted.
- Sound that ends before the picture is padded with silence when re-encoded, so the
  lengths still agree.
- The source is only read; ADTS files are read a block at a time.
"""

from __future__ import annotations

from array import array
from pathlib import Path

from pipeline import ffmpeg_cmd
from pipeline.packets import first_audio_packet_time
from pipeline.probe import MediaInfo
from pipeline.timeline import Timeline

_COPY_AAC_PROFILES = {"LC": 1024, "Main": 1024, "HE-AAC": 2048, "HE-AACv2": 2048}
_AAC_SLACK_PACKETS = 3.5
"""How far (in packets) an AAC track's packet count may be from its stated duration."""


def cut_audio(
    source: Path,
    info: MediaInfo,
    timeline: Timeline,
    work: Path,
    adts: Path | None,
    first: float | None = None,
) -> tuple[Path, str | None, str]:
    """The kept audio as a file for the muxer: (path, ffmpeg input format, method).

    ``first`` is the time of the first audio packet when the caller read it already."""
    frame = aac_frame(info)
    if frame and first is None:
        first = first_audio_packet_time(source, info.start_time)
    if frame and first is not None:
        count = info.audio_frames
        if count is None and info.audio_duration:
            # Matroska does not say how many packets there are: copy the track and count.
            if adts is None:
                adts = work / "track.aac"
                ffmpeg_cmd.run(ffmpeg_cmd.adts_copy_cmd(source, adts), what="copying audio")
            offsets = adts_frame_offsets(adts)
            count = len(offsets) - 1 if offsets is not None else None
        if count and without_holes(info, count):
            path = work / "audio.aac"
            if _copy_aac(source, timeline, path, first, frame, count, adts, work):
                return path, "aac", "copy"
    path = work / "audio.m4a"
    _encode_audio(source, info, timeline, path)
    return path, None, "encode"


def aac_frame(info: MediaInfo) -> float | None:
    """Seconds per AAC packet when the track is AAC that ADTS can carry, else None."""
    samples = _COPY_AAC_PROFILES.get(info.audio_profile or "")
    if info.audio_codec != "aac" or samples is None or not info.audio_sample_rate:
        return None
    return samples / info.audio_sample_rate


def without_holes(info: MediaInfo, count: int) -> bool:
    """Whether ``count`` AAC packets fill the stated duration without holes, so that
    packet ``k`` can be taken to start ``k`` packets after the first."""
    # The stated duration may leave out up to about two priming packets and the part
    # of the last packet past the end, so a little over three packets is no hole.
    frame = aac_frame(info)
    return bool(
        frame
        and info.audio_duration
        and abs(count * frame - info.audio_duration) <= _AAC_SLACK_PACKETS * frame
    )


def choose_packets(
    timeline: Timeline, first: float, frame: float, count: int
) -> list[tuple[int, int]]:
    """Packet index ranges for each kept interval, rounding carried from one to the next.

    Packet ``k`` starts at ``first + k * frame``. The output plays the chosen packets
    back to back, so the error of each interval is (where its first packet lands in the
    output) minus (where that packet's source time belongs); choosing the packet nearest
    to the corrected target keeps every error within half a packet.
    """
    ranges: list[tuple[int, int]] = []
    audio_pos = 0.0
    for iv, out_start in zip(timeline, timeline.output_starts, strict=True):
        drift = audio_pos - out_start
        i = min(max(round((iv.start + drift - first) / frame), 0), count)
        # End where the picture of this interval ends in the output.
        end_time = first + i * frame + iv.duration - drift
        j = min(max(round((end_time - first) / frame), i), count)
        ranges.append((i, j))
        audio_pos += (j - i) * frame
    return ranges


def _copy_aac(
    source: Path,
    timeline: Timeline,
    out: Path,
    first: float,
    frame: float,
    count: int,
    adts: Path | None,
    work: Path,
) -> bool:
    ranges = choose_packets(timeline, first, frame, count)
    if adts is None and len(ranges) == 1:
        # One interval: have ffmpeg copy just that stretch, already the finished track.
        i, j = ranges[0]
        start = first + i * frame - frame / 2
        cmd = ffmpeg_cmd.adts_copy_cmd(source, out, start=start, duration=(j - i) * frame)
        ffmpeg_cmd.run(cmd, what="copying audio")
        offsets = adts_frame_offsets(out)
        return offsets is not None and len(offsets) - 1 == j - i
    if adts is None:
        adts = work / "track.aac"
        ffmpeg_cmd.run(ffmpeg_cmd.adts_copy_cmd(source, adts), what="copying audio")
    bounds = adts_frame_offsets(adts)
    if bounds is None or len(bounds) - 1 != count:
        return False
    with adts.open("rb") as src, out.open("wb") as dst:
        for i, j in ranges:
            src.seek(bounds[i])
            left = bounds[j] - bounds[i]
            while left > 0:
                block = src.read(min(left, 1 << 20))
                if not block:
                    return False
                dst.write(block)
                left -= len(block)
    return True


def adts_frame_offsets(path: Path, block_size: int = 1 << 20) -> array[int] | None:
    """Byte offset of every ADTS frame of a file, plus its size; None if it is not plain
    ADTS (one raw data block per frame). Reads the file once, a block at a time."""
    offsets: array[int] = array("q")
    pos = 0  # file offset of the next frame header
    base = 0  # file offset of buf[0]
    buf = b""
    with path.open("rb") as fh:
        while block := fh.read(block_size):
            drop = min(pos - base, len(buf))
            buf = buf[drop:] + block
            base += drop
            while pos - base + 7 <= len(buf):
                h = pos - base
                if buf[h] != 0xFF or buf[h + 1] & 0xF6 != 0xF0 or buf[h + 6] & 0x03:
                    return None
                length = ((buf[h + 3] & 0x03) << 11) | (buf[h + 4] << 3) | (buf[h + 5] >> 5)
                if length < 7:
                    return None
                offsets.append(pos)
                pos += length
    if pos != base + len(buf):
        return None
    offsets.append(pos)
    return offsets


def aac_bitrate(info: MediaInfo, channels: int) -> int:
    """The bitrate the kept sound is encoded at when it cannot be copied: the source's own,
    so a cut never thins the sound, within what AAC needs for speech and what it can use."""
    floor = max(96_000, 64_000 * channels)
    ceiling = 160_000 * channels
    source = info.audio_bit_rate
    if source is None and not info.has_video:
        # A sound-only file's overall rate is its sound's.
        source = info.bit_rate
    return floor if source is None else min(max(source, floor), ceiling)


def _encode_audio(source: Path, info: MediaInfo, timeline: Timeline, out: Path) -> None:
    """Decode, keep exactly the samples of ``timeline``, encode to AAC (through pipes)."""
    rate = min(info.audio_sample_rate or 48_000, 48_000)
    channels = min(max(info.audio_channels or 1, 1), 2)
    ffmpeg_cmd.pipe_ranges(
        ffmpeg_cmd.pcm_native_cmd(source, rate=rate, channels=channels),
        ffmpeg_cmd.aac_encode_cmd(
            out, rate=rate, channels=channels, bitrate=aac_bitrate(info, channels)
        ),
        [(round(iv.start * rate), round(iv.end * rate)) for iv in timeline],
        sample_bytes=2 * channels,
        # The sound ending before the picture is padded, so the lengths still agree.
        pad_missing=True,
        what="cutting audio",
    )
