"""Where an unfinished publication picks up: the resume state of each platform, typed.

A Publication row's ``resume`` column holds one platform's state as JSON, validated by that
platform's model here; None means there is nothing to pick up.

- YouTube: the resumable upload session Google opened (``session_uri``). A try that finds it
  asks Google what it kept and sends the rest.
- VK: the upload address of the video slot VK made (``upload_url``); the slot's id is the row's
  remote id. A try that finds both sends the file to the same slot while VK still waits for it.
- Yandex Disk: the lecture's folder and the names of the files the Disk has taken
  (``folder``, ``done``). A try that finds them sends only the rest, each to its fixed path.
- Telegram channel and export: a send in flight (``sending``). The Bot API takes no idempotency
  key, so a try that finds it cannot know whether the message arrived and does not send again.

The rule every publisher keeps: the state is saved (in its own commit) before the first byte of
the upload goes out, and cleared only once the platform has answered.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Resume(BaseModel):
    """One platform's resume state, as the ``resume`` column stores it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class YouTubeResume(Resume):
    # The resumable upload session Google opened for the file.
    session_uri: str


class VKResume(Resume):
    # Where the video slot VK made takes its bytes.
    upload_url: str


class YandexDiskResume(Resume):
    # The lecture's folder, chosen once so that every try writes to the same place.
    folder: str
    # The files already there, by their names in the folder.
    done: list[str] = []


class SendingResume(Resume):
    """A Bot API send in flight: asked for, its answer not yet heard."""

    sending: bool


class TelegramResume(SendingResume):
    """The channel post in flight."""


class ExportResume(SendingResume):
    """The archive sent into the chat, in flight."""
