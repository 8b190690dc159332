"""Topics with timecodes from any OpenAI-compatible chat API (DeepSeek, OpenAI, a local server).

The transcript goes to the model as ``[HH:MM:SS] text`` lines on the published
timeline, and the model answers one JSON object::

    {"summary": str,
     "topics": [{"start": "HH:MM:SS" | seconds, "title": str,
                 "subtopics": [{"start": ..., "title": str}]}],
     "breaks": [{"start": ..., "end": ...}]}

Long transcripts are cut into windows of at most ``max_chars_per_window``
characters at line boundaries, so a lecture of any length fits any context.

- Map: each window is asked for its own topics (about one per eight minutes of
  the window), concurrently. Times outside a window are pulled into it.
- Reduce: one more call reads only the windows' results (summaries and topic
  lists with their times, never the transcript) and writes the lecture's final
  summary and topic list. Its times are snapped to the window results' times
  when within ``reply.SNAP_SECONDS``, so the model cannot drift them. If the
  reduce answer is unusable even after the repair retry, the window results
  are merged deterministically instead (concatenated in order, then
  ``normalize`` folds repeats) and their summaries joined: the windows were
  good, so the lecture still gets its chapters.

An answer that is not JSON or not in the shape above gets one repair retry with
the error sent back; a second bad answer raises ``TopicsError("invalid_json")``.
Every result goes through :func:`pipeline.topics.normalize`: times clamped into
the video, duplicates folded, order enforced. 429/5xx, timeouts and dropped
connections are retried by :func:`integrations.ai_retry.with_retries` (growing
delays with jitter, honouring Retry-After), the loop speech-to-text uses too;
``TopicsError`` is the topics kind of :class:`integrations.ai_errors.AIServiceError`.

Where each rule lives: ``prompts`` (what the model is asked, the windows), ``reply``
(reading and checking answers, clamping, snapping, merging), ``chat`` (the error, the
retried requests, the repair round), ``topics`` (the map and the reduce).
"""

from integrations.llm.chat import (
    AUTH,
    BAD_REQUEST,
    CODES,
    INVALID_JSON,
    MODEL_MISSING,
    QUOTA,
    RATE_LIMITED,
    UNAVAILABLE,
    TopicsError,
)
from integrations.llm.prompts import topic_target
from integrations.llm.reply import parse_reply, parse_time
from integrations.llm.topics import extract_topics

__all__ = [
    "AUTH",
    "BAD_REQUEST",
    "CODES",
    "INVALID_JSON",
    "MODEL_MISSING",
    "QUOTA",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "TopicsError",
    "extract_topics",
    "parse_reply",
    "parse_time",
    "topic_target",
]
