"""Every Redis key and channel the bot and the workers use, spelled once.

Rules:
- Every key starts with ``leap:`` and is built here, nowhere else (a test looks for ``leap:``
  strings outside this module), so two modules that share a key cannot drift apart and an
  operator reading Redis finds each key's owner and lifetime in one place.
- Prefixes end in ``:`` and are followed by ids only; nothing a person typed becomes part of a
  key except through a hash or an id.
- arq's own keys (``arq:job:``, ``arq:in-progress:``…) are arq's: read where needed, never
  renamed; the two queue names are ours and live here too.
"""

from __future__ import annotations

# --- queues (arq reads these as list/zset names) -------------------------------------------

MEDIA_QUEUE = "leap:media"
IO_QUEUE = "leap:io"

# --- workers, leases and wake-ups (jobs.worker, jobs.recovery, jobs.arq_adapter) ------------

# A live worker's heartbeat, suffixed with its id.
WORKER = "leap:worker:"
# A running job's lease, suffixed with the arq job id.
LEASE = "leap:lease:"
# Pub/sub channel a queue's workers wait on, suffixed with the queue name.
WAKE = "leap:wake:"
# When Redis first saw the workers: a younger Redis lost its data, and running jobs get a
# lease period to show up before they count as lost.
EPOCH = "leap:epoch"
# A stage's count of recoveries from dead workers, suffixed with the job id.
RECOVERIES = "leap:recoveries:"


# --- chat: pacing, limits, conversations ---------------------------------------------------


def progress(chat_id: int, message_id: int) -> str:
    """When one progress message was last edited: shared by every process that edits it."""
    return f"leap:progress:{chat_id}:{message_id}"


THROTTLE_GUARD = "leap:throttle:guard"


def rate_user(user_id: int, window: str) -> str:
    return f"leap:rl:user:{user_id}:{window}"


def rate_workspace(workspace_id: int, window: str) -> str:
    return f"leap:rl:ws:{workspace_id}:{window}"


def conversation(chat_id: int, user_id: int) -> str:
    """The one "reply with…" prompt a person has open in a chat."""
    return f"leap:ask:{chat_id}:{user_id}"


def link_offer(chat_id: int, message_id: int) -> str:
    return f"leap:links:offer:{chat_id}:{message_id}"


def zoom_pick(workspace_id: int, key: str) -> str:
    return f"leap:zoom:pick:{workspace_id}:{key}"


# --- sign-ins ------------------------------------------------------------------------------


def oauth_state(provider: str, state: str) -> str:
    return f"leap:oauth:{provider}:{state}"


def oauth_confirm(key: str) -> str:
    return f"leap:oauth:confirm:{key}"


# --- quotas and publishing -----------------------------------------------------------------


def quota_turn(workspace_id: int) -> str:
    """Serialises quota checks of one workspace, so two uploads cannot both fit the last slot."""
    return f"leap:quota:{workspace_id}"


def publish_lines(recording_id: int) -> str:
    return f"leap:publish:lines:{recording_id}"


def publish_quota_notice(recording_id: int, reset_at: int) -> str:
    return f"leap:publish:quota:{recording_id}:{reset_at}"


def credential_lock(credential_id: int) -> str:
    """Held while a credential's tokens are refreshed: a single-use refresh token spent twice
    is revoked."""
    return f"leap:lock:credential:{credential_id}"


# --- Zoom sync -----------------------------------------------------------------------------


def zoom_sync_lock(workspace_id: int) -> str:
    return f"leap:zoom:sync:{workspace_id}"


def zoom_held_notice(workspace_id: int, recording_uuid: str) -> str:
    return f"leap:zoom:held:{workspace_id}:{recording_uuid}"


def zoom_dry_notice(workspace_id: int) -> str:
    return f"leap:zoom:dry:{workspace_id}"


def zoom_language_notice(workspace_id: int) -> str:
    return f"leap:zoom:language:{workspace_id}"


def zoom_refused_notice(credential_id: int) -> str:
    return f"leap:zoom:refused:{credential_id}"
