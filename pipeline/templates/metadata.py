"""What a template makes of one recording: title, description with chapters, tags.

Rules:
- Within YouTube's limits: a title of at most MAX_TITLE_CHARS without angle brackets, a
  description of at most MAX_DESCRIPTION_BYTES of UTF-8, tags of at most MAX_TAGS_CHARS
  counted as YouTube counts them (quotes around tags with spaces, commas between).
- The chapter list is part of the description: where the template puts ``{{ chapters }}``,
  or appended at the end when it does not. The text around it is shortened, at a line or
  word end where one is near, so the list stays whole; a list YouTube would not show
  (too few chapters) is left out, not padded, while ``Metadata.chapters`` keeps them for
  the platforms that take any number). Chapters are fitted into half the description by
  dropping the shortest ones; when three or fewer still do not fit, none are kept.
- Only a template's own tags are templates; tags that come with the recording are text.
- The title, the description and the tags spend from one budget per composition.
- This runs in the calling thread: the bot and the workers call it through
  `pipeline.template_runner`, which runs it in a child process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.templates.limits import MAX_OPERATIONS, RENDER_SECONDS, Budget, spending
from pipeline.templates.models import MAX_TAGS, Template
from pipeline.templates.rendering import render
from pipeline.timecodes import Chapter, format_tc
from pipeline.topics import Topics, chapters, chapters_text, youtube_chapters

__all__ = ["MAX_TITLE_CHARS", "Metadata", "compose_metadata"]

MAX_TITLE_CHARS = 100
MAX_DESCRIPTION_BYTES = 5000
MAX_TAGS_CHARS = 500
_CHAPTER_TITLE_CHARS = 80
_ANGLES = str.maketrans({"<": "‹", ">": "›"})
_MARKER = "\u2063CHAPTERS\u2063"
# What is left of the marker if a filter changed it (e.g. "|lower").
_MARKER_TRACES = re.compile("\u2063[^\u2063]{0,40}\u2063")


class Metadata(BaseModel):
    """What metadata.json holds."""

    model_config = ConfigDict(frozen=True)

    title: str
    description: str
    tags: list[str] = Field(default_factory=list)
    chapters: list[Chapter] = Field(default_factory=list)

    def dump_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def load_json(cls, path: str | Path) -> Metadata:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


def _format_date(value: Any, fmt: str) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, date):
        try:
            return value.strftime(fmt)
        except ValueError:
            return value.isoformat()
    return "" if value is None else str(value)


def _clean_title(text: str, fallback: str) -> str:
    title = " ".join(text.replace("<", " ").replace(">", " ").split()) or fallback
    if len(title) <= MAX_TITLE_CHARS:
        return title
    cut = title[: MAX_TITLE_CHARS - 1]
    space = cut.rfind(" ")
    if space >= MAX_TITLE_CHARS * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-–—") + "…"


def _utf8_prefix(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[: max(0, max_bytes)].decode("utf-8", errors="ignore")


def _shorten(text: str, max_bytes: int) -> str:
    """Cut ``text`` to ``max_bytes`` of UTF-8, at a line or word end where one is near."""
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    ellipsis = "…"
    cut = _utf8_prefix(text, max_bytes - len(ellipsis.encode("utf-8")))
    for mark in ("\n", " "):
        position = cut.rfind(mark)
        if position >= len(cut) * 0.8:
            cut = cut[:position]
            break
    return cut.rstrip() + ellipsis if cut.strip() else ""


def _fit_chapters(found: list[Chapter], duration: float, max_bytes: int) -> list[Chapter]:
    result = [
        Chapter(start=c.start, title=_clean_title(c.title, "…")[:_CHAPTER_TITLE_CHARS])
        for c in found
    ]
    while result and len(chapters_text(result).encode("utf-8")) > max_bytes:
        if len(result) <= 3:
            return []
        ends = [c.start for c in result[1:]] + [duration]
        shortest = min(range(1, len(result)), key=lambda i: ends[i] - result[i].start)
        del result[shortest]
    return result


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.translate(_ANGLES).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _tags(template: Template, facts: Mapping[str, Any], variables: Mapping[str, Any]) -> list[str]:
    # A template saved before MAX_TAGS existed may hold more. Only the template's own tags are
    # templates; tags that come with the recording are plain text.
    raw = [(tag, "{" in tag) for tag in template.tags[:MAX_TAGS]]
    extra = facts.get("tags")
    if isinstance(extra, list | tuple):
        raw.extend((str(t), False) for t in extra[:MAX_TAGS])
    result: list[str] = []
    seen: set[str] = set()
    used = 0
    for tag, is_template in raw:
        if is_template:
            tag = render(tag, variables, max_output=MAX_TAGS_CHARS)
        tag = " ".join(tag.replace("<", " ").replace(">", " ").replace(",", " ").split())
        if not tag or tag.casefold() in seen:
            continue
        # YouTube counts quotes around tags with spaces and the commas between tags.
        cost = len(tag) + (2 if " " in tag else 0) + (1 if result else 0)
        if used + cost > MAX_TAGS_CHARS:
            continue
        used += cost
        seen.add(tag.casefold())
        result.append(tag)
    return result


def compose_metadata(
    template: Template, facts: Mapping[str, Any], topics: Topics, duration: float
) -> Metadata:
    """Title, description, tags and chapters for one recording, within YouTube's limits.

    ``facts`` may hold ``title`` (the original title), ``date`` (a date, datetime or
    ISO string, formatted with the template's ``date_format``), ``lecturer``,
    ``course`` and ``tags`` (extra tags); every other key is passed to the
    templates as a variable too.

    The chapter list is part of the description: where the template puts
    ``{{ chapters }}``, or appended at the end when it does not; with fewer chapters than
    YouTube shows, the description has no chapter list (``chapters`` still holds them for
    the platforms that take any number). Raises
    TemplateError when the template cannot be rendered, TemplateTooCostly when
    title, description and tags together exceed the one budget of a composition.

    This runs in the calling thread: the bot and the workers call it through
    `pipeline.template_runner`, which runs it in a child process.
    """
    found = _fit_chapters(chapters(topics, duration), duration, MAX_DESCRIPTION_BYTES // 2)
    # The description is what YouTube gets: a list it would not show is left out, not padded.
    chapter_block = chapters_text(youtube_chapters(found))
    original_title = str(facts.get("title") or "").strip()
    variables: dict[str, Any] = {k: v for k, v in facts.items() if isinstance(k, str)}
    variables.update(
        title=original_title,
        date=_format_date(facts.get("date"), template.date_format),
        duration=format_tc(duration, always_hours=True),
        summary=topics.summary,
        chapters=chapter_block,
        lecturer=facts.get("lecturer") or "",
        course=facts.get("course") or "",
    )

    with spending(Budget(MAX_OPERATIONS, RENDER_SECONDS)):
        title = _clean_title(
            render(template.title_template, variables, max_output=1000),
            _clean_title(original_title, "") or "Lecture",
        )
        description = _compose_description(template, variables, chapter_block)
        tags = _tags(template, facts, variables)
    return Metadata(title=title, description=description, tags=tags, chapters=found)


def _compose_description(template: Template, variables: dict[str, Any], chapter_block: str) -> str:
    if not chapter_block:
        text = _tidy(render(template.description_template, variables))
        return _shorten(text, MAX_DESCRIPTION_BYTES)
    # Render with a marker where the chapters go, so the text around them can be
    # shortened while the chapter list stays whole.
    text = _tidy(render(template.description_template, {**variables, "chapters": _MARKER}))
    if _MARKER in text:
        before, _, after = text.partition(_MARKER)
    else:
        before, after = text, ""
    before = _MARKER_TRACES.sub("", before).rstrip()
    after = _MARKER_TRACES.sub("", after).lstrip()
    block_bytes = len(chapter_block.encode("utf-8"))
    room = MAX_DESCRIPTION_BYTES - block_bytes - (2 if before else 0) - (2 if after else 0)
    after = _shorten(after, max(0, room - len(before.encode("utf-8"))))
    if not after:
        room = MAX_DESCRIPTION_BYTES - block_bytes - (2 if before else 0)
    before = _shorten(before, max(0, room - len(after.encode("utf-8"))))
    parts = [part for part in (before, chapter_block, after) if part]
    return "\n\n".join(parts)
