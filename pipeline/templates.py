"""Publishing templates: which one applies to a recording, and the title and description it makes.

Templates are written by users, so rendering runs in Jinja's immutable sandbox with
a reduced language (no macros, blocks, includes or captured blocks) and budgets on
loop iterations, calls, value sizes, output size and time. User regexes in match
rules are checked for shapes that backtrack without end and only ever see a short
prefix of the text.

Rules the renderer keeps:
- Sizes are checked before anything is built, not after: a list or dict written in the
  template is measured with everything nested in it (shared parts as often as they are
  reached, as printing them would), and so is whatever a filter, a call, an operator or
  ``~`` is given. Results are measured again. Nothing may grow past MAX_VALUE_SIZE.
- One budget per composition: the title, the description and every tag of one
  recording spend from the same operations, work (characters and items measured or
  built) and time; tags are limited in number too.
- A budget or size refusal is a TemplateTooCostly, so callers can say "too costly"
  in the person's language rather than pass the English detail on.
- These budgets keep a render short, but a render is still CPU work in the calling
  thread: the bot and the workers render through `pipeline.template_runner`, in a
  child process with memory and CPU limits, never on their event loop.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MappingView
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import ChainableUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner, Namespace
from jinja2.visitor import NodeTransformer
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.timecodes import Chapter, format_tc
from pipeline.topics import Topics, chapters, chapters_text, youtube_chapters

__all__ = [
    "DEFAULT_TEMPLATE",
    "MatchRules",
    "Metadata",
    "Template",
    "TemplateError",
    "TemplateTooCostly",
    "UserRegex",
    "compile_user_regex",
    "compose_metadata",
    "match_template",
    "render",
    "validate_template_source",
]


class TemplateError(ValueError):
    """A template cannot be used; the message says why in words a template author understands."""


class TemplateTooCostly(TemplateError):
    """A template needs more work, memory, time or size than a render may have."""


# --- rendering -------------------------------------------------------------------------

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

_FORBIDDEN_NODES: dict[type[nodes.Node], str] = {
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.FilterBlock: "{% filter %}",
    nodes.AssignBlock: "{% set %}…{% endset %}",
    nodes.Block: "{% block %}",
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
}

_SAFE_STR_METHODS = frozenset(
    {
        "capitalize",
        "casefold",
        "center",
        "count",
        "endswith",
        "find",
        "format",
        "index",
        "isalnum",
        "isalpha",
        "isdecimal",
        "isdigit",
        "islower",
        "isnumeric",
        "isspace",
        "istitle",
        "isupper",
        "join",
        "ljust",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "replace",
        "rfind",
        "rindex",
        "rjust",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
        "zfill",
    }
)
_WIDTH_STR_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
# Filters whose numbers size what they build (padding, batch fill, slice count).
_WIDTH_FILTERS = frozenset({"batch", "center", "round", "slice", "truncate"})

_SAFE_FILTERS = frozenset(
    {
        "abs",
        "batch",
        "capitalize",
        "center",
        "count",
        "d",
        "default",
        "dictsort",
        "e",
        "escape",
        "first",
        "float",
        "format",
        "groupby",
        "int",
        "items",
        "join",
        "last",
        "length",
        "list",
        "lower",
        "map",
        "max",
        "min",
        "reject",
        "rejectattr",
        "replace",
        "reverse",
        "round",
        "select",
        "selectattr",
        "slice",
        "sort",
        "string",
        "striptags",
        "sum",
        "title",
        "trim",
        "truncate",
        "unique",
        "upper",
        "urlencode",
        "wordcount",
    }
)


class _Budget:
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


_budget: contextvars.ContextVar[_Budget] = contextvars.ContextVar("template_budget")


def _tick() -> None:
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


def _count(value: Any, limit: int, depth: int, visits: list[int], budget: _Budget | None) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if isinstance(value, float):
        return 24
    items = _items(value)
    if items is None:
        return 16
    if depth >= MAX_DEPTH:
        raise TemplateTooCostly("Values in the template nest too deeply.")
    total = 2
    for item in items:
        visits[0] += 1
        total += _count(item, limit - total, depth + 1, visits, budget) + 2
        if total > limit:
            break
        if budget is not None and visits[0] % 1024 == 0:
            budget.check_time()
    return total


def _size(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """Approximate length of ``str(value)``, counting no further than just past ``limit``.

    A container counts every item it reaches, a shared one as often as it is reached, since
    printing it costs that much. Counting is work too, so it is charged to the budget.
    """
    budget = _budget.get(None)
    visits = [0]
    counted = _count(value, limit, 0, visits, budget)
    if budget is not None:
        budget.spend(counted + ITEM_WORK * visits[0])
    return counted


def _check_size(value: Any, what: str = "A value") -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise TemplateTooCostly("The template makes a number too large to handle.")
        return value
    if _size(value) > MAX_VALUE_SIZE:
        raise TemplateTooCostly(f"{what} in the template grows beyond {MAX_VALUE_SIZE} characters.")
    return value


def _check_arguments(args: Iterable[Any], kwargs: Mapping[str, Any], what: str) -> None:
    # Measured together: many calls print or copy all of what they are given.
    _check_size([*args, *kwargs.values()], what)


_PERCENT_SPEC = re.compile(r"%[^a-zA-Z%]*[a-zA-Z%]")
_BRACE_FIELD = re.compile(r"\{[^{}]*\}")


def _check_format_string(fmt: str) -> None:
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


def _check_width_args(name: str, args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, bool):
            continue
        if isinstance(arg, int | float) and abs(arg) > MAX_WIDTH:
            raise TemplateTooCostly(
                f"The number given to {name} is too large (at most {MAX_WIDTH})."
            )
        if isinstance(arg, str) and len(arg) > MAX_WIDTH:
            raise TemplateTooCostly(f"The text given to {name} is too long (at most {MAX_WIDTH}).")


def _check_replace(text: Any, old: Any, new: Any = "", count: Any = -1) -> None:
    # The filter prints all three first (it takes numbers and lists too); all were measured.
    text, old, new = str(text), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new) - len(old)) > MAX_VALUE_SIZE:
        raise TemplateTooCostly("replace() in the template would build too long a text.")


def _check_join(separator: str, items: list[Any]) -> None:
    total = len(separator) * max(0, len(items) - 1)
    if total > MAX_VALUE_SIZE or total + _size(items) > MAX_VALUE_SIZE:
        raise TemplateTooCostly("join() in the template would build too long a text.")


def _check_sum(rest: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    start = kwargs.get("start", rest[1] if len(rest) > 1 else 0)
    # Adding lists one by one copies the growing total each time: quadratic in the items.
    if not isinstance(start, int | float):
        raise TemplateError("The 'sum' filter in templates adds numbers only.")


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # Filters marked with pass_context/pass_environment get that object first.
    skip = 2 if getattr(func, "jinja_pass_arg", None) is not None else 1

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        value, rest = args[skip - 1] if len(args) >= skip else None, args[skip:]
        # Most filters print or copy what they are given: measure it before they do.
        _check_size(value, f"What the '{name}' filter is given")
        _check_arguments(rest, kwargs, f"What the '{name}' filter is given")
        if name == "format":
            if isinstance(value, str):
                _check_format_string(value)
        elif name == "replace":
            _check_replace(value, *rest[:3])
        elif name == "sum":
            _check_sum(rest, kwargs)
        elif name in _WIDTH_FILTERS:
            _check_width_args(f"the '{name}' filter", [*rest, *kwargs.values()])
        if name == "join":
            items = list(value) if isinstance(value, Iterable) else []
            separator = rest[0] if rest else kwargs.get("d", "")
            _check_join(str(separator), items)
            args = (*args[: skip - 1], items, *rest)
        return _check_size(func(*args, **kwargs), f"The '{name}' filter")

    return guarded


def _guarded_range(*args: int) -> range:
    try:
        result = range(*args)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"range() in the template: {exc}") from None
    if len(result) > MAX_RANGE:
        raise TemplateTooCostly(f"range() in templates is limited to {MAX_RANGE} items.")
    return result


def _guarded_iter(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _tick()
        yield item


def _guarded_concat(*parts: Any) -> str:
    total = 0
    texts = []
    for part in parts:
        total += _size(part)
        if total > MAX_VALUE_SIZE:
            raise TemplateTooCostly(
                f"Joined text in the template grows beyond {MAX_VALUE_SIZE} characters."
            )
        texts.append(str(part))
    return "".join(texts)


def _guarded_literal(value: Any) -> Any:
    # Python has built the literal already, but only from values that passed these checks,
    # so it holds references, not copies: measuring it now stops it before anyone prints it.
    return _check_size(value, "A list or dict written")


class _Namespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        _tick()
        super().__setitem__(name, _check_size(value))


_ITER_NAME = "__guarded_iter"
_CONCAT_NAME = "__guarded_concat"
_LITERAL_NAME = "__guarded_literal"
# Helpers the rewritten template calls; they check what they are given themselves.
_HELPERS = (_guarded_iter, _guarded_concat, _guarded_literal)
# What Jinja passes along with a call inside loops and blocks; Context.call takes them off.
_CONTEXT_KWARGS = frozenset({"_loop_vars", "_block_vars"})


def _helper_call(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.Name(name, "load"), args, [], None, None, lineno=lineno)


class _GuardLoops(NodeTransformer):
    """Route every loop, "~" concatenation and list/dict/tuple literal through a checked helper."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _helper_call(_ITER_NAME, [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _helper_call(_CONCAT_NAME, list(node.nodes), node.lineno)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return _helper_call(_LITERAL_NAME, [node], node.lineno)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        return _helper_call(_LITERAL_NAME, [node], node.lineno)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        if node.ctx != "load":  # "{% for a, b in … %}" assigns to a tuple of names
            return node
        return _helper_call(_LITERAL_NAME, [node], node.lineno)


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # The stock sandbox renders unsafe attributes as empty text; refuse them outright.
        raise SecurityError(
            f"access to {attribute!r} of {type(obj).__name__} objects is not allowed"
        )

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, str) and callable(value):
            return attr in _SAFE_STR_METHODS
        if isinstance(obj, int | float | complex | bytes) and callable(value):
            # int.to_bytes(10**9) and friends allocate without bound.
            return False
        return True

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format_string(value.__self__)
        return wrapped

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                if max(left.bit_length(), 1) * right > MAX_INT_BITS:
                    raise TemplateTooCostly("The template makes a number too large to handle.")
        elif operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int):
                    if _size(seq) * max(count, 0) > MAX_VALUE_SIZE:
                        raise TemplateTooCostly("Repeated text in the template grows too long.")
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise TemplateTooCostly("The template makes a number too large to handle.")
        elif operator == "+":
            if isinstance(left, str | list | tuple) and _size(left) + _size(right) > MAX_VALUE_SIZE:
                raise TemplateTooCostly("Joined text in the template grows too long.")
        elif operator == "%" and isinstance(left, str):
            _check_format_string(left)
            _check_size(right, "What '%' formats")
        try:
            result = super().call_binop(context, operator, left, right)
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise TemplateError(f"The template computes something invalid: {exc}") from None
        return _check_size(result)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if any(__obj is helper for helper in _HELPERS):
            return __context.call(__obj, *args, **kwargs)
        _tick()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        # A method may print or copy its object, and most calls their arguments.
        if owner is not None:
            _check_size(owner, f"What {name}() works on")
        given = {k: v for k, v in kwargs.items() if k not in _CONTEXT_KWARGS}
        _check_arguments(args, given, f"What {name or 'a call'}() is given")
        if isinstance(owner, str):
            if name in _WIDTH_STR_METHODS:
                _check_width_args(f"{name}()", [*args, *kwargs.values()])
            elif name == "replace" and len(args) >= 2:
                _check_replace(owner, *args[:3])
            elif name == "join" and args:
                items = list(args[0])
                _check_join(owner, items)
                args = (items, *args[1:])
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_size(result)


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    budget = _budget.get(None)
    limit = budget.max_output if budget is not None else MAX_OUTPUT_CHARS
    if _size(value, limit) > limit:
        raise TemplateTooCostly(f"The template output is longer than {limit} characters.")
    return value


