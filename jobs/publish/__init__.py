"""Publishing: one ``publish_<platform>`` job per target, run in parallel, each with its status.

A reviewed recording goes to YouTube, VK, a Telegram channel and the local export, each
platform on its own: its own Publication row (one per recording and platform), its own arq job
on the io queue, its own line in the chat and its own outcome. The modules, from the bottom:

- `errors`: what goes wrong, as the jobs tell it apart.
- `metadata`: the title, description and file names made from compose's metadata.json.
- `resume`: each platform's resume state, the typed content of a row's ``resume`` column.
- `target`: `Target`, one job's view of its recording, and how it stores what it made.
- `spec`: `Platform`, the record each platform module exports.
- `youtube`, `vk`, `telegram`, `export` (with `sending`, the Bot API's send-once rule): the
  platforms, one module each.
- `registry`: the platforms in order and every per-platform table, derived from the records.
- `outcome`: the per-platform progress lines and outcome lines, and the links message.
- `request`: asking for publication (`request_publication`, `platforms_for`).
- `run`: the arq job functions, the faults, and the end of publishing.

The rules every module keeps:

- Never twice: whatever a platform hands out (a remote id, a resumable session, an upload
  address) is stored before any byte is sent and long before the row is marked done; a job
  that finds it continues from it instead of starting over. A send that cannot be made
  idempotent is marked first and never repeated without the person asking.
- The database is the truth: progress lines live in Redis only so processes draw the same
  picture, and nothing is lost when they are.
- Only `run` draws on the chat's cards, and only the worker's functions and recovery import
  it: jobs.cards and jobs.control import the other modules (registry, outcome, request,
  metadata) without a cycle. This package re-exports the names other code uses; `run` is not
  among them.
"""

from __future__ import annotations

from jobs.publish.errors import PlatformRefused, PublishFailure, Reconnect, Transient
from jobs.publish.metadata import (
    ARCHIVE_TEXT,
    archive_name,
    description_text,
    is_audio_only,
    read_metadata,
)
from jobs.publish.outcome import links_message, outcome_line, outcome_lines
from jobs.publish.registry import (
    BY_NAME,
    NEEDS_PICTURE,
    PLATFORMS,
    PROVIDERS,
    REGISTRY,
    TIMEOUTS,
)
from jobs.publish.request import platforms_for, publish_job_id, request_publication
from jobs.publish.resume import (
    ExportResume,
    Resume,
    SendingResume,
    TelegramResume,
    VKResume,
    YouTubeResume,
)
from jobs.publish.sending import upload_limit
from jobs.publish.spec import Platform, Publisher
from jobs.publish.target import Target

__all__ = [
    "ARCHIVE_TEXT",
    "BY_NAME",
    "NEEDS_PICTURE",
    "PLATFORMS",
    "PROVIDERS",
    "REGISTRY",
    "TIMEOUTS",
    "ExportResume",
    "Platform",
    "PlatformRefused",
    "PublishFailure",
    "Publisher",
    "Reconnect",
    "Resume",
    "SendingResume",
    "Target",
    "TelegramResume",
    "Transient",
    "VKResume",
    "YouTubeResume",
    "archive_name",
    "description_text",
    "is_audio_only",
    "links_message",
    "outcome_line",
    "outcome_lines",
    "platforms_for",
    "publish_job_id",
    "read_metadata",
    "request_publication",
    "upload_limit",
]
