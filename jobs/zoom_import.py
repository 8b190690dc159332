"""A Zoom file becoming a recording, alike for a press in /zoom and for the scheduled sync.

- A workspace takes one recording per meeting: `jobs.admission` asks again in the workspace's
  turn, so a press and the sync (or two presses) never both import it.
- The facts templates match on and render with (title, date, source kind, account) are kept
  on the recording for the compose stage.
- Every import leaves a "zoom_import" trace in the audit log, saying whether a person or the
  sync made it.
"""

from __future__ import annotations

from typing import Any

from integrations.zoom import ZoomRecording, ref_prefix
from jobs.admission import NewRecording
from jobs.zoom_accounts import Pick
from storage.models import SourceKind, Workspace


def zoom_facts(recording: ZoomRecording, account: str) -> dict[str, Any]:
    """What templates match on and render with; kept on the recording for the compose stage."""
    return {
        "title": recording.topic,
        "date": recording.start_time.date().isoformat(),
        "source_kind": SourceKind.ZOOM.value,
        "account": account,
    }


def new_recording(
    workspace: Workspace,
    found: ZoomRecording,
    options: dict[str, Any],
    *,
    lang: str,
    chat_id: int,
    thread_id: int | None = None,
    created_by: int | None = None,
    **trace: Any,
) -> NewRecording:
    """The recording a Zoom file becomes; `trace` says in the audit log how it came."""
    assert found.file is not None
    return NewRecording(
        workspace=workspace,
        source_kind=SourceKind.ZOOM,
        source_ref=found.ref,
        source_name=found.topic,
        source_size=found.file.size or None,
        source_ext=found.file.extension or "mp4",
        language=lang,
        chat_id=chat_id,
        thread_id=thread_id,
        created_by=created_by,
        options=options,
        once_per=ref_prefix(found.uuid),
        audit=("zoom_import", {"meeting": found.uuid, "file": found.file.id, **trace}),
    )


def picked(
    workspace: Workspace,
    pick: Pick,
    *,
    lang: str,
    chat_id: int,
    thread_id: int | None,
    user_id: int,
) -> NewRecording:
    """The recording a press on a /zoom button asks for."""
    found = pick.recording
    options = {"zoom": pick.options, "facts": zoom_facts(found, pick.account)}
    return new_recording(
        workspace,
        found,
        options,
        lang=lang,
        chat_id=chat_id,
        thread_id=thread_id,
        created_by=user_id,
        automatic=False,
    )