@functools.cache
def _environment() -> _Sandbox:
    env = _Sandbox(
        undefined=ChainableUndefined,
        autoescape=False,
        finalize=_finalize,
        keep_trailing_newline=False,
        auto_reload=False,
        cache_size=0,
    )
    env.filters = {name: _guard_filter(name, env.filters[name]) for name in _SAFE_FILTERS}
    env.globals = {
        "range": _guarded_range,
        "dict": dict,
        "namespace": _Namespace,
        "cycler": jinja2.utils.Cycler,
        "joiner": jinja2.utils.Joiner,
        _ITER_NAME: _guarded_iter,
        _CONCAT_NAME: _guarded_concat,
        _LITERAL_NAME: _guarded_literal,
    }
    return env


def _line_hint(exc: jinja2.TemplateSyntaxError) -> str:
    return f" (line {exc.lineno})" if exc.lineno else ""


# Attributes the sandbox refuses although they do not start with "_".
_UNSAFE_NAMES = frozenset(
    {"mro", "gi_code", "gi_frame", "cr_code", "cr_frame", "ag_code", "ag_frame", "f_globals"}
)
# A format field that reads an attribute or item starting with "_", as in "{0.__class__}".
_FORMAT_INTERNAL = re.compile(r"\{[^{}]*?[.\[]\s*(_[^{}.\[\]]*)")


