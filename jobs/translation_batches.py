"""The batches of a subtitle translation, kept on disk as they come back from the model.

Rules it keeps:

- A run that dies (its worker killed, or the model failing on one batch) loses only the
  batches that were in flight: the next run of the same translation asks for the others only.
- One file per target language beside the subtitles (``subtitles.<lang>.batches.json``,
  the language one of `pipeline.translation.TARGETS`), written through a temporary name.
- Batches are reused only for the same input: the file carries a digest of the subtitles'
  text, both languages, the model and the batch size, and any other file is ignored.
- The file is removed once the translated subtitles are written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from jobs import files

log = logging.getLogger(__name__)


class KeptBatches:
    """The finished batches of one translation of one recording's subtitles."""

    def __init__(self, folder: Path, target: str, *parts: str) -> None:
        self.path = folder / f"subtitles.{target}.batches.json"
        self.key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
        self.batches: dict[int, list[str]] = {}

    def load(self) -> dict[int, list[str]]:
        """What an earlier run of the same translation finished (nothing for other input)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("key") != self.key:
            return {}
        found = data.get("batches")
        if not isinstance(found, dict):
            return {}
        self.batches = {
            int(index): [str(t) for t in texts]
            for index, texts in found.items()
            if str(index).isdigit() and isinstance(texts, list)
        }
        if self.batches:
            log.info("%s: %d batches kept from an earlier run", self.path.name, len(self.batches))
        return dict(self.batches)

    def add(self, index: int, texts: list[str]) -> None:
        self.batches[index] = list(texts)
        body = {"key": self.key, "batches": {str(i): t for i, t in sorted(self.batches.items())}}
        try:
            files.write_text(self.path, json.dumps(body, ensure_ascii=False))
        except OSError as exc:
            # Only a later run's saving is lost; this one goes on.
            log.warning("%s not kept: %s", self.path.name, exc)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
