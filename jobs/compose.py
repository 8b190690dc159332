"""The compose stage: pick the template, write title and description with chapters, thumbnail.

The workspace's template is a person's text: it renders in `pipeline.template_runner`'s child
process, so a costly one cannot stall the worker's event loop (the bot's too, under `leap run`).
A template that is too costly fails the stage with a message saying so; one that cannot render
fails it with the renderer's reason. Either way the person can change it and try again.

When the stage runs again for a recording under review (its chapters made again), the title
and description the person wrote on the card stay theirs: they go in as variables, as the
card's own edits compose them.
"""

from __future__ import annotations

import asyncio
import html
import logging
from datetime import UTC, datetime
from pathlib import Path

from jobs import files
from jobs.facts import recording_facts
from jobs.runner import StageFailure, StageJob, stage
from pipeline import presets, questions, template_runner, templates
from pipeline.thumbnail import extract_frame
from pipeline.topics import Topics
from pipeline.transcript import Transcript
from storage import repo
from storage.models import Recording, Workspace

log = logging.getLogger(__name__)


@stage("compose")
async def compose(job: StageJob) -> None:
    recording = job.recording
    folder = job.deps.store.recording_dir(recording.workspace_id, recording.id)
    found = Topics.load_json(folder / files.TOPICS)
    duration = float(recording.media.get("trim", {}).get("duration") or 0.0)

    async with job.deps.sessions() as session:
        rows = await repo.templates(session, recording.workspace_id)
        # A template's publication time is read in the workspace's time zone, when it has one.
        owner = await session.get(Workspace, recording.workspace_id)
    zone_name = (owner.settings or {}).get("timezone") if owner is not None else None
    workspace_templates = []
    for row in rows:
        # A template saved before a rule it breaks existed is passed over, not fatal.
        try:
            workspace_templates.append(templates.Template.model_validate(row.body))
        except ValueError:
            log.warning("template %s of workspace %s is invalid", row.id, row.workspace_id)
    facts: dict[str, object] = dict(recording_facts(recording))
    template = _with_persons_texts(
        templates.match_template(workspace_templates, facts), facts, recording
    )
    facts["questions"] = questions.media_text(recording.media)
    try:
        metadata = await template_runner.compose_metadata(template, facts, found, duration)
    except templates.TemplateTooCostly as exc:
        raise StageFailure("template_too_costly", name=template.name) from exc
    except templates.TemplateError as exc:
        raise StageFailure("template_failed", name=template.name, reason=str(exc)) from exc

    thumbnail = folder / files.THUMBNAIL
    has_video = recording.media.get("source", {}).get("has_video", True)
    if has_video and not thumbnail.exists():
        await asyncio.to_thread(
            extract_frame, folder / files.VIDEO, min(duration * 0.1, 60.0), thumbnail
        )
    files.write_text(folder / files.METADATA, metadata.model_dump_json(indent=2))
    job.save(
        media={
            "compose": {
                "template": template.name,
                "title": metadata.title,
                "privacy": template.privacy,
                "playlist_id": template.playlist_id,
                "vk_album_id": template.vk_album_id,
                "language": template.language or found_language(folder),
                "platforms": list(template.platforms),
                "auto_publish": template.auto_publish,
                "quiz_channel": template.quiz_channel,
                **presets.template_options(template, datetime.now(UTC), zone_name),
            }
        }
    )
    job.summarize(job._("progress.compose_done", title=html.escape(metadata.title)))


def _with_persons_texts(
    template: templates.Template, facts: dict[str, object], recording: Recording
) -> templates.Template:
    review = recording.media.get("review") or {}
    changes: dict[str, str] = {}
    if review.get("title"):
        facts["custom_title"] = str(review["title"])
        changes["title_template"] = "{{ custom_title }}"
    if review.get("description"):
        facts["custom_description"] = str(review["description"])
        changes["description_template"] = "{{ custom_description }}\n\n{{ chapters }}"
    return template.model_copy(update=changes) if changes else template


def found_language(folder: Path) -> str | None:
    try:
        return Transcript.load_json(folder / files.TRANSCRIPT).language
    except (OSError, ValueError):
        return None