def _internal_name(tree: nodes.Template) -> str | None:
    """The first name in the template that reaches into Python's internals, if any.

    The sandbox refuses these while rendering; finding them here refuses the template when it
    is written, rather than failing every recording it matches later.
    """
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Const)):
        if isinstance(node, nodes.Getattr):
            if node.attr in _UNSAFE_NAMES:
                return node.attr
            name: object = node.attr
        elif isinstance(node, nodes.Getitem):
            name = node.arg.value if isinstance(node.arg, nodes.Const) else None
        elif isinstance(node, nodes.Name):
            # A plain "_" is a throwaway loop variable; double underscores are Python's.
            name = node.name if node.name.startswith("__") else None
        else:
            found = _FORMAT_INTERNAL.search(node.value) if isinstance(node.value, str) else None
            name = found.group(1) if found else None
        if isinstance(name, str) and name.startswith("_"):
            return name
    return None


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> jinja2.Template:
    try:
        return _compile_checked(source)
    except (RecursionError, MemoryError):
        # Brackets or blocks nested thousands deep overflow the parser before any check runs.
        raise TemplateError("The template nests too deeply.") from None


def _compile_checked(source: str) -> jinja2.Template:
    env = _environment()
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"Template syntax error{_line_hint(exc)}: {exc.message}") from None
    for node_type, label in _FORBIDDEN_NODES.items():
        if next(tree.find_all(node_type), None) is not None:
            raise TemplateError(f"{label} is not supported in templates.")
    if any(loop.recursive for loop in tree.find_all(nodes.For)):
        raise TemplateError("Recursive loops are not supported in templates.")
    internal = _internal_name(tree)
    if internal is not None:
        raise TemplateError(f"Templates may not use Python's internal names ({internal}).")
    tree = _GuardLoops().visit(tree)
    tree.set_environment(env)
    try:
        return env.from_string(tree)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"Template syntax error{_line_hint(exc)}: {exc.message}") from None
    except SyntaxError:
        # Python's own compiler refuses more than 20 nested blocks ({% for %}, {% if %}).
        raise TemplateError("The template nests too deeply.") from None


