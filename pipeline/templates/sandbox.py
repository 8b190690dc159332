"""The Jinja sandbox a person's template runs in: what it may call, and the guards around it.

Rules:
- Jinja's immutable sandbox, stricter still: an unsafe attribute is an error rather than
  empty text, strings offer only the methods in _SAFE_STR_METHODS, numbers and bytes no
  methods at all (``int.to_bytes(10**9)`` allocates without bound), and only the filters
  in _SAFE_FILTERS exist. Globals are range (at most MAX_RANGE items), dict, namespace,
  cycler and joiner.
- Every filter, call and operator ticks the budget, measures what it is given before it
  runs, and measures what it made (see `pipeline.templates.limits`); every loop step ticks
  it too, and a ``namespace`` assignment measures the value it keeps.
- The compiled template is rewritten (GuardLoops) so that every loop, ``~`` and list, dict
  or tuple literal goes through a checked helper; those helpers check for themselves.
- Output is measured as it is printed, against the render's ``max_output``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import ChainableUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

from pipeline.templates.errors import TemplateError, TemplateTooCostly
from pipeline.templates.limits import (
    MAX_INT_BITS,
    MAX_OUTPUT_CHARS,
    MAX_RANGE,
    MAX_VALUE_SIZE,
    check_arguments,
    check_format_string,
    check_join,
    check_replace,
    check_size,
    check_sum,
    check_width_args,
    current_budget,
    size_of,
    tick,
)

__all__ = ["GuardLoops", "environment"]


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


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # Filters marked with pass_context/pass_environment get that object first.
    skip = 2 if getattr(func, "jinja_pass_arg", None) is not None else 1

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        tick()
        value, rest = args[skip - 1] if len(args) >= skip else None, args[skip:]
        # Most filters print or copy what they are given: measure it before they do.
        check_size(value, f"What the '{name}' filter is given")
        check_arguments(rest, kwargs, f"What the '{name}' filter is given")
        if name == "format":
            if isinstance(value, str):
                check_format_string(value)
        elif name == "replace":
            check_replace(value, *rest[:3])
        elif name == "sum":
            check_sum(rest, kwargs)
        elif name in _WIDTH_FILTERS:
            check_width_args(f"the '{name}' filter", [*rest, *kwargs.values()])
        if name == "join":
            items = list(value) if isinstance(value, Iterable) else []
            separator = rest[0] if rest else kwargs.get("d", "")
            check_join(str(separator), items)
            args = (*args[: skip - 1], items, *rest)
        return check_size(func(*args, **kwargs), f"The '{name}' filter")

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
        tick()
        yield item


def _guarded_concat(*parts: Any) -> str:
    total = 0
    texts = []
    for part in parts:
        total += size_of(part)
        if total > MAX_VALUE_SIZE:
            raise TemplateTooCostly(
                f"Joined text in the template grows beyond {MAX_VALUE_SIZE} characters."
            )
        texts.append(str(part))
    return "".join(texts)


def _guarded_literal(value: Any) -> Any:
    # Python has built the literal already, but only from values that passed these checks,
    # so it holds references, not copies: measuring it now stops it before anyone prints it.
    return check_size(value, "A list or dict written")


class _Namespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        tick()
        super().__setitem__(name, check_size(value))


_ITER_NAME = "__guarded_iter"
_CONCAT_NAME = "__guarded_concat"
_LITERAL_NAME = "__guarded_literal"
# Helpers the rewritten template calls; they check what they are given themselves.
_HELPERS = (_guarded_iter, _guarded_concat, _guarded_literal)
# What Jinja passes along with a call inside loops and blocks; Context.call takes them off.
_CONTEXT_KWARGS = frozenset({"_loop_vars", "_block_vars"})


def _helper_call(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.Name(name, "load"), args, [], None, None, lineno=lineno)


class GuardLoops(NodeTransformer):
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
            check_format_string(value.__self__)
        return wrapped

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        tick()
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                if max(left.bit_length(), 1) * right > MAX_INT_BITS:
                    raise TemplateTooCostly("The template makes a number too large to handle.")
        elif operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int):
                    if size_of(seq) * max(count, 0) > MAX_VALUE_SIZE:
                        raise TemplateTooCostly("Repeated text in the template grows too long.")
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise TemplateTooCostly("The template makes a number too large to handle.")
        elif operator == "+":
            if (
                isinstance(left, str | list | tuple)
                and size_of(left) + size_of(right) > MAX_VALUE_SIZE
            ):
                raise TemplateTooCostly("Joined text in the template grows too long.")
        elif operator == "%" and isinstance(left, str):
            check_format_string(left)
            check_size(right, "What '%' formats")
        try:
            result = super().call_binop(context, operator, left, right)
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise TemplateError(f"The template computes something invalid: {exc}") from None
        return check_size(result)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if any(__obj is helper for helper in _HELPERS):
            return __context.call(__obj, *args, **kwargs)
        tick()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        # A method may print or copy its object, and most calls their arguments.
        if owner is not None:
            check_size(owner, f"What {name}() works on")
        given = {k: v for k, v in kwargs.items() if k not in _CONTEXT_KWARGS}
        check_arguments(args, given, f"What {name or 'a call'}() is given")
        if isinstance(owner, str):
            if name in _WIDTH_STR_METHODS:
                check_width_args(f"{name}()", [*args, *kwargs.values()])
            elif name == "replace" and len(args) >= 2:
                check_replace(owner, *args[:3])
            elif name == "join" and args:
                items = list(args[0])
                check_join(owner, items)
                args = (items, *args[1:])
        result = super().call(__context, __obj, *args, **kwargs)
        return check_size(result)


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    budget = current_budget()
    limit = budget.max_output if budget is not None else MAX_OUTPUT_CHARS
    if size_of(value, limit) > limit:
        raise TemplateTooCostly(f"The template output is longer than {limit} characters.")
    return value


@functools.cache
def environment() -> _Sandbox:
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
