import json
from datetime import date

import pytest
from pydantic import ValidationError

from pipeline.templates import (
    DEFAULT_TEMPLATE,
    MatchRules,
    Metadata,
    Template,
    TemplateError,
    compile_user_regex,
    compose_metadata,
    match_template,
    render,
)
from pipeline.topics import Subtopic, Topic, Topics


def test_render_fills_variables_and_leaves_unknown_ones_empty() -> None:
    text = render(
        "{{ title|upper }}|{{ missing }}|{{ missing.deeper.still }}|{{ none }}|{{ n * 2 }}",
        {"title": "Calculus", "none": None, "n": 21},
    )
    assert text == "CALCULUS||||42"


def test_render_supports_loops_conditions_and_namespaces() -> None:
    source = (
        "{% set ns = namespace(total=0) %}"
        "{% for item in items if item.ok %}{{ loop.index }}:{{ item.name }} "
        "{% set ns.total = ns.total + 1 %}{% endfor %}"
        "{% if ns.total > 1 %}many{% else %}few{% endif %} {{ 'a-b'.split('-')|join('+') }}"
    )
    items = [{"name": "x", "ok": True}, {"name": "y", "ok": False}, {"name": "z", "ok": True}]
    assert render(source, {"items": items}) == "1:x 2:z many a+b"
    long_title = "t" * 5000
    assert render("{{ missing|default(long_title) }}", {"long_title": long_title}) == long_title


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''['__class__'] }}",
        "{{ self.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ namespace.__init__ }}",
        "{{ title.__len__() }}",
        "{{ ''|attr('__class__') }}",
        "{{ (1).to_bytes(1000000000, 'big') }}",
        "{{ 'abc'.translate({97: 'x'}) }}",
        "{% include 'secrets.txt' %}",
        "{% extends 'base.html' %}",
        "{% import 'x' as y %}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{% set big %}{{ title }}{% endset %}",
        "{% filter upper %}x{% endfilter %}",
        "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
        "{{ title",
        "{{ unknown() }}",
    ],
)
def test_sandbox_escapes_and_unsupported_tags_raise_template_error(source: str) -> None:
    with pytest.raises(TemplateError):
        render(source, {"title": "t"})


def test_access_to_internals_names_the_attribute() -> None:
    with pytest.raises(TemplateError, match="__class__"):
        render("{{ ''.__class__ }}", {})


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(10**9) %}x{% endfor %}",
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "{% for i in range(10000) %}{{ 'xxxxxxxxxx' }}{% endfor %}",
        "{{ 'a' * 10**9 }}",
        "{{ [1] * 10**8 }}",
        "{{ 10 ** (10 ** 10) }}",
        "{{ 'x'.ljust(10**9) }}",
        "{{ 'x'|center(10**9) }}",
        "{{ 'ab'|batch(10**9, 'x')|list }}",
        "{{ 'ab'|slice(10**9)|list }}",
        "{{ '%999999999s' % 'x' }}",
        "{{ '%*s' % (1000000000, 'x') }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '{:{}}'.format('x', 999999999) }}",
        "{{ 'ab'|replace('', 'x' * 999)|replace('x', 'y' * 999) }}",
        "{{ ('x' * 1000).join(range(10000)|map('string')) }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}",
    ],
)
def test_huge_loops_and_allocations_are_refused(source: str) -> None:
    with pytest.raises(TemplateError):
        render(source, {})


def test_output_is_bounded() -> None:
    with pytest.raises(TemplateError, match="longer than 50"):
        render("{{ text }}", {"text": "x" * 51}, max_output=50)
    assert render("{{ text }}", {"text": "x" * 50}, max_output=50) == "x" * 50


def test_template_model_rejects_broken_sources_and_dangerous_regexes() -> None:
    with pytest.raises(ValidationError):
        Template(name="t", title_template="{% for %}")
    for pattern in [r"(a+)+$", r"(a|aa)*b", r".*.*.*.*.*x", r"(\w)\1", "x" * 300, "("]:
        with pytest.raises(ValidationError):
            MatchRules(regexes=[pattern])
        with pytest.raises(ValueError):
            compile_user_regex(pattern)
    assert compile_user_regex(r"lecture\s+\d+").search("LECTURE 12")
    assert compile_user_regex(r"phys\w*\s+\d+").max_input >= 100
    assert compile_user_regex(r"lecture").max_input == 500
    assert compile_user_regex(r".*.*.*x").max_input < 500


def test_matching_by_keywords_regex_exclusion_source_and_account() -> None:
    calculus = Template(
        name="calculus",
        priority=5,
        match=MatchRules(keywords_any=["calculus", "analysis"], exclude_keywords=["draft"]),
    )
    physics = Template(name="physics", priority=3, match=MatchRules(regexes=[r"phys\w*\s+\d+"]))
    zoom = Template(
        name="zoom-dept",
        priority=1,
        match=MatchRules(source_kinds=["zoom"], accounts=["dept@uni.example"]),
    )
    both = Template(name="both", priority=4, match=MatchRules(keywords_all=["seminar", "lab"]))
    templates = [zoom, physics, calculus, both]

    assert match_template(templates, {"title": "Calculus, week 3"}) is calculus
    assert match_template(templates, {"caption": "real ANALYSIS"}) is calculus
    assert match_template(templates, {"title": "Calculus draft"}) is DEFAULT_TEMPLATE
    assert match_template(templates, {"filename": "Physics 101.mp4"}) is physics
    assert match_template(templates, {"title": "Seminar", "caption": "lab work"}) is both
    assert match_template(templates, {"title": "Seminar only"}) is DEFAULT_TEMPLATE
    zoom_facts = {"title": "Meeting", "source_kind": "zoom", "account": "Dept@Uni.example"}
    assert match_template(templates, zoom_facts) is zoom
    assert match_template(templates, {**zoom_facts, "account": "other"}) is DEFAULT_TEMPLATE
    assert match_template(templates, {**zoom_facts, "source_kind": "telegram"}) is DEFAULT_TEMPLATE


