"""Plural forms inside catalogue messages, chosen by CLDR's rules through Babel.

A message names the number that decides the form and gives one branch per plural category
of its language, ICU-style:

    done = "Готово: {words, plural, one {# слово} few {# слова} many {# слов} other {# слова}}"

Rules this module keeps:
- The categories are CLDR's (Babel's ``Locale(lang).plural_form``): Russian needs one, few, many
  and other (other is what fractions take: "1,5 минуты"); English needs one and other. An exact
  ``=N`` branch (``=0 {nobody}``) wins over the category. A missing category falls back to other.
- ``#`` in a branch is the number as the caller passed it (already formatted, e.g. "12,5").
- Everything outside a plural block is an ordinary ``str.format`` template: ``{name}`` fields and
  ``{{``/``}}`` escapes work as before, inside branches too.
- The number may arrive as int, float, Decimal or text ("12,5", "1 200"); text that is not a
  number takes the other branch rather than failing a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from babel import Locale

__all__ = ["Plural", "categories", "category", "parse", "render"]

_HEAD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*,\s*plural\s*,", re.ASCII)
_SELECTOR = re.compile(r"\s*(=\d+|[a-z]+)\s*\{", re.ASCII)


@dataclass(frozen=True, slots=True)
class Plural:
    """One ``{name, plural, ...}`` block: the parameter and its branches (parsed)."""

    name: str
    branches: dict[str, tuple[Part, ...]]


Part = str | Plural


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


def categories(lang: str) -> frozenset[str]:
    """Every category a message in ``lang`` must spell out (Babel leaves 'other' implicit)."""
    return frozenset(_locale(lang).plural_form.tags | {"other"})


def _as_number(value: Any) -> Decimal | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return value
    if isinstance(value, float):
        # Through its shortest text, so 2.0 stays "2.0" (other) and 0.1 does not become 0.1000…
        return Decimal(repr(value))
    text = str(value).strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None


def category(lang: str, value: Any) -> str:
    """The CLDR plural category of ``value`` in ``lang`` ('other' for what is not a number)."""
    number = _as_number(value)
    if number is None:
        return "other"
    return str(_locale(lang).plural_form(abs(number)))


def _closing(text: str, start: int) -> int:
    """Index of the brace closing the one opened just before ``start``.

    Braces inside a plural block always pair up ("{{" there opens a branch's first field),
    so plain counting finds the end.
    """
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unclosed brace in message: {text!r}")


@cache
def parse(text: str) -> tuple[Part, ...]:
    """The message as literal format templates and plural blocks, in order."""
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith(("{{", "}}"), i):
            literal.append(text[i : i + 2])
            i += 2
            continue
        if text[i] == "{":
            end = _closing(text, i + 1)
            head = _HEAD.match(text, i + 1, end)
            if head is None:
                literal.append(text[i : end + 1])
            else:
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(Plural(head.group(1), _branches(text[head.end() : end])))
            i = end + 1
            continue
        literal.append(text[i])
        i += 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


def _branches(body: str) -> dict[str, tuple[Part, ...]]:
    branches: dict[str, tuple[Part, ...]] = {}
    i = 0
    while body[i:].strip():
        selector = _SELECTOR.match(body, i)
        if selector is None:
            raise ValueError(f"bad plural branch at {body[i:]!r}")
        end = _closing(body, selector.end())
        name = selector.group(1)
        if name in branches:
            raise ValueError(f"plural branch {name!r} given twice")
        branches[name] = parse(body[selector.end() : end])
        i = end + 1
    if "other" not in branches:
        raise ValueError(f"plural block without an 'other' branch: {body!r}")
    return branches


def _choose(lang: str, block: Plural, params: dict[str, Any]) -> tuple[Part, ...]:
    value = params.get(block.name)
    number = _as_number(value)
    if number is not None and number == int(number):
        exact = block.branches.get(f"={int(number)}")
        if exact is not None:
            return exact
    return block.branches.get(category(lang, value), block.branches["other"])


def _template(lang: str, parts: tuple[Part, ...], params: dict[str, Any], number: str) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, Plural):
            field = "{" + part.name + "}"
            out.append(_template(lang, _choose(lang, part, params), params, field))
        else:
            out.append(part.replace("#", number) if number else part)
    return "".join(out)


def render(lang: str, text: str, params: dict[str, Any]) -> str:
    """The message with its plural blocks resolved for ``params`` and its fields filled in."""
    return _template(lang, parse(text), params, "").format(**params)
