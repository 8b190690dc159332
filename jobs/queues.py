"""Queue names, which stage runs where, and the job ids that make enqueueing idempotent."""

from __future__ import annotations

from jobs import keys

MEDIA = keys.MEDIA_QUEUE
IO = keys.IO_QUEUE
QUEUES = {"media": MEDIA, "io": IO}

# The order of the pipeline; a stage runs only once every stage before it is done.
PIPELINE = ("fetch", "trim", "transcribe", "topics", "subtitles", "compose")

STAGE_QUEUE = {
    "fetch": IO,
    "trim": MEDIA,
    "transcribe": MEDIA,
    "topics": IO,
    "subtitles": MEDIA,
    "compose": IO,
}


def job_id(recording_id: int, stage: str) -> str:
    return f"rec:{recording_id}:{stage}"


def translate_job_id(recording_id: int, language: str) -> str:
    """The subtitle translation of one recording into one language: one job at a time."""
    return f"rec:{recording_id}:translate:{language}"
