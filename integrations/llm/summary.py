"""The lecture's summary checked: said, short enough, and in the lecture's language.

Rules it keeps:

- A summary is usable when it is not empty, holds at most :data:`MAX_SUMMARY_CHARS`
  characters and is written in the script of the transcript's language (Cyrillic for
  Russian and its neighbours, Latin for English and the other Latin-script languages; a
  language of another script is taken as it is).
- An unusable summary gets one repair request, which shows the model what was wrong and the
  lecture's topics; when that answer is unusable too, the lecture has no summary (an empty
  one) and whoever shows it says so. Its topics are kept either way.
"""

from __future__ import annotations

import json
import logging

from integrations.llm.chat import Chat, TopicsError
from pipeline.topics import Topics

log = logging.getLogger(__name__)

MAX_SUMMARY_CHARS = 1000
# Most of a summary's letters must be of its language's script.
_SCRIPT_SHARE = 0.6
CYRILLIC = frozenset({"ru", "uk", "be", "kk", "bg", "sr", "mk"})
LATIN = frozenset({"en", "de", "fr", "es", "it", "pt", "pl", "tr", "uz", "nl", "cs"})

SUMMARY_SYSTEM = """You write the summary of a lecture for the description of its video.

Answer with one JSON object and nothing else, in this shape:
{{"summary": "..."}}

Rules:
- Three to five sentences in {language} on what the lecture covers.
- At most {limit} characters, plain text, no lists or times."""


def summary_problem(summary: str, language: str) -> str | None:
    """What makes ``summary`` unusable for a lecture in ``language``; None when it is fine."""
    text = summary.strip()
    if not text:
        return "the summary is empty"
    if len(text) > MAX_SUMMARY_CHARS:
        return f"the summary is longer than {MAX_SUMMARY_CHARS} characters"
    code = language.split("-")[0].lower()
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "the summary has no words"
    cyrillic = sum(1 for c in letters if "\u0400" <= c <= "\u04ff") / len(letters)
    latin = sum(1 for c in letters if c.isascii()) / len(letters)
    if code in CYRILLIC and cyrillic < _SCRIPT_SHARE:
        return "the summary is not in the language of the lecture"
    if code in LATIN and latin < _SCRIPT_SHARE:
        return "the summary is not in the language of the lecture"
    return None


async def checked_summary(
    chat: Chat, found: Topics, language: str, language_named: str, note: str = ""
) -> Topics:
    """``found`` with a usable summary: its own, a repaired one, or none at all; ``note`` (the
    key terms' lines) ends the repair request's system prompt."""
    problem = summary_problem(found.summary, language)
    if problem is None:
        return found.model_copy(update={"summary": found.summary.strip()})
    log.info("summary unusable (%s); asking for it again", problem)
    system = SUMMARY_SYSTEM.format(language=language_named, limit=MAX_SUMMARY_CHARS) + note
    titles = "\n".join(f"- {t.title}" for t in found.topics[:40])
    user = (
        f"The summary written before cannot be used: {problem}. Write it again in "
        f"{language_named}.\n\nThe summary before:\n{found.summary.strip()[:2000] or '-'}\n\n"
        f"The lecture's topics:\n{titles or '-'}"
    )
    try:
        content = await chat.reply(system, user)
    except TopicsError as exc:
        log.warning("summary repair request failed (%s); no summary", exc.code)
        return found.model_copy(update={"summary": ""})
    summary = _read(content)
    problem = summary_problem(summary, language) if summary is not None else "not JSON"
    if summary is None or problem is not None:
        log.warning("summary still unusable after a repair request (%s); no summary", problem)
        return found.model_copy(update={"summary": ""})
    return found.model_copy(update={"summary": summary.strip()})


def _read(content: str | None) -> str | None:
    text = (content or "").strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return None
    summary = data.get("summary") if isinstance(data, dict) else None
    return summary if isinstance(summary, str) else None
