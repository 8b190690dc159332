"""What changing a workspace's publishing templates does, apart from the chat around it.

The bot's /templates handlers parse what a person sends and answer; the steps live here.

Rules:
- Every body is validated whole by `pipeline.templates.Template` before it is stored, and
  stored as the model's own dump, so a row always holds what the model accepts. A body that
  is no valid template raises pydantic's ValidationError, having stored nothing (the caller
  rolls back).
- A template is found by its name within the workspace: saving a body under a name that
  exists changes that row rather than adding a second one.
- Every change is audited with the template's id and name, and committed with its audit
  event; a deletion too.
- A preview renders in `pipeline.template_runner`'s child process on the newest recording
  with topics, never on the event loop; it raises TemplateError, or TemplateTooCostly when
  the template is too costly, like the compose stage.
- Template files are YAML or JSON; a file that is neither says where it breaks
  (TemplateFileError).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from jobs import control, files
from jobs.facts import recording_facts
from jobs.publish import PLATFORMS
from pipeline import template_runner, templates
from pipeline.templates.models import GRANULARITIES
from pipeline.topics import Topics
from storage import repo
from storage.files import MediaStore
from storage.models import Recording
from storage.models import Template as TemplateRow

__all__ = [
    "Preview",
    "TemplateFileError",
    "as_yaml",
    "changed_field",
    "delete",
    "find",
    "last_matched",
    "load_file",
    "name_taken",
    "new_body",
    "parsed",
    "preview",
    "save",
    "toggled",
]

# What one edit prompt changes; the bot maps its buttons onto these.
TITLE, DESCRIPTION, KEYWORDS, PRIORITY = "title", "description", "keywords", "priority"
# What one press of a card switch turns; the granularity goes round fewer → normal → more.
AUTO, ENABLED, PLATFORM, GRANULARITY = "auto", "enabled", "platform", "granularity"


class TemplateFileError(ValueError):
    """A template file that is no YAML or JSON mapping; the message says where it breaks."""

    def __init__(self, reason: str, *, not_a_mapping: bool = False) -> None:
        super().__init__(reason)
        self.not_a_mapping = not_a_mapping


def parsed(row: TemplateRow) -> templates.Template | None:
    """The stored body as a template; None when it no longer validates."""
    try:
        return templates.Template.model_validate(row.body)
    except ValidationError:
        return None


async def save(
    session: AsyncSession,
    workspace_id: int,
    user_id: int,
    body: Mapping[str, Any],
    row: TemplateRow | None,
    action: str,
) -> TemplateRow:
    """Validate and store a template body; raises ValidationError with what is wrong."""
    template = templates.Template.model_validate(body)
    clean = template.model_dump(mode="json")
    if row is None:
        row = next(
            (r for r in await repo.templates(session, workspace_id) if r.name == template.name),
            None,
        )
    if row is None:
        row = TemplateRow(workspace_id=workspace_id, name=template.name)
        session.add(row)
    row.name = template.name
    row.priority = template.priority
    row.body = clean
    await session.flush()
    await repo.audit(session, workspace_id, user_id, action, f"template:{row.id}", name=row.name)
    await session.commit()
    return row


async def delete(session: AsyncSession, workspace_id: int, user_id: int, row: TemplateRow) -> None:
    await repo.audit(
        session, workspace_id, user_id, "template_deleted", f"template:{row.id}", name=row.name
    )
    await session.delete(row)
    await session.commit()


async def name_taken(session: AsyncSession, workspace_id: int, name: str) -> bool:
    return any(r.name == name for r in await repo.templates(session, workspace_id))


async def find(session: AsyncSession, workspace_id: int, template_id: int) -> TemplateRow | None:
    return next(
        (r for r in await repo.templates(session, workspace_id) if r.id == template_id), None
    )


def new_body(
    name: str, keywords: list[str], title: str | None, description: str | None
) -> dict[str, Any]:
    """A new template from the creation dialogue; an answer not given keeps the default."""
    body: dict[str, Any] = {"name": name, "match": {"keywords_any": keywords}}
    if title is not None:
        body["title_template"] = title
    if description is not None:
        body["description_template"] = description
    return body


def changed_field(
    body: Mapping[str, Any], field: str, value: str | list[str] | int
) -> dict[str, Any]:
    """``body`` with one field changed by an edit prompt; "-" puts back a default text."""
    changed = dict(body)
    if field == TITLE:
        changed["title_template"] = templates.DEFAULT_TITLE_TEMPLATE if value == "-" else value
    elif field == DESCRIPTION:
        changed["description_template"] = (
            templates.DEFAULT_DESCRIPTION_TEMPLATE if value == "-" else value
        )
    elif field == KEYWORDS:
        changed["match"] = {**dict(changed.get("match") or {}), "keywords_any": value}
    elif field == PRIORITY:
        changed["priority"] = value
    else:
        raise ValueError(f"no such template field: {field}")
    return changed


def toggled(body: Mapping[str, Any], switch: str, platform: str = "") -> dict[str, Any] | None:
    """``body`` with one switch of its card turned; None for a platform that does not exist."""
    changed = dict(body)
    if switch == AUTO:
        changed["auto_publish"] = not changed.get("auto_publish", False)
    elif switch == ENABLED:
        changed["enabled"] = not changed.get("enabled", True)
    elif switch == GRANULARITY:
        order = GRANULARITIES
        current = changed.get("granularity")
        at = order.index(current) if current in order else order.index("normal")
        changed["granularity"] = order[(at + 1) % len(order)]
    else:
        if platform not in PLATFORMS:
            return None
        chosen = list(changed.get("platforms") or [])
        chosen = [p for p in chosen if p != platform] if platform in chosen else [*chosen, platform]
        changed["platforms"] = [p for p in PLATFORMS if p in chosen]
    return changed


def load_file(file_name: str, raw: bytes) -> dict[str, Any]:
    """The body a template file holds: JSON when it is named so, else YAML."""
    try:
        text = raw.decode("utf-8-sig")
        if file_name.lower().endswith(".json"):
            body = json.loads(text)
        else:
            body = yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise TemplateFileError(_parse_error(exc)) from None
    if not isinstance(body, dict):
        raise TemplateFileError("not a mapping", not_a_mapping=True)
    return body


def _parse_error(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {getattr(exc, 'problem', exc)}"
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    return str(exc)


def as_yaml(row: TemplateRow) -> tuple[str, bytes]:
    """A template as a YAML file: its file name and contents."""
    text = yaml.safe_dump(row.body, allow_unicode=True, sort_keys=False)
    name = re.sub(r"[^\w.-]+", "_", row.name)[:60] or f"template-{row.id}"
    return f"{name}.yaml", text.encode("utf-8")


async def last_matched(session: AsyncSession, workspace_id: int, name: str) -> Recording | None:
    """The newest of the latest recordings that the template named ``name`` was used for."""
    for recording in await repo.list_recordings(session, workspace_id, limit=50):
        if recording.media.get("compose", {}).get("template") == name:
            return recording
    return None


@dataclass(frozen=True)
class Preview:
    """A preview: the recording it was made on, and what the template made of it."""

    recording: Recording
    metadata: templates.Metadata


async def preview(
    session: AsyncSession, workspace_id: int, store: MediaStore, template: templates.Template
) -> Preview | None:
    """What ``template`` makes of the newest recording with topics; None when there is none.

    Raises TemplateTooCostly or TemplateError as the compose stage would.
    """
    found = await _latest_processed(session, workspace_id, store)
    if found is None:
        return None
    recording, topics = found
    metadata = await template_runner.compose_metadata(
        template, recording_facts(recording), topics, control.video_duration(recording)
    )
    return Preview(recording, metadata)


async def _latest_processed(
    session: AsyncSession, workspace_id: int, store: MediaStore
) -> tuple[Recording, Topics] | None:
    for recording in await repo.list_recordings(session, workspace_id, limit=20):
        # With media in a bucket the topics may exist only there (made on a worker elsewhere).
        path = await store.fetch(workspace_id, recording.id, files.TOPICS)
        if not path.is_file():
            continue
        try:
            return recording, Topics.load_json(path)
        except (OSError, ValueError):
            continue
    return None
