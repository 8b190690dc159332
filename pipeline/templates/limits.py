"""What a render may spend, and the measuring that keeps it within that.

Rules:
- Sizes are checked before anything is built, not after: a list or dict written in the
  template is measured with everything nested in it (shared parts as often as they are
  reached, as printing them would), and so is whatever a filter, a call, an operator or
  ``~`` is given. Results are measured again. Nothing may grow past MAX_VALUE_SIZE.
- Measuring is work too: every character and item counted is charged to the budget.
- One budget per composition: the title, the description and every tag of one recording
  spend from the same operations, work (characters and items measured or built) and time.
  The budget in force lives in a context variable set by `spending`; outside one, checks
  still refuse oversized values but nothing is charged.
- Widths, counts and format fields that would build huge strings ("%999999999s",
  "{:>1000000}", ``center(10**9)``) are refused before the call, as are replacements and
  joins whose result would be too long and sums of anything but numbers.
- Every refusal for size, work or time is a TemplateTooCostly.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import time
from collections.abc import Iterable, Iterator, Mapping, MappingView
from typing import Any

from jinja2.utils import Cycler, Joiner, Namespace

from pipeline.templates.errors import TemplateError, TemplateTooCostly

MAX_SOURCE_CHARS = 20_000
MAX_OUTPUT_CHARS = 20_000
# Largest string/collection any expression may produce or be given.
MAX_VALUE_SIZE = 200_000
# Loop iterations, calls, filters and operators per render (per composition in compose_metadata).
MAX_OPERATIONS = 50_000
# Characters and items measured or built per render (per composition): 50 values of the
# largest size, far beyond what a description needs, and about 0.2 s of work here.
MAX_WORK = 10_000_000
# Visiting one item of a container costs Python about what copying this many characters does.
ITEM_WORK = 16
MAX_RANGE = 10_000
# Widths, counts and paddings passed to filters and string methods.
MAX_WIDTH = 1_000
MAX_INT_BITS = 4_096
# Lists and dicts inside each other; printing deeper ones recurses in C.
MAX_DEPTH = 50
# Wall-clock time of one render, and of one whole composition.
RENDER_SECONDS = 0.5


class Budget:
    """What one render, or one whole composition (title, description and tags), may still spend.

    ``work`` counts characters and container items measured or built; ``operations`` counts
    loop steps, calls, filters and operators; the deadline bounds both in wall-clock time.
    """

    def __init__(self, operations: int, seconds: float, work: int = MAX_WORK) -> None:
        self.operations = operations
        self.work = work
        self.deadline = time.monotonic() + seconds
        self.max_output = MAX_OUTPUT_CHARS

    def tick(self) -> None:
        self.operations -= 1
        if self.operations < 0:
            raise TemplateTooCostly(
                "The template does too much work: too many loop steps or calls."
            )
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateTooCostly("The template took too long to render.")

    def spend(self, amount: int) -> None:
        self.work -= amount
        if self.work < 0:
            raise TemplateTooCostly("The template builds too much text or too many values.")


_budget: contextvars.ContextVar[Budget] = contextvars.ContextVar("template_budget")


def current_budget() -> Budget | None:
    """The budget of the render or composition under way, if any."""
    return _budget.get(None)


def tick() -> None:
    budget = _budget.get(None)
    if budget is not None:
        budget.tick()


def _items(value: Any) -> Iterable[Any] | None:
    """What printing ``value`` prints one by one; None for values that print short."""
    if isinstance(value, Mapping):
        return (x for pair in value.items() for x in pair)
    if isinstance(value, list | tuple | set | frozenset | MappingView):
        return value  # type: ignore[no-any-return]
    if isinstance(value, Namespace):
        # Its repr shows every attribute; its __getattribute__ hides the dict from getattr.
        attrs = object.__getattribute__(value, "_Namespace__attrs")
        return (x for pair in attrs.items() for x in pair)
    if isinstance(value, Cycler):
        return value.items
    if isinstance(value, Joiner):
        return (value.sep,)
    return None


def _count(
    value: Any,
    limit: int,
    depth: int,
    visits: list[int],
    budget: Budget | None,
    known: dict[int, tuple[int, int, Any]],
) -> tuple[int, int]:
    """The size of ``value`` as :func:`size_of` counts it, and how deep its containers nest.

    A container reached again is not walked again: its size and depth were noted the
    first time (``known``, by identity, holding it so that no other takes its identity
    meanwhile). Counting stops at the first container past the limit, so every size
    noted is whole."""
    if isinstance(value, str | bytes):
        return len(value), 0
    if isinstance(value, bool) or value is None:
        return 5, 0
    if isinstance(value, int):
        return value.bit_length() // 3 + 1, 0
    if isinstance(value, float):
        return 24, 0
    items = _items(value)
    if items is None:
        return 16, 0
    seen = known.get(id(value))
    if seen is None:
        if depth >= MAX_DEPTH:
            raise TemplateTooCostly("Values in the template nest too deeply.")
        total, height = 2, 1
        for item in items:
            visits[0] += 1
            # Numbers and text, most of what a large value holds, without a call each.
            kind = type(item)
            if kind is int:
                total += item.bit_length() // 3 + 3
            elif kind is str:
                total += len(item) + 2
            else:
                size, below = _count(item, limit - total, depth + 1, visits, budget, known)
                total += size + 2
                height = max(height, below + 1)
            if total > limit:
                break
            if budget is not None and visits[0] % 1024 == 0:
                budget.check_time()
        seen = known[id(value)] = (total, height, value)
    if depth + seen[1] > MAX_DEPTH:
        raise TemplateTooCostly("Values in the template nest too deeply.")
    return seen[0], seen[1]


def size_of(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """Approximate length of ``str(value)``, counting no further than just past ``limit``.

    A container counts every item it reaches, a shared one as often as it is reached, since
    printing it costs that much; it is walked once, though, so a value built by doubling
    a list of lists is measured in as many steps as it has levels. Counting is work too,
    so it is charged to the budget.
    """
    budget = _budget.get(None)
    visits = [0]
    counted, _ = _count(value, limit, 0, visits, budget, {})
    if budget is not None:
        budget.spend(counted + ITEM_WORK * visits[0])
    return counted


def check_size(value: Any, what: str = "A value") -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise TemplateTooCostly("The template makes a number too large to handle.")
        return value
    if size_of(value) > MAX_VALUE_SIZE:
        raise TemplateTooCostly(f"{what} in the template grows beyond {MAX_VALUE_SIZE} characters.")
    return value


def check_arguments(args: Iterable[Any], kwargs: Mapping[str, Any], what: str) -> None:
    # Measured together: many calls print or copy all of what they are given.
    check_size([*args, *kwargs.values()], what)


_PERCENT_SPEC = re.compile(r"%[^a-zA-Z%]*[a-zA-Z%]")
_BRACE_FIELD = re.compile(r"\{[^{}]*\}")


def check_format_string(fmt: str) -> None:
    """Refuse field widths that would build huge strings ("%999999999s", "{:>1000000}")."""
    for spec in _PERCENT_SPEC.findall(fmt):
        if "*" in spec or re.search(r"\d{4,}", spec):
            raise TemplateTooCostly("A format width in the template is too large.")
    plain = fmt.replace("{{", "").replace("}}", "")
    if re.search(r"\{[^{}]*\{", plain):
        raise TemplateError("Nested format fields are not allowed in templates.")
    for field in _BRACE_FIELD.findall(plain):
        if re.search(r"\d{4,}", field.split(":", 1)[1] if ":" in field else ""):
            raise TemplateTooCostly("A format width in the template is too large.")


def check_width_args(name: str, args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, bool):
            continue
        if isinstance(arg, int | float) and abs(arg) > MAX_WIDTH:
            raise TemplateTooCostly(
                f"The number given to {name} is too large (at most {MAX_WIDTH})."
            )
        if isinstance(arg, str) and len(arg) > MAX_WIDTH:
            raise TemplateTooCostly(f"The text given to {name} is too long (at most {MAX_WIDTH}).")


def check_replace(text: Any, old: Any, new: Any = "", count: Any = -1) -> None:
    # The filter prints all three first (it takes numbers and lists too); all were measured.
    text, old, new = str(text), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new) - len(old)) > MAX_VALUE_SIZE:
        raise TemplateTooCostly("replace() in the template would build too long a text.")


def check_join(separator: str, items: list[Any]) -> None:
    total = len(separator) * max(0, len(items) - 1)
    if total > MAX_VALUE_SIZE or total + size_of(items) > MAX_VALUE_SIZE:
        raise TemplateTooCostly("join() in the template would build too long a text.")


def check_sum(rest: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    start = kwargs.get("start", rest[1] if len(rest) > 1 else 0)
    # Adding lists one by one copies the growing total each time: quadratic in the items.
    if not isinstance(start, int | float):
        raise TemplateError("The 'sum' filter in templates adds numbers only.")


@contextlib.contextmanager
def spending(budget: Budget) -> Iterator[Budget]:
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)
