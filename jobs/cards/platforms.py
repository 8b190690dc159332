"""Which platforms a review card offers and which it has chosen, and the review's state.

- The card offers the connected platforms this recording can go to (the local export always
  counts as connected; sound alone skips YouTube and VK).
- What is chosen at first: the template's platforms, else the workspace's defaults, else
  every connected one. A person's toggles are kept in the review state and shown only where
  the platform is still offered.
- Publishing on its own (a template's or workspace's auto-publish) is held when a platform
  it names cannot take a sound-only recording and none of the named ones is left: going
  elsewhere by itself would surprise whoever named them.
- The review state lives on the recording (``media["review"]``: chosen platforms, the card's
  message id, a title or description a person wrote) and is replaced, never edited in place,
  so the JSON column sees the change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jobs.publish.registry import PLATFORMS, PROVIDERS
from jobs.publish.request import platforms_for
from locales import gettext
from storage import repo
from storage.models import Recording, Workspace


def review_state(recording: Recording) -> dict[str, Any]:
    return dict(recording.media.get("review") or {})


def set_review_state(recording: Recording, **changes: Any) -> None:
    # A new dict, so SQLAlchemy sees the JSON column change.
    recording.media = {**recording.media, "review": {**review_state(recording), **changes}}


async def connected_platforms(session: AsyncSession, workspace_id: int) -> list[str]:
    providers = {c.provider for c in await repo.credentials(session, workspace_id)}
    return [p for p in PLATFORMS if p == "export" or PROVIDERS.get(p) in providers]


async def offered_platforms(session: AsyncSession, recording: Recording) -> list[str]:
    """The connected platforms this recording can go to: sound alone skips YouTube and VK."""
    usable = platforms_for(recording)
    return [p for p in await connected_platforms(session, recording.workspace_id) if p in usable]


def default_platforms(
    recording: Recording, workspace: Workspace | None, connected: list[str]
) -> list[str]:
    """The template's platforms, else the workspace's defaults, else every connected one."""
    for wanted in _named_platforms(recording, workspace):
        chosen = [p for p in connected if p in wanted]
        if chosen:
            return chosen
    return list(connected)


def _named_platforms(recording: Recording, workspace: Workspace | None) -> list[list[str]]:
    """The platforms the template names, then those the workspace's settings name."""
    template = recording.media.get("compose", {}).get("platforms") or []
    defaults = (workspace.settings or {}).get("platforms") if workspace is not None else None
    return [list(template), list(defaults or [])]


def lost_for_sound(
    recording: Recording, workspace: Workspace | None, chosen: list[str]
) -> list[str]:
    """Platforms named for publishing that a sound-only recording cannot go to, when none of
    the named ones is left: publishing by itself elsewhere would surprise whoever named them."""
    named = next((n for n in _named_platforms(recording, workspace) if n), [])
    if any(p in chosen for p in named):
        return []
    usable = platforms_for(recording)
    return [p for p in named if p not in usable]


def selected_platforms(recording: Recording, connected: list[str]) -> list[str]:
    chosen = review_state(recording).get("platforms") or []
    return [p for p in connected if p in chosen]


def platform_name(lang: str, platform: str) -> str:
    key = f"review.platform_{platform}"
    text = gettext(lang, key)
    return platform if text == key else text
