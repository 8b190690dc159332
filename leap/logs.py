"""Logging set-up: one format, and no secret ever reaches a log line."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

from leap.settings import Settings

MASK = "***"

# Shapes of secrets that can show up in messages we do not write ourselves (library logs of
# request URLs, exception texts): Telegram bot tokens, bearer tokens, OAuth query parameters.
_PATTERNS = [
    re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{20,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|id_token|client_secret|code_verifier|api_key|password)"
        r"[\"']?\s*[=:]\s*[\"']?)[^\s&\"',}]{6,}"
    ),
    re.compile(r"([?&]code=)[^&\s\"']+"),
]

_lock = threading.Lock()
_known: set[str] = set()
_installed = False


def redact(text: str) -> str:
    for secret in sorted(_known, key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + MASK, text)
    return text


def remember_secrets(values: Iterable[str | None]) -> None:
    """Values to mask wherever they appear, e.g. keys read from the settings."""
    with _lock:
        _known.update(v for v in values if v and len(v) >= 6)


def settings_secrets(settings: Settings) -> list[str]:
    found: list[str] = []
    for value in settings.model_dump().values():
        if hasattr(value, "get_secret_value"):
            secret = value.get_secret_value()
            found.extend(part.strip() for part in str(secret).split(","))
    return found


def install_redaction() -> None:
    """Mask secrets in every log record as it is made, whichever handler then writes it."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:  # type: ignore[no-untyped-def]
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:
            return record
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)


def configure(settings: Settings, level: int = logging.INFO) -> None:
    install_redaction()
    remember_secrets(settings_secrets(settings))
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=False
    )
    # httpx logs every request URL at INFO; Telegram file URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
