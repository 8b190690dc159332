"""What a publication is made of: the title, description and chapters compose left, and names.

Everything here reads only the recording row and the files in its folder, so the bot (the
downloads of /recordings) and the publish jobs make the same names and texts from them.

- metadata.json is what compose wrote; when it is missing or unreadable, the title comes from
  the recording (the title a person gave it, its caption, its file name) and nothing fails.
- A description always carries the chapter list: it is appended when compose did not put it in.
- A file name handed to a person is made from the title with the characters file systems refuse
  taken out; it is never a path on our disk.
- Sound without a picture is what fetch found without a video stream.
"""

from __future__ import annotations

import html
import json
import logging
import re
from pathlib import Path
from typing import Any

from jobs import files
from pipeline.timecodes import Chapter
from pipeline.topics import chapters_text
from storage.models import Recording

log = logging.getLogger(__name__)

# The description's name inside the export archive.
ARCHIVE_TEXT = "description.txt"


def esc(text: str) -> str:
    """`text` for an HTML message, between tags only: quotes stay as typed."""
    return html.escape(text, quote=False)


def display_name(recording: Recording) -> str:
    """What a recording is called: the title a person gave it on the card, else the caption
    it came with, else its file or page name (the same name the cards show)."""
    facts = recording.options.get("facts") or {}
    name = (
        (recording.media.get("review") or {}).get("title")
        or (facts.get("title") if isinstance(facts, dict) else None)
        or recording.source_name
        or f"#{recording.id}"
    )
    name = str(name)
    return name if len(name) <= 80 else name[:77] + "…"


def read_metadata(folder: Path, recording: Recording) -> dict[str, Any]:
    """metadata.json as compose wrote it; a title from the recording when it is missing."""
    data: dict[str, Any] = {}
    path = folder / files.METADATA
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            data = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            log.warning("recording %s: metadata.json unreadable", recording.id)
    compose = recording.media.get("compose") or {}
    title = str(data.get("title") or compose.get("title") or "").strip()
    data["title"] = title or Path(display_name(recording)).stem or display_name(recording)
    data["description"] = str(data.get("description") or "")
    data["tags"] = [str(t) for t in data.get("tags") or [] if str(t).strip()]
    return data


def is_audio_only(recording: Recording) -> bool:
    """Sound without a picture (a voice message, an .m4a): fetch found no video stream."""
    source = recording.media.get("source")
    return isinstance(source, dict) and source.get("has_video") is False


def vk_description(meta: dict[str, Any], chapters: list[Chapter]) -> str:
    """The description, with the chapter list appended when compose did not put it in."""
    description = meta["description"].strip()
    block = chapters_text(chapters)
    if block and block not in description:
        description = f"{description}\n\n{block}" if description else block
    return description[:5000]


def description_text(meta: dict[str, Any], chapters: list[Chapter]) -> str:
    return f"{meta['title']}\n\n{vk_description(meta, chapters)}".strip() + "\n"


def archive_name(title: str, recording_id: int) -> str:
    """A file name for the person's download folder; never a path on our disk."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", title)
    cleaned = " ".join(cleaned.split())[:80].strip(" .")
    return f"{cleaned or f'lecture-{recording_id}'}.zip"
