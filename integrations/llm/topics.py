"""Topics of a whole lecture: the map over windows, the reduce, the fallbacks.

Rules it keeps:

- Map: each window of the transcript is asked for its own topics, at most ``concurrency``
  at once; the first failure cancels the others and is raised. A window's times are kept
  inside the window.
- A lecture of one window needs no reduce: its answer is the result.
- Reduce: one more request reads the windows' results only and writes the final summary and
  topics, snapped to the windows' times. When that answer is unusable even after the repair
  round, or has no topics, the windows' results are merged in order instead: the windows
  were good, so the lecture still gets its chapters. An empty final summary is replaced by
  the windows' summaries joined; the windows' breaks are always kept.
- The summary is checked last (`integrations.llm.summary`): one repair request when it is
  empty, too long or in another language, then none.
- Key terms, when given, end every system prompt (map, reduce, summary repair).
- Every result goes through :func:`pipeline.topics.normalize`: times clamped into the
  video, duplicates folded, order enforced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from openai import AsyncOpenAI

from integrations import ai_retry
from integrations.ai_retry import Backoff
from integrations.llm.chat import INVALID_JSON, Chat, TopicsError
from integrations.llm.prompts import (
    MAP_SYSTEM,
    REDUCE_SYSTEM,
    SHAPE,
    Window,
    cut_windows,
    language_name,
    map_request,
    reduce_request,
    terms_note,
)
from integrations.llm.reply import clamped, joined_summary, merged, snapped
from integrations.llm.summary import checked_summary
from pipeline.topics import Topics, normalize
from pipeline.transcript import Transcript

log = logging.getLogger(__name__)


async def extract_topics(
    transcript: Transcript,
    duration: float,
    *,
    base_url: str,
    api_key: str | None,
    model: str,
    language: str,
    granularity: str = "normal",
    max_chars_per_window: int = 24_000,
    concurrency: int = 3,
    max_attempts: int = 5,
    backoff_base: float = 1.0,
    backoff_cap: float = 60.0,
    timeout: float = 180.0,
    temperature: float = 0.2,
    client_factory: Callable[[], AsyncOpenAI] | None = None,
    terms: Sequence[str] = (),
) -> Topics:
    """The lecture's summary, topics (with subtopics) and breaks, normalized to ``duration``.

    ``client_factory`` makes the client (the default is ``AsyncOpenAI`` on
    ``base_url`` with ``api_key``, SDK retries off); the client is closed when done.
    ``granularity`` ("fewer", "normal", "more") scales how many topics are asked for.
    Raises :class:`TopicsError`.
    """
    windows = cut_windows(transcript, duration, max(200, max_chars_per_window))
    if not windows:
        return normalize(Topics(), duration)

    def default_client() -> AsyncOpenAI:
        return ai_retry.client(base_url, api_key, timeout)

    language_named = language_name(language)
    note = terms_note(terms)

    async with (client_factory or default_client)() as client:
        chat = Chat(
            client,
            model=model,
            temperature=temperature,
            backoff=Backoff(max_attempts=max_attempts, base=backoff_base, cap=backoff_cap),
        )
        found = await _lecture_topics(
            chat, windows, duration, granularity, language_named, concurrency, note
        )
        return await checked_summary(chat, found, language, language_named, note)


async def _lecture_topics(
    chat: Chat,
    windows: list[Window],
    duration: float,
    granularity: str,
    language_named: str,
    concurrency: int,
    note: str = "",
) -> Topics:
    """The map over the windows and, for more than one, the reduce."""
    map_system = MAP_SYSTEM.format(shape=SHAPE, language=language_named) + note
    gate = asyncio.Semaphore(max(1, concurrency))

    async def read(index: int) -> Topics:
        async with gate:
            found = await chat.topics(
                map_system, map_request(index, windows, duration, granularity)
            )
        return clamped(found, windows[index].start, windows[index].end)

    parts: list[Topics] = await ai_retry.gather_all([read(i) for i in range(len(windows))])
    if len(parts) == 1:
        return normalize(parts[0], duration)

    candidates = sorted(
        {t.start for p in parts for t in p.topics}
        | {s.start for p in parts for t in p.topics for s in t.subtopics}
    )
    reduce_system = REDUCE_SYSTEM.format(shape=SHAPE, language=language_named) + note
    user = reduce_request(duration, windows, parts, granularity)
    try:
        final = snapped(await chat.topics(reduce_system, user), candidates)
    except TopicsError as exc:
        if exc.code != INVALID_JSON:
            raise
        log.warning("reduce answer unusable (%s); merging the parts in order", exc.detail)
        return normalize(merged(parts), duration)
    if not final.topics:
        log.warning("reduce answer had no topics; merging the parts in order")
        return normalize(merged(parts), duration)
    if not final.summary.strip():
        final = final.model_copy(update={"summary": joined_summary([p.summary for p in parts])})
    # Breaks are facts about pauses the windows saw; normalize merges the overlaps.
    breaks = [*final.breaks, *(b for p in parts for b in p.breaks)]
    return normalize(final.model_copy(update={"breaks": breaks}), duration)
