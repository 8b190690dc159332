"""Match rules: when a template applies, and the guard on the regexes people write in them.

Rules:
- Every rule that is set must hold; empty rules match everything. Keywords are
  case-insensitive substrings of the recording's texts (title, caption, file name, chat
  title, text); regexes are searched in each of those texts; source kinds and accounts
  compare case-insensitively.
- A user regex is refused when it is saved if it could backtrack without end:
  back-references, conditionals, and repeats of groups that themselves repeat or hold
  alternatives. What remains is searched in a prefix of each text short enough that its
  worst case stays near 0.1 s (never more than MAX_MATCH_INPUT characters), and a
  pattern whose allowed prefix would be too short to be useful is refused as too complex.
- At most MAX_PATTERNS patterns of MAX_PATTERN_CHARS each per list.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["MatchRules", "UserRegex", "compile_user_regex", "rules_hold"]


MAX_PATTERN_CHARS = 200
MAX_PATTERNS = 20
# A regex sees at most this much of each text, less when it has many repeats.
MAX_MATCH_INPUT = 500
# Backtracking of a failed search grows as n ** (open-ended repeats + 1) times the
# other repeats' ranges; this budget keeps the worst case near 0.1 s (measured:
# r"\w*\w*!" over 500 characters).
_REGEX_STEP_BUDGET = 1.25e8
_MIN_MATCH_INPUT = 40
_QUANTIFIER_BRACES = re.compile(r"\{(\d*)(,?)(\d*)\}")
_FLAG_CHARS = frozenset("aiLmsux-")


class _Group:
    __slots__ = ("alternation", "repeats")

    def __init__(self) -> None:
        self.repeats = False
        self.alternation = False


def _regex_shape(pattern: str) -> tuple[int, int]:
    """Open-ended repeats and the product of bounded repeat ranges in ``pattern``.

    Raises ValueError for shapes that are never allowed: back-references and
    repeats of groups that themselves repeat or hold alternatives.
    """
    open_ended = 0
    bounded = 1
    stack = [_Group()]
    last: _Group | None = None  # the group a following quantifier would apply to
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 < n and pattern[i + 1] in "123456789":
                raise ValueError("back-references are not allowed")
            i, last = i + 2, None
            continue
        if char == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i, last = j + 1, None
            continue
        if char == "(":
            i += 1
            if pattern.startswith("?", i):
                rest = pattern[i + 1 : i + 3]
                if rest.startswith(("P=", "(")):
                    raise ValueError("back-references and conditionals are not allowed")
                if rest.startswith("#"):
                    i = pattern.find(")", i)
                    i = n if i < 0 else i + 1
                    continue
                i += 1
                if rest.startswith("P<"):
                    i = pattern.find(">", i) + 1 or n
                elif rest.startswith(("<=", "<!")):
                    i += 2
                elif rest[:1] in (":", "=", "!", ">"):
                    i += 1
                else:
                    while i < n and pattern[i] in _FLAG_CHARS:
                        i += 1
                    if pattern.startswith(":", i):
                        i += 1
            stack.append(_Group())
            last = None
            continue
        if char == ")":
            group = stack.pop() if len(stack) > 1 else _Group()
            stack[-1].repeats |= group.repeats
            i, last = i + 1, group
            continue
        if char == "|":
            stack[-1].alternation = True
            i, last = i + 1, None
            continue
        braces = _QUANTIFIER_BRACES.match(pattern, i) if char == "{" else None
        if char in "*+?" or (braces is not None and (braces.group(1) or braces.group(3))):
            if braces is not None:
                low, comma, high = braces.groups()
                if not comma:
                    top = int(low or 0)
                elif high:
                    top = int(high)
                else:
                    top = -1
                i = braces.end()
            else:
                top = 1 if char == "?" else -1
                i += 1
            if top != 1 and last is not None and (last.repeats or last.alternation):
                raise ValueError("a repeated group may not itself repeat or hold alternatives")
            if i < n and pattern[i] in "?+":
                i += 1
            if top < 0:
                open_ended += 1
            else:
                bounded *= top + 1
            stack[-1].repeats = True
            last = None
            continue
        i, last = i + 1, None
    return open_ended, bounded


class UserRegex:
    """A checked user regex and how much of a text it may search."""

    __slots__ = ("max_input", "regex")

    def __init__(self, regex: re.Pattern[str], max_input: int) -> None:
        self.regex = regex
        self.max_input = max_input

    def search(self, text: str) -> bool:
        return self.regex.search(text[: self.max_input]) is not None


@functools.lru_cache(maxsize=512)
def compile_user_regex(pattern: str) -> UserRegex:
    """Compile a regex from a template's match rules, refusing ones that could hang a worker."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"a pattern may be at most {MAX_PATTERN_CHARS} characters")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid pattern: {exc}") from None
    open_ended, bounded = _regex_shape(pattern)
    max_input = int((_REGEX_STEP_BUDGET / bounded) ** (1 / (open_ended + 1)))
    if max_input < _MIN_MATCH_INPUT:
        raise ValueError("pattern too complex: it has too many repeats (*, +, ?, {m,n})")
    return UserRegex(compiled, min(max_input, MAX_MATCH_INPUT))


