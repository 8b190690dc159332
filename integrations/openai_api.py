"""What an OpenAI-compatible API's error answers mean, for every client of that dialect."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import openai


def retry_after(headers: Any) -> float:
    """Seconds the server asked to wait (``retry-after-ms`` or ``retry-after``), else 0."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - time.time())


def error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
        if isinstance(body.get("detail"), str):
            return body["detail"]
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return exc.message


def error_code(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("code") or inner.get("type") or "")
    return str(exc.code or "")


def classify(exc: openai.APIStatusError) -> tuple[str, float]:
    """The kind of failure ("auth", "model_missing", "too_large", "quota", "rate_limited",
    "unavailable" or "bad_request") and how long the server asked to wait before a retry."""
    status = exc.status_code
    if status in (401, 403):
        return "auth", 0.0
    if status == 404:
        return "model_missing", 0.0
    if status == 413:
        return "too_large", 0.0
    if status == 429:
        if "quota" in error_code(exc).lower():
            return "quota", 0.0
        return "rate_limited", retry_after(exc.response.headers)
    if status in (408, 409) or status >= 500:
        return "unavailable", retry_after(exc.response.headers)
    return "bad_request", 0.0
