"""What the workers post in the chat: the progress message and its lines."""

from __future__ import annotations

import html

from jobs.context import WorkerDeps
from jobs.queues import PIPELINE
from locales import gettext
from storage.models import Recording


def render(recording: Recording, summaries: dict[str, str], current: str | None = None) -> str:
    lines = [
        gettext(recording.language, "progress.title", name=html.escape(display_name(recording)))
    ]
    lines += [summaries[s] for s in PIPELINE if s in summaries]
    if current:
        lines.append(current)
    return "\n".join(lines)


def display_name(recording: Recording) -> str:
    name = recording.source_name or f"#{recording.id}"
    return name if len(name) <= 80 else name[:77] + "…"


async def pipeline_finished(
    deps: WorkerDeps, recording: Recording, summaries: dict[str, str]
) -> None:
    """The last stage is done: show the final state of the progress message."""
    if recording.chat_id is None or recording.progress_message_id is None:
        return
    progress = deps.progress.message(recording.chat_id, recording.progress_message_id)
    progress.update(render(recording, summaries))
    await deps.progress.finish(recording.chat_id, recording.progress_message_id)
