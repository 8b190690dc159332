"""Publishing templates: which one applies to a recording, and the title and description it makes.

Templates are written by users, so rendering runs in Jinja's immutable sandbox with a
reduced language (no macros, blocks, includes or captured blocks) and budgets on loop
iterations, calls, value sizes, output size and time. User regexes in match rules are
checked for shapes that backtrack without end and only ever see a short prefix of the text.

Where each rule lives:
- `errors`: TemplateError, and TemplateTooCostly for every budget or size refusal, so
  callers can say "too costly" in the person's language.
- `limits`: the budgets (one per composition: title, description and tags spend from the
  same operations, work and time) and the measuring that refuses a value before it is built.
- `sandbox`: the Jinja environment, what a template may call, and the guards around calls.
- `rendering`: compiling (refusing forbidden tags and Python's internals when a template is
  written) and `render`.
- `matching`: match rules and the guard on user regexes.
- `models`: the Template a workspace stores, the default one, and `match_template`.
- `metadata`: `compose_metadata`, the chapter list in the description and YouTube's limits.

These budgets keep a render short, but a render is still CPU work in the calling thread:
the bot and the workers render through `pipeline.template_runner`, in a child process with
memory and CPU limits, never on their event loop.
"""

from __future__ import annotations

from pipeline.templates.errors import TemplateError, TemplateTooCostly
from pipeline.templates.limits import MAX_VALUE_SIZE, RENDER_SECONDS
from pipeline.templates.matching import MatchRules, UserRegex, compile_user_regex
from pipeline.templates.metadata import MAX_TITLE_CHARS, Metadata, compose_metadata
from pipeline.templates.models import (
    DEFAULT_DESCRIPTION_TEMPLATE,
    DEFAULT_TEMPLATE,
    DEFAULT_TITLE_TEMPLATE,
    MAX_TAGS,
    Template,
    match_template,
)
from pipeline.templates.rendering import render, validate_template_source

__all__ = [
    "DEFAULT_DESCRIPTION_TEMPLATE",
    "DEFAULT_TEMPLATE",
    "DEFAULT_TITLE_TEMPLATE",
    "MAX_TAGS",
    "MAX_TITLE_CHARS",
    "MAX_VALUE_SIZE",
    "RENDER_SECONDS",
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
