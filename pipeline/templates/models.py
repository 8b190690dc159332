"""A publishing template as it is stored, and which one applies to a recording.

Rules:
- A Template is validated whole when it is saved: its title and description templates and
  every tag that holds a ``{`` must compile (`validate_template_source`), its match rules'
  regexes must pass the regex guard, and it holds at most MAX_TAGS tags.
- The enabled template with the highest priority whose rules hold applies; ties keep the
  given order; when none does, DEFAULT_TEMPLATE (title as sent, a description of course,
  lecturer, date, summary and chapters) does.
- ``granularity`` says how finely the topics stage cuts a lecture into chapters ("fewer",
  "normal", "more"); a recording's own choice on its review card overrides it.
- ``terms`` are key terms (names, course words) its recordings are heard and described with,
  after the workspace's own (see `pipeline.terms`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from pipeline.presets import check_spec
from pipeline.templates.errors import TemplateError
from pipeline.templates.limits import MAX_SOURCE_CHARS
from pipeline.templates.matching import MatchRules, rules_hold
from pipeline.templates.rendering import validate_template_source
from pipeline.terms import MAX_TERM_CHARS, MAX_TERMS

__all__ = [
    "DEFAULT_DESCRIPTION_TEMPLATE",
    "DEFAULT_TEMPLATE",
    "DEFAULT_TITLE_TEMPLATE",
    "GRANULARITIES",
    "MAX_TAGS",
    "Granularity",
    "Template",
    "match_template",
]

Privacy = Literal["public", "unlisted", "private"]
Granularity = Literal["fewer", "normal", "more"]
GRANULARITIES: tuple[Granularity, ...] = ("fewer", "normal", "more")

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
    granularity: Granularity = "normal"
    # Publish presets (pipeline.presets): a publication time ("+2d 10:00" or a date and time),
    # YouTube's licence, category, made-for-kids and notify flags, who sees it on VK.
    publish_at: Annotated[str | None, Field(max_length=40), AfterValidator(check_spec)] = None
    license: Literal["youtube", "creativeCommon"] = "youtube"
    category_id: str = Field(default="27", pattern=r"^\d{1,3}$")
    made_for_kids: bool = False
    notify_subscribers: bool = True
    vk_privacy: Literal["all", "friends", "only_me"] = "all"
    # Post the recording's self-check questions as quizzes in the channel after its video.
    quiz_channel: bool = False
    terms: list[Annotated[str, Field(min_length=1, max_length=MAX_TERM_CHARS)]] = Field(
        default_factory=list, max_length=MAX_TERMS
    )

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


def match_template(templates: Iterable[Template], facts: Mapping[str, Any]) -> Template:
    """The enabled template with the highest priority whose rules hold, else the default.

    Ties keep the given order. ``facts`` holds the recording's texts (title,
    caption, filename, chat_title, text), ``source_kind`` and ``account``.
    """
    ordered = sorted((t for t in templates if t.enabled), key=lambda t: t.priority, reverse=True)
    for template in ordered:
        if rules_hold(template.match, facts):
            return template
    return DEFAULT_TEMPLATE
