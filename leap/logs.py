"""Logging set-up: one format, no secret ever reaches a log line, and every line a job logs
says which recording it is about.

A job binds its recording (and stage) with `log_context`; the binding lives in a contextvar,
so everything the job awaits, the tasks it starts and the threads it hands work to
(`asyncio.to_thread` copies the context) log under it. Each record carries the fields as
attributes (`recording_id`, `stage`, `job`); the text format shows them after the logger's
name, and `LOG_JSON=true` writes one JSON object per line.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from leap.settings import Settings

MASK = "***"

# Shapes of secrets that can show up in messages we do not write ourselves (library logs of
# request URLs, exception texts): Telegram bot tokens, bearer tokens, OAuth query parameters,
# passwords inside URLs (database, Redis, proxy), and the signature of an export download
# link, which is the whole of its protection (aiohttp's access log records the path).
_PATTERNS = [
    re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{20,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|id_token|client_secret|code_verifier|api_key|password)"
        r"[\"']?\s*[=:]\s*[\"']?)[^\s&\"',}]{6,}"
    ),
    re.compile(r"([?&]code=)[^&\s\"']+"),
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)"),
    # Everything after /export/: the ids may come percent-encoded or in another script's
    # digits, and the signature must not survive any spelling of them.
    re.compile(r"(/export/)[^\s\"'?#]+"),
    # A share page's token opens the recording to whoever holds it.
    re.compile(r"(/share/)[^\s\"'?#]+"),
]

_lock = threading.Lock()
_known: set[str] = set()
_installed = False
_context_installed = False

# What the running job is about; read into every record made while it is bound.
CONTEXT_FIELDS = ("recording_id", "stage", "job")
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "leap_log_context", default=None
)


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
        elif isinstance(value, str) and "://" in value:
            # DATABASE_URL, REDIS_URL, LINK_PROXY: libraries quote them, or only their
            # password, in connection errors.
            found.extend(_url_password(value))
    return found


def _url_password(url: str) -> list[str]:
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


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
    _redact_uncaught()


def _redact_uncaught() -> None:
    """Tracebacks that no handler caught reach stderr masked too.

    Python prints them itself, bypassing logging, and an exception's text may carry a
    request URL with the bot token in it (an aiohttp error names the whole URL).
    """

    def write(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(redact(text))
        sys.stderr.flush()

    def on_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "a thread"
        sys.stderr.write(f"Exception in {name}:\n")
        write(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    sys.excepthook = write
    threading.excepthook = on_thread


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind `fields` (recording_id, stage, job) to every record logged inside the block."""
    current = _context.get() or {}
    token = _context.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind_log_context(**fields: Any) -> None:
    """Bind `fields` for the rest of the current task (or thread), e.g. a whole arq job."""
    current = _context.get() or {}
    _context.set({**current, **{k: v for k, v in fields.items() if v is not None}})


def bound() -> dict[str, Any]:
    """The fields bound where this is called."""
    return dict(_context.get() or {})


def install_context() -> None:
    """Give every record the bound fields as attributes, and `context`, their text form."""
    global _context_installed
    with _lock:
        if _context_installed:
            return
        _context_installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:  # type: ignore[no-untyped-def]
        record = previous(*args, **kwargs)
        fields = _context.get() or {}
        for name in CONTEXT_FIELDS:
            setattr(record, name, fields.get(name))
        record.context = (
            " [" + " ".join(f"{k}={fields[k]}" for k in CONTEXT_FIELDS if k in fields) + "]"
            if fields
            else ""
        )
        return record

    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the bound fields, any error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Records made before install_context (or by foreign factories) have no context.
        if not hasattr(record, "context"):
            record.context = ""
        # The message was masked when the record was made; a traceback and a stack are
        # written only here, and an exception's text may carry a token or a URL with its
        # password.
        return redact(super().format(record))


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"


def configure(settings: Settings, level: int | None = None) -> None:
    install_redaction()
    install_context()
    remember_secrets(settings_secrets(settings))
    chosen = level if level is not None else logging.getLevelName(settings.log_level.upper())
    if not isinstance(chosen, int):
        chosen = logging.INFO
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if settings.log_json else _TextFormatter(TEXT_FORMAT))
        root.addHandler(handler)
    root.setLevel(chosen)
    # httpx logs every request URL at INFO; Telegram file URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic announces each of its plugins and every step at INFO; `leap` says in one line
    # what the migrations did.
    logging.getLogger("alembic").setLevel(logging.WARNING)