def _user_regexes(patterns: list[str]) -> list[str]:
    if len(patterns) > MAX_PATTERNS:
        raise ValueError(f"at most {MAX_PATTERNS} patterns")
    for pattern in patterns:
        compile_user_regex(pattern)
    return patterns


class MatchRules(BaseModel):
    """When a template applies. Every rule that is set must hold; empty rules match everything.

    Keywords are case-insensitive substrings of the recording's texts (title,
    caption, file name, chat title); regexes are searched in each of those texts.
    """

    model_config = ConfigDict(frozen=True)

    keywords_any: list[str] = Field(default_factory=list)
    keywords_all: list[str] = Field(default_factory=list)
    regexes: list[str] = Field(default_factory=list)
    exclude_keywords: list[str] = Field(default_factory=list)
    exclude_regexes: list[str] = Field(default_factory=list)
    source_kinds: list[str] = Field(default_factory=list)
    accounts: list[str] = Field(default_factory=list)

    @field_validator("regexes", "exclude_regexes")
    @classmethod
    def _safe_regexes(cls, value: list[str]) -> list[str]:
        return _user_regexes(value)


# A template's own tags; each may be a small template itself. YouTube takes 500 characters of
_MATCH_FIELDS = ("title", "caption", "filename", "chat_title", "text")


def _fact_texts(facts: Mapping[str, Any]) -> list[str]:
    return [v for k in _MATCH_FIELDS if isinstance(v := facts.get(k), str) and v]


def rules_hold(rules: MatchRules, facts: Mapping[str, Any]) -> bool:
    """Whether every rule that is set holds for a recording's ``facts``."""
    texts = _fact_texts(facts)
    haystack = "\n".join(texts).casefold()

    def found(pattern: str) -> bool:
        regex = compile_user_regex(pattern)
        return any(regex.search(t) for t in texts)

    if rules.source_kinds:
        kind = str(facts.get("source_kind") or "").casefold()
        if kind not in {k.casefold() for k in rules.source_kinds}:
            return False
    if rules.accounts:
        account = str(facts.get("account") or "").casefold()
        if account not in {a.casefold() for a in rules.accounts}:
            return False
    if rules.keywords_any and not any(k.casefold() in haystack for k in rules.keywords_any if k):
        return False
    if not all(k.casefold() in haystack for k in rules.keywords_all):
        return False
    if rules.regexes and not any(found(p) for p in rules.regexes):
        return False
    if any(k and k.casefold() in haystack for k in rules.exclude_keywords):
        return False
    return not any(found(p) for p in rules.exclude_regexes)
