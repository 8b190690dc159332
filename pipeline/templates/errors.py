"""The two errors a template can raise, and what callers do with them.

Rules:
- TemplateError: a template cannot be used (syntax, a forbidden tag, Python's internals, a
  value it cannot compute); its message says why in words a template author understands.
- TemplateTooCostly, a TemplateError: a template needs more work, memory, time or size than
  a render may have. Callers say "too costly" in the person's language for it rather than
  pass the English detail on.
"""

from __future__ import annotations

__all__ = ["TemplateError", "TemplateTooCostly"]


class TemplateError(ValueError):
    """A template cannot be used; the message says why in words a template author understands."""


class TemplateTooCostly(TemplateError):
    """A template needs more work, memory, time or size than a render may have."""
