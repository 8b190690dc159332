"""`Platform`: everything the publishing machinery knows about one place to publish.

Each platform module (youtube, vk, telegram, export) exports one `Platform` record; the
registry collects them, and every table the rest of the code reads (the platforms in order,
the connection each needs, the time a job may take, which need a picture) is derived from these
records alone. A new platform is one module with its record, added to the registry.

The record holds no state: a publisher is a coroutine that takes a `Target`, publishes, and
returns the link to show (None for a file sent into the chat). It saves what the platform
hands out before sending anything, as the record's `resume` model (jobs.publish.resume), so a
later try continues instead of publishing twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from jobs.publish.resume import Resume
from jobs.publish.target import Target

Publisher = Callable[[Target], Awaitable[str | None]]


@dataclass(frozen=True)
class Platform:
    """One place to publish: its name, its connection, its job's time limit, its publisher."""

    name: str
    # The kind of connection (credential provider) it publishes through; None needs none.
    provider: str | None
    # Seconds arq lets one publish job of this platform run.
    timeout: int
    # Whether it shows a picture: sound alone cannot be published there.
    needs_picture: bool
    publish: Publisher
    # The shape of the row's ``resume`` column for this platform.
    resume: type[Resume]

    @property
    def job_name(self) -> str:
        """The arq function that publishes here (``publish_youtube``, ...)."""
        return f"publish_{self.name}"

    def load_resume(self, stored: dict[str, Any] | None) -> Resume | None:
        """A row's ``resume`` column read as this platform's state; None when it holds none."""
        return None if stored is None else self.resume.model_validate(stored)
