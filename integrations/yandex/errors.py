"""What Yandex (OAuth and the Disk API) can answer that is not what was asked, told apart.

The callers decide on the class alone:

- `YandexAuthError` (HTTP 401, or a refresh token Yandex no longer takes): the grant is gone
  or expired; refresh once, then the person must connect again.
- `YandexDiskFull` (HTTP 507 Insufficient Storage, and 413 for a file over the account's
  per-file limit, which `too_large` marks): nothing more fits; trying again will not help.
- `YandexTransient` (5xx, 429, a dropped connection, a timeout): worth another try later.
- `YandexNotFound` (404): the path names nothing.
- `YandexError` itself: any other refusal, with the API's own words in `message`.

`error` is the API's error name (``UnauthorizedError``, ``DiskNotFoundError``, an OAuth
``invalid_grant``...) and `status` the HTTP status (0 when no answer came).
"""

from __future__ import annotations


class YandexError(Exception):
    def __init__(self, status: int, error: str = "", message: str = "") -> None:
        self.status = status
        self.error = error
        self.message = message or error or f"HTTP {status}"
        super().__init__(f"Yandex: {self.message} (HTTP {status})" if status else self.message)


class YandexAuthError(YandexError):
    """The token is expired, revoked or was never good: refresh, else connect again."""


class YandexDiskFull(YandexError):
    """The Disk has no room for the file (507), or the file is over the per-file limit (413)."""

    @property
    def too_large(self) -> bool:
        return self.status == 413


class YandexTransient(YandexError):
    """The service or the network failed this time; the same request may work later."""


class YandexNotFound(YandexError):
    """No resource at that path."""


def from_status(status: int, error: str = "", message: str = "") -> YandexError:
    """The error class an HTTP status means."""
    if status == 401:
        return YandexAuthError(status, error, message)
    if status in (507, 413):
        return YandexDiskFull(status, error, message)
    if status == 404:
        return YandexNotFound(status, error, message)
    if status == 429 or status >= 500:
        return YandexTransient(status, error, message)
    return YandexError(status, error, message)