def validate_template_source(source: str) -> None:
    """Raise TemplateError if ``source`` cannot even be compiled (for checking user input early)."""
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateError(f"The template is longer than {MAX_SOURCE_CHARS} characters.")
    _compile(source)


@contextlib.contextmanager
def _spending(budget: _Budget) -> Iterator[_Budget]:
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def render(
    template_str: str,
    variables: Mapping[str, Any],
    *,
    max_output: int = MAX_OUTPUT_CHARS,
    max_operations: int = MAX_OPERATIONS,
    timeout: float = RENDER_SECONDS,
) -> str:
    """Render a user template in the sandbox; unknown variables render as empty text.

    Raises TemplateError for syntax errors, unsupported tags, access to Python
    internals; TemplateTooCostly for templates that exceed the output, size,
    work, operation or time budget. Inside `compose_metadata` every render spends
    from the composition's one budget, and ``max_operations``/``timeout`` are not used.
    """
    validate_template_source(template_str)
    template = _compile(template_str)
    context = {k: v for k, v in variables.items() if isinstance(k, str) and not k.startswith("__")}
    budget = _budget.get(None) or _Budget(max_operations, timeout)
    outer_max_output, budget.max_output = budget.max_output, max_output
    pieces: list[str] = []
    total = 0
    try:
        with _spending(budget):
            for piece in template.generate(context):
                total += len(piece)
                if total > max_output:
                    raise TemplateTooCostly(
                        f"The template output is longer than {max_output} characters."
                    )
                pieces.append(piece)
    except TemplateError:
        raise
    except SecurityError as exc:
        raise TemplateError(f"The template tried something not allowed: {exc}.") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"The template uses a missing value: {exc.message}.") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"The template failed: {exc.message or exc}.") from None
    except RecursionError:
        raise TemplateTooCostly("The template nests too deeply.") from None
    except MemoryError:
        raise TemplateTooCostly("The template needs too much memory.") from None
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise TemplateError(f"The template failed: {exc}.") from None
    finally:
        budget.max_output = outer_max_output
    return "".join(pieces)


