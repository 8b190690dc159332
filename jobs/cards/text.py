"""The HTML every card is written in, kept inside what Telegram accepts.

- Cards are Telegram HTML: whatever a person or a file named (a title, a caption, a reason
  from an outside service) is escaped before it is shown, and a shortened line never cuts a
  tag or an entity in half (`clip`, `safe`).
- A whole card stays under `MAX_TEXT`: `fit` drops lines from the end and says so with "…".
- A recording is called by `jobs.publish.metadata.display_name` everywhere, in the cards
  as on the platforms: the title a person gave it on the card, else its caption, else its
  file or page name, at most 80 characters.
"""

from __future__ import annotations

import html
import re

# Telegram refuses longer texts; stay well inside so entities never tip it over.
MAX_TEXT = 4000
_LINE = 600
# A tag of a line's markup, taken off to read or shorten its plain text.
TAG = re.compile(r"<[^>]*>")


def clip(line: str, limit: int = _LINE) -> str:
    """Shorten an HTML line without cutting a tag or an entity in half."""
    if len(line) <= limit:
        return line
    plain = html.unescape(TAG.sub("", line))
    return html.escape(plain[: limit - 1]) + "…"


def safe(text: str) -> str:
    """Text that may or may not hold markup, made safe to show as HTML."""
    return html.escape(html.unescape(TAG.sub("", text)))


def fit(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    lines = text.split("\n")
    while len("\n".join(lines)) > MAX_TEXT - 2 and len(lines) > 1:
        lines.pop()
    return "\n".join([*lines, "…"])
