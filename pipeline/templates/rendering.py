"""Compiling a person's template once, refusing what it may not do, and rendering it.

Rules:
- A template is refused when it is written, not when a recording first meets it: syntax
  errors, the tags of a reduced language (no macros, blocks, includes, imports, call or
  filter blocks, captured ``{% set %}``, recursive loops), Python's internal names, more
  than MAX_SOURCE_CHARS, and nesting deeper than Python's parser or compiler takes.
- Unknown variables render as empty text (ChainableUndefined), variables whose names
  start with ``__`` are never passed in.
- A render outside a composition gets its own budget (``max_operations``, ``timeout``);
  inside `compose_metadata` it spends from the composition's one budget.
- Whatever goes wrong inside becomes a TemplateError with a readable reason, and running
  out of budget, memory or stack a TemplateTooCostly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError

from pipeline.templates.errors import TemplateError, TemplateTooCostly
from pipeline.templates.limits import (
    MAX_OPERATIONS,
    MAX_OUTPUT_CHARS,
    MAX_SOURCE_CHARS,
    RENDER_SECONDS,
    Budget,
    current_budget,
    spending,
)
from pipeline.templates.sandbox import GuardLoops, environment

__all__ = ["render", "validate_template_source"]


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
    env = environment()
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
    tree = GuardLoops().visit(tree)
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
    budget = current_budget() or Budget(max_operations, timeout)
    outer_max_output, budget.max_output = budget.max_output, max_output
    pieces: list[str] = []
    total = 0
    try:
        with spending(budget):
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
