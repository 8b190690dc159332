"""Key terms of a workspace and of its templates: stored, changed, and gathered for a recording.

Rules it keeps:

- The workspace's list lives in its settings under :data:`SETTINGS_KEY`; a template's list is
  its body's ``terms`` field. Lists are cleaned as :mod:`pipeline.terms` says, whatever was
  stored.
- A recording is heard with the workspace's terms first, then those of the template it
  matches (the one compose used, when it ran before); the transcribe stage keeps the list it
  used in the recording's media (:data:`MEDIA_KEY`), and the topics stage gives the language
  model that same list, so a change in between never splits one lecture's vocabulary.
- Every change is audited and committed with its audit event; the settings are changed on
  what the database holds now (other settings are saved side by side).
- What fits the speech engine's prompt is told by :func:`speech_prompt` (an estimate the
  chat can show before any recording); the terms beyond it still go to the language model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from integrations.stt import vocabulary
from jobs import control
from jobs.facts import recording_facts
from pipeline.terms import (
    MAX_TERM_CHARS,
    MAX_TERMS,
    TermsError,
    clean_terms,
    merged,
    parse_terms,
)
from storage import repo
from storage.models import Recording, Workspace

__all__ = [
    "MAX_TERMS",
    "MAX_TERM_CHARS",
    "MEDIA_KEY",
    "SETTINGS_KEY",
    "TermsError",
    "parse_terms",
    "recording_terms",
    "replace_workspace_terms",
    "speech_prompt",
    "used_terms",
    "workspace_terms",
]

SETTINGS_KEY = "terms"
MEDIA_KEY = "vocabulary"


def workspace_terms(workspace: Workspace) -> list[str]:
    return clean_terms((workspace.settings or {}).get(SETTINGS_KEY))


async def replace_workspace_terms(
    session: AsyncSession, workspace: Workspace, user_id: int, terms: Sequence[str]
) -> list[str]:
    """Store ``terms`` as the workspace's list (empty clears it), audited and committed."""
    clean = clean_terms(list(terms))

    def change(settings: dict[str, Any]) -> None:
        if clean:
            settings[SETTINGS_KEY] = clean
        else:
            settings.pop(SETTINGS_KEY, None)

    await repo.update_workspace_settings(session, workspace, change)
    await repo.audit(
        session, workspace.id, user_id, "settings_changed", SETTINGS_KEY, value=len(clean)
    )
    await session.commit()
    return clean


async def recording_terms(session: AsyncSession, recording: Recording) -> list[str]:
    """The workspace's terms, then those of the template the recording matches."""
    workspace = await session.get(Workspace, recording.workspace_id)
    own = workspace_terms(workspace) if workspace is not None else []
    template = await control.matched_template(session, recording, recording_facts(recording))
    return merged(own, template.terms)


def used_terms(recording: Recording) -> list[str]:
    """The terms the recording's transcript was made with (none before it was made)."""
    return clean_terms((recording.media.get(MEDIA_KEY) or {}).get("terms"))


def speech_prompt(terms: Sequence[str]) -> vocabulary.Prompt:
    """What of ``terms`` fits the speech engine's prompt, counted as an API engine would."""
    return vocabulary.fit(terms)
