"""What goes wrong while publishing, as the publish jobs tell it apart.

A platform module raises one of these; the job (jobs.publish.run) decides what it means:
`Transient` is tried again later with a growing delay, `Reconnect` marks the connection broken
and asks the chat to sign in again, `PublishFailure` fails that platform alone with a reason the
person can read (its `code` names a ``publish.error.*`` message). `PlatformRefused` is the
request's answer when a platform cannot take the recording at all, raised before anything is
written.
"""

from __future__ import annotations

from typing import Any


class PublishFailure(Exception):
    """A platform cannot publish this recording; `code` names a ``publish.error.*`` message."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


class Transient(Exception):
    """Worth another try later (network, 5xx, rate limits)."""


class Reconnect(Exception):
    """The platform no longer accepts the stored grant: the account must be connected again."""


class PlatformRefused(ValueError):
    """Publishing was asked for on platforms that cannot take the recording (sound only)."""

    def __init__(self, recording_id: int, platforms: list[str]) -> None:
        super().__init__(
            f"recording {recording_id} is sound only; {', '.join(platforms)} need a picture"
        )
        self.platforms = platforms
