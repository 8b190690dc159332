"""An outside AI service failed: the one error type for speech-to-text and topics.

Rules it keeps:

- Every failure of an outside AI service is an :class:`AIServiceError`; each client has its
  own subclass (``integrations.stt.TranscriptionError``, ``integrations.llm.TopicsError``)
  so a caller catches exactly the service it called.
- ``code`` names the reason people are shown (the stages turn it into a message key such as
  ``stt_quota``); ``detail`` is for the log and says what the service said; ``status`` is
  the HTTP status when the service answered at all.
- ``transient`` is true only for :data:`UNAVAILABLE` and :data:`RATE_LIMITED`: then the
  same request may succeed later, and the stage is retried instead of failed.

Nothing here imports the ``openai`` SDK (it takes half a second to import); the retry loop
that turns the SDK's errors into these lives in :mod:`integrations.ai_retry`.
"""

from __future__ import annotations

from typing import ClassVar, Self

__all__ = [
    "AUTH",
    "BAD_REQUEST",
    "MODEL_MISSING",
    "QUOTA",
    "RATE_LIMITED",
    "TOO_LARGE",
    "TRANSIENT",
    "UNAVAILABLE",
    "AIServiceError",
]

AUTH = "auth"
"""The API key is missing, wrong or not allowed to use this model."""
BAD_REQUEST = "bad_request"
"""The service refused the request itself (unsupported format, bad parameter, too long)."""
UNAVAILABLE = "unavailable"
"""The service kept failing (5xx, timeouts, connection errors) after every retry."""
RATE_LIMITED = "rate_limited"
"""The service kept answering 429 after every retry."""
QUOTA = "quota"
"""The account has no credit left; retrying will not help until someone pays."""
MODEL_MISSING = "model_missing"
"""The service does not know the model."""
TOO_LARGE = "too_large"
"""The request is larger than the service accepts."""

TRANSIENT = frozenset({UNAVAILABLE, RATE_LIMITED})
"""Codes of failures that may go away when the same request is made later."""


class AIServiceError(Exception):
    """An outside AI service failed; ``code`` names the reason, ``status`` the HTTP status."""

    RENAMED: ClassVar[dict[str, str]] = {}
    """Codes a client reports under another name (a too-large chat request is a refusal)."""

    def __init__(self, code: str, detail: str = "", *, status: int | None = None) -> None:
        self.code = self.RENAMED.get(code, code)
        self.detail = detail
        self.status = status
        super().__init__(f"{self.code}: {detail}" if detail else self.code)

    @property
    def transient(self) -> bool:
        """True when the same request may succeed later (the stage can be retried)."""
        return self.code in TRANSIENT

    def with_note(self, note: str) -> Self:
        """The same failure with ``note`` added to its detail."""
        return type(self)(self.code, f"{self.detail} ({note})", status=self.status)
