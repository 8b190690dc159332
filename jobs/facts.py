"""What a recording is known by before anything is made of it: the facts templates match on.

- The facts come from what arrived, never from a stage's output: the title a link or a Zoom
  meeting carries, a file's name without its extension, the day it came, and whatever the
  caption said (``options["facts"]``). So matching a template, previewing one and composing
  the description all see the same facts.
- This module imports nothing of the stages: the cards, the control API and the compose
  stage all read it without a cycle.
"""

from __future__ import annotations

from pathlib import PurePath

from storage.models import Recording, SourceKind


def recording_facts(recording: Recording) -> dict[str, object]:
    name = recording.source_name or ""
    return {
        # Links and Zoom meetings are named by their titles; files by their names.
        "title": title_of(name) if recording.source_kind in FILES else name,
        "filename": name,
        "source_kind": recording.source_kind.value,
        "date": recording.created_at.date().isoformat() if recording.created_at else None,
        **{k: v for k, v in recording.options.get("facts", {}).items() if isinstance(k, str)},
    }


FILES = (SourceKind.TELEGRAM, SourceKind.LOCAL)


def title_of(name: str) -> str:
    """A file's name without its extension; only a short, plain suffix counts as one."""
    path = PurePath(name)
    suffix = path.suffix.lstrip(".")
    if suffix and len(suffix) <= 5 and suffix.isalnum() and not suffix.isdigit():
        return path.stem or name
    return name