# --- matching --------------------------------------------------------------------------

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


Privacy = Literal["public", "unlisted", "private"]

# A template's own tags; each may be a small template itself. YouTube takes 500 characters of
# tags in all, so more could never be published anyway.
MAX_TAGS = 30
MAX_TAG_SOURCE_CHARS = 1000

DEFAULT_TITLE_TEMPLATE = "{{ title }}"
DEFAULT_DESCRIPTION_TEMPLATE = (
    "{% if course %}{{ course }}\n{% endif %}"
    "{% if lecturer %}{{ lecturer }}\n{% endif %}"
    "{% if date %}{{ date }}\n{% endif %}"
    "\n{{ summary }}\n\n{{ chapters }}"
)


class Template(BaseModel):
    """How to title, describe and publish recordings that match ``match``."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=100)
    priority: int = 0
    enabled: bool = True
    match: MatchRules = Field(default_factory=MatchRules)
    title_template: str = Field(default=DEFAULT_TITLE_TEMPLATE, max_length=MAX_SOURCE_CHARS)
    description_template: str = Field(
        default=DEFAULT_DESCRIPTION_TEMPLATE, max_length=MAX_SOURCE_CHARS
    )
    date_format: str = Field(default="%d.%m.%Y", max_length=50)
    language: str | None = None
    privacy: Privacy = "private"
    playlist_id: str | None = None
    vk_album_id: str | None = None
    tags: list[Annotated[str, Field(max_length=MAX_TAG_SOURCE_CHARS)]] = Field(
        default_factory=list, max_length=MAX_TAGS
    )
    thumbnail: str | None = None
    auto_publish: bool = False
    platforms: list[str] = Field(default_factory=list)

    @field_validator("title_template", "description_template")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            validate_template_source(value)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("tags")
    @classmethod
    def _tags_compile(cls, value: list[str]) -> list[str]:
        for tag in value:
            if "{" in tag:
                try:
                    validate_template_source(tag)
                except TemplateError as exc:
                    raise ValueError(f"tag {tag[:40]!r}: {exc}") from None
        return value


DEFAULT_TEMPLATE = Template(name="default", priority=-(10**9))

_MATCH_FIELDS = ("title", "caption", "filename", "chat_title", "text")


def _fact_texts(facts: Mapping[str, Any]) -> list[str]:
    return [v for k in _MATCH_FIELDS if isinstance(v := facts.get(k), str) and v]


def _rules_hold(rules: MatchRules, facts: Mapping[str, Any]) -> bool:
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


def match_template(templates: Iterable[Template], facts: Mapping[str, Any]) -> Template:
    """The enabled template with the highest priority whose rules hold, else the default.

    Ties keep the given order. ``facts`` holds the recording's texts (title,
    caption, filename, chat_title, text), ``source_kind`` and ``account``.
    """
    ordered = sorted((t for t in templates if t.enabled), key=lambda t: t.priority, reverse=True)
    for template in ordered:
        if _rules_hold(template.match, facts):
            return template
    return DEFAULT_TEMPLATE


# --- metadata --------------------------------------------------------------------------

MAX_TITLE_CHARS = 100
MAX_DESCRIPTION_BYTES = 5000
MAX_TAGS_CHARS = 500
_CHAPTER_TITLE_CHARS = 80
_ANGLES = str.maketrans({"<": "‹", ">": "›"})
_MARKER = "\u2063CHAPTERS\u2063"
# What is left of the marker if a filter changed it (e.g. "|lower").
_MARKER_TRACES = re.compile("\u2063[^\u2063]{0,40}\u2063")


class Metadata(BaseModel):
    """What metadata.json holds."""

    model_config = ConfigDict(frozen=True)

    title: str
    description: str
    tags: list[str] = Field(default_factory=list)
    chapters: list[Chapter] = Field(default_factory=list)

    def dump_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def load_json(cls, path: str | Path) -> Metadata:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


def _format_date(value: Any, fmt: str) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, date):
        try:
            return value.strftime(fmt)
        except ValueError:
            return value.isoformat()
    return "" if value is None else str(value)


def _clean_title(text: str, fallback: str) -> str:
    title = " ".join(text.replace("<", " ").replace(">", " ").split()) or fallback
    if len(title) <= MAX_TITLE_CHARS:
        return title
    cut = title[: MAX_TITLE_CHARS - 1]
    space = cut.rfind(" ")
    if space >= MAX_TITLE_CHARS * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-–—") + "…"


def _utf8_prefix(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[: max(0, max_bytes)].decode("utf-8", errors="ignore")


def _shorten(text: str, max_bytes: int) -> str:
    """Cut ``text`` to ``max_bytes`` of UTF-8, at a line or word end where one is near."""
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    ellipsis = "…"
    cut = _utf8_prefix(text, max_bytes - len(ellipsis.encode("utf-8")))
    for mark in ("\n", " "):
        position = cut.rfind(mark)
        if position >= len(cut) * 0.8:
            cut = cut[:position]
            break
    return cut.rstrip() + ellipsis if cut.strip() else ""


def _fit_chapters(found: list[Chapter], duration: float, max_bytes: int) -> list[Chapter]:
    result = [
        Chapter(start=c.start, title=_clean_title(c.title, "…")[:_CHAPTER_TITLE_CHARS])
        for c in found
    ]
    while result and len(chapters_text(result).encode("utf-8")) > max_bytes:
        if len(result) <= 3:
            return []
        ends = [c.start for c in result[1:]] + [duration]
        shortest = min(range(1, len(result)), key=lambda i: ends[i] - result[i].start)
        del result[shortest]
    return result


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.translate(_ANGLES).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _tags(template: Template, facts: Mapping[str, Any], variables: Mapping[str, Any]) -> list[str]:
    # A template saved before MAX_TAGS existed may hold more. Only the template's own tags are
    # templates; tags that come with the recording are plain text.
    raw = [(tag, "{" in tag) for tag in template.tags[:MAX_TAGS]]
    extra = facts.get("tags")
    if isinstance(extra, list | tuple):
        raw.extend((str(t), False) for t in extra[:MAX_TAGS])
    result: list[str] = []
    seen: set[str] = set()
    used = 0
    for tag, is_template in raw:
        if is_template:
            tag = render(tag, variables, max_output=MAX_TAGS_CHARS)
        tag = " ".join(tag.replace("<", " ").replace(">", " ").replace(",", " ").split())
        if not tag or tag.casefold() in seen:
            continue
        # YouTube counts quotes around tags with spaces and the commas between tags.
        cost = len(tag) + (2 if " " in tag else 0) + (1 if result else 0)
        if used + cost > MAX_TAGS_CHARS:
            continue
        used += cost
        seen.add(tag.casefold())
        result.append(tag)
    return result


def compose_metadata(
    template: Template, facts: Mapping[str, Any], topics: Topics, duration: float
) -> Metadata:
    """Title, description, tags and chapters for one recording, within YouTube's limits.

    ``facts`` may hold ``title`` (the original title), ``date`` (a date, datetime or
    ISO string, formatted with the template's ``date_format``), ``lecturer``,
    ``course`` and ``tags`` (extra tags); every other key is passed to the
    templates as a variable too.

    The chapter list is part of the description: where the template puts
    ``{{ chapters }}``, or appended at the end when it does not; with fewer chapters than
    YouTube shows, the description has no chapter list (``chapters`` still holds them for
    the platforms that take any number). Raises
    TemplateError when the template cannot be rendered, TemplateTooCostly when
    title, description and tags together exceed the one budget of a composition.

    This runs in the calling thread: the bot and the workers call it through
    `pipeline.template_runner`, which runs it in a child process.
    """
    found = _fit_chapters(chapters(topics, duration), duration, MAX_DESCRIPTION_BYTES // 2)
    # The description is what YouTube gets: a list it would not show is left out, not padded.
    chapter_block = chapters_text(youtube_chapters(found))
    original_title = str(facts.get("title") or "").strip()
    variables: dict[str, Any] = {k: v for k, v in facts.items() if isinstance(k, str)}
    variables.update(
        title=original_title,
        date=_format_date(facts.get("date"), template.date_format),
        duration=format_tc(duration, always_hours=True),
        summary=topics.summary,
        chapters=chapter_block,
        lecturer=facts.get("lecturer") or "",
        course=facts.get("course") or "",
    )

    with _spending(_Budget(MAX_OPERATIONS, RENDER_SECONDS)):
        title = _clean_title(
            render(template.title_template, variables, max_output=1000),
            _clean_title(original_title, "") or "Lecture",
        )
        description = _compose_description(template, variables, chapter_block)
        tags = _tags(template, facts, variables)
    return Metadata(title=title, description=description, tags=tags, chapters=found)


def _compose_description(template: Template, variables: dict[str, Any], chapter_block: str) -> str:
    if not chapter_block:
        text = _tidy(render(template.description_template, variables))
        return _shorten(text, MAX_DESCRIPTION_BYTES)
    # Render with a marker where the chapters go, so the text around them can be
    # shortened while the chapter list stays whole.
    text = _tidy(render(template.description_template, {**variables, "chapters": _MARKER}))
    if _MARKER in text:
        before, _, after = text.partition(_MARKER)
    else:
        before, after = text, ""
    before = _MARKER_TRACES.sub("", before).rstrip()
    after = _MARKER_TRACES.sub("", after).lstrip()
    block_bytes = len(chapter_block.encode("utf-8"))
    room = MAX_DESCRIPTION_BYTES - block_bytes - (2 if before else 0) - (2 if after else 0)
    after = _shorten(after, max(0, room - len(before.encode("utf-8"))))
    if not after:
        room = MAX_DESCRIPTION_BYTES - block_bytes - (2 if before else 0)
    before = _shorten(before, max(0, room - len(after.encode("utf-8"))))
    parts = [part for part in (before, chapter_block, after) if part]
    return "\n\n".join(parts)
