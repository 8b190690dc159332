"""What YouTube's refusals mean: the error types, Google's error bodies, the quota's reset.

Rules it keeps:

- `YouTubeTransient`: worth another try after a pause (5xx, 429, per-user rate limits,
  backend errors, network failures, a token refresh Google calls retryable).
- `QuotaExceeded`: the project's daily quota or the channel's upload limit is spent
  (`quotaExceeded`, `uploadLimitExceeded`, `dailyLimitExceeded`, or a rate limit whose
  message speaks of the day); it says when to try again: the next midnight, Pacific time.
- `YouTubeAuthError`: the grant is gone (a 401, a refresh Google refuses): reconnect.
- Any other refusal is a `YouTubeError` carrying Google's reason (``invalidTitle``…).
- `translated` turns the transport's and google-auth's exceptions into these; a refresh
  failure's message is Google's "error: description", never a token.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httplib2
from google.auth import exceptions as auth_exceptions
from googleapiclient.errors import HttpError

# Reasons that mean "no more of this today": the daily quota resets at midnight Pacific.
QUOTA_REASONS = frozenset({"quotaExceeded", "uploadLimitExceeded", "dailyLimitExceeded"})

# Reasons worth another try after a pause.
TRANSIENT_REASONS = frozenset(
    {"userRateLimitExceeded", "rateLimitExceeded", "backendError", "internalError"}
)


class YouTubeError(Exception):
    """YouTube refused; `reason` is Google's error reason (``invalidTitle``, ``forbidden``…)."""

    def __init__(self, reason: str, message: str = "", status: int | None = None) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message
        self.status = status


class YouTubeTransient(YouTubeError):
    """Still failing after a few tries (5xx, per-user rate limit, network): retry later."""


class YouTubeAuthError(YouTubeError):
    """The grant is gone (revoked refresh token, 401 after a refresh): reconnect the account."""


class QuotaExceeded(YouTubeError):
    """The project's daily quota (or the channel's upload limit) is spent until `reset_at`."""

    def __init__(
        self, reason: str, message: str = "", status: int | None = None, *, reset_at: datetime
    ) -> None:
        super().__init__(reason, message, status)
        self.reset_at = reset_at


class UploadSessionExpired(YouTubeError):
    """The stored session URI is no longer known (sessions live about a week): start anew.

    No video was created through it, so opening a new session cannot duplicate one.
    """


class UploadCancelled(Exception):
    """`upload` stopped between chunks because its caller asked it to."""


def next_quota_reset(now: datetime | None = None) -> datetime:
    """The next midnight in Pacific time, when YouTube's daily quotas start over (UTC)."""
    now = now or datetime.now(UTC)
    pacific: tzinfo
    try:
        pacific = ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:
        # Without tz data, standard time is the safe guess: during daylight time it waits an
        # hour longer than needed instead of retrying before the reset.
        pacific = timezone(timedelta(hours=-8), "PST")
    tomorrow = now.astimezone(pacific).date() + timedelta(days=1)
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=pacific)
    return midnight.astimezone(UTC)


def google_error(status: int, content: bytes | str | None) -> tuple[str, str]:
    """(reason, message) from Google's JSON error body, or from the status when there is none."""
    try:
        body = json.loads(content or b"")
    except (ValueError, UnicodeDecodeError):
        return f"http{status}", ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error, str(body.get("error_description") or "")
    if not isinstance(error, dict):
        return f"http{status}", ""
    message = str(error.get("message") or "")
    reason = None
    for item in error.get("errors") or []:
        if isinstance(item, dict) and item.get("reason"):
            reason = str(item["reason"])
            break
    if reason is None:
        for detail in error.get("details") or []:
            if isinstance(detail, dict) and detail.get("reason"):
                reason = str(detail["reason"])
                break
    return reason or str(error.get("status") or f"http{status}"), message


def error_from_response(status: int, content: bytes | str | None) -> YouTubeError:
    reason, message = google_error(status, content)
    daily = "day" in message.lower() or "daily" in message.lower()
    if reason in QUOTA_REASONS or (reason == "rateLimitExceeded" and daily):
        return QuotaExceeded(reason, message, status, reset_at=next_quota_reset())
    if status == 401:
        return YouTubeAuthError(reason, message, status)
    if status >= 500 or status == 429 or reason in TRANSIENT_REASONS:
        return YouTubeTransient(reason, message, status)
    return YouTubeError(reason, message, status)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Transport and credential failures as our exceptions."""
    try:
        yield
    except HttpError as exc:
        raise error_from_response(exc.resp.status, exc.content) from exc
    except auth_exceptions.RefreshError as exc:
        # google-auth's message is Google's "error: description", never a token.
        detail = str(exc.args[0]) if exc.args else ""
        code = detail.split(":", 1)[0]
        reason = code if re.fullmatch(r"[a-z_]+", code) else "refreshFailed"
        if exc.retryable:
            raise YouTubeTransient(reason, detail) from exc
        raise YouTubeAuthError(reason, detail) from exc
    except auth_exceptions.TransportError as exc:
        raise YouTubeTransient("network", type(exc).__name__) from exc
    except (OSError, httplib2.HttpLib2Error, http.client.HTTPException) as exc:
        raise YouTubeTransient("network", f"{type(exc).__name__}: {exc}") from exc
