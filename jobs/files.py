"""Names of a recording's files and small helpers to write them safely."""

from __future__ import annotations

from pathlib import Path

from pipeline.translation import TARGETS

VIDEO = "video.mp4"
TRANSCRIPT = "transcript.json"
TOPICS = "topics.json"
SRT = "subtitles.srt"
VTT = "subtitles.vtt"
METADATA = "metadata.json"
THUMBNAIL = "thumbnail.jpg"


def translated_srt(language: str) -> str:
    """subtitles.<language>.srt: a translation beside the originals. `language` must be one of
    pipeline.translation.TARGETS (a code, never what a person typed)."""
    return f"subtitles.{language}.srt"


def translated_vtt(language: str) -> str:
    return f"subtitles.{language}.vtt"


def translations() -> list[str]:
    """Every name a subtitles' translation may have; what was never made is simply absent."""
    return [name for code in TARGETS for name in (translated_srt(code), translated_vtt(code))]


def write_text(path: Path, text: str) -> None:
    """Write through a temporary name, so a crash never leaves half a file under the real one."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)