def test_priority_decides_and_disabled_templates_are_skipped() -> None:
    low = Template(name="low", priority=1, match=MatchRules(keywords_any=["lecture"]))
    high = Template(name="high", priority=9, match=MatchRules(keywords_any=["lecture"]))
    off = Template(name="off", priority=99, enabled=False)
    catch_all = Template(name="all", priority=0)
    facts = {"title": "Lecture 1"}
    assert match_template([low, high, off], facts) is high
    assert match_template([catch_all, low], facts) is low
    assert match_template([catch_all], {"title": "anything"}) is catch_all
    assert match_template([], facts) is DEFAULT_TEMPLATE


def test_regexes_only_see_a_bounded_prefix() -> None:
    template = Template(name="late", match=MatchRules(regexes=["needle"]))
    assert match_template([template], {"title": "x" * 10_000 + "needle"}) is DEFAULT_TEMPLATE
    assert match_template([template], {"title": "a needle"}) is template


def _topics() -> Topics:
    return Topics(
        summary="We define <limits>.",
        topics=[
            Topic(start=0.0, title="Intro"),
            Topic(start=120.0, title="Limits <formal>", subtopics=[Subtopic(start=200, title="e")]),
            Topic(start=600.0, title="Examples"),
        ],
    )


def test_compose_metadata_with_the_default_template() -> None:
    facts = {
        "title": "Calc <1>",
        "date": date(2025, 3, 1),
        "course": "Calculus",
        "lecturer": "Dr X",
    }
    metadata = compose_metadata(DEFAULT_TEMPLATE, facts, _topics(), duration=1800.0)
    assert metadata.title == "Calc 1"
    assert metadata.description.startswith("Calculus\nDr X\n01.03.2025\n\nWe define ‹limits›.")
    assert "0:00 Intro\n2:00 Limits formal\n10:00 Examples" in metadata.description
    assert [c.start for c in metadata.chapters] == [0.0, 120.0, 600.0]
    assert "<" not in metadata.description and ">" not in metadata.description
    data = json.loads(metadata.dump_json())
    assert set(data) == {"title", "description", "tags", "chapters"}
    assert data["chapters"][1] == {"start": 120.0, "title": "Limits formal"}
    assert Metadata.model_validate(data) == metadata


def test_compose_metadata_keeps_limits_and_chapters_on_long_text() -> None:
    template = Template(
        name="long",
        title_template="{{ course }} — {{ title }} — {{ lecturer }} {{ 'word ' * 40 }}",
        description_template="{{ intro }}\n{{ chapters }}\n{{ outro }}",
        tags=["{{ course }}", "maths", "Maths", "a, b", "x" * 600],
        date_format="%Y",
    )
    facts = {
        "title": "Лекция",
        "course": "Анализ",
        "lecturer": "Иванов",
        "intro": "Вступление " * 500,
        "outro": "Конец " * 500,
        "tags": ["extra"],
    }
    metadata = compose_metadata(template, facts, _topics(), duration=1800.0)
    assert len(metadata.title) <= 100
    assert metadata.title.startswith("Анализ — Лекция — Иванов")
    assert len(metadata.description.encode("utf-8")) <= 5000
    assert "0:00 Intro\n2:00 Limits formal\n10:00 Examples" in metadata.description
    assert metadata.description.startswith("Вступление")
    assert metadata.tags == ["Анализ", "maths", "a b", "extra"]


def test_chapters_are_appended_when_the_template_leaves_them_out() -> None:
    template = Template(name="short", description_template="{{ summary }}")
    metadata = compose_metadata(template, {"title": "T"}, _topics(), duration=1800.0)
    assert metadata.description.endswith("\n\n0:00 Intro\n2:00 Limits formal\n10:00 Examples")


def test_no_chapter_list_in_the_description_of_a_short_video_and_a_fallback_title() -> None:
    template = Template(name="empty", title_template="{{ nothing }}")
    metadata = compose_metadata(template, {"title": "Original"}, _topics(), duration=20.0)
    # The one real chapter is kept; YouTube would show no list of one, so none is written.
    assert [c.title for c in metadata.chapters] == ["Intro"]
    assert metadata.title == "Original"
    assert "0:00" not in metadata.description


def test_compose_metadata_reports_broken_templates() -> None:
    template = Template(name="bad", description_template="{{ (x|list).pop() }}")
    with pytest.raises(TemplateError):
        compose_metadata(template, {"x": "ab"}, _topics(), duration=1800.0)
