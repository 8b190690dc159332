"""Templates are measured before they build, spend one budget per composition, and render
in a child process that is killed when it overruns.

Every refusal here is a TemplateTooCostly, which the bot turns into "too costly" in the
person's language; ordinary templates keep rendering as before.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline import template_runner
from pipeline.templates import (
    DEFAULT_TEMPLATE,
    MAX_TAGS,
    MAX_VALUE_SIZE,
    Template,
    TemplateError,
    TemplateTooCostly,
    compose_metadata,
    render,
    validate_template_source,
)
from pipeline.topics import Topic, Topics


def nested_list_bomb(levels: int) -> str:
    source = "{% set a0=[1,2] %}"
    for level in range(1, levels + 1):
        copies = ",".join([f"a{level - 1}"] * 10)
        source += f"{{% set a{level}=[{copies}] %}}"
    return source + f"{{{{ a{levels}|string|length }}}}"


def _topics() -> Topics:
    return Topics(
        summary="How we sample a signal.",
        topics=[Topic(start=0.0, title="Intro"), Topic(start=60.0, title="Sampling")],
    )


# A list of n small numbers prints about 3 characters an item ("1, "): these many make a list
# of 90,000 characters, which is allowed; three of them in one list are not.
ITEMS = 30_000
OVER = MAX_VALUE_SIZE // 2


@pytest.mark.parametrize("levels", [5, 8, 9])
def test_a_nested_list_literal_is_measured_with_everything_in_it(levels: int) -> None:
    with pytest.raises(TemplateTooCostly, match="list or dict written"):
        render(nested_list_bomb(levels), {})
    # Four levels (20,000 numbers) is a large but allowed value.
    assert render(nested_list_bomb(4), {}) == str(len(str([[[[[1, 2]] * 10] * 10] * 10] * 10)))


@pytest.mark.parametrize(
    "literal",
    [
        "[a, a, a]",
        "(a, a, a)",
        "{'x': a, 'y': a, 'z': a}",
        "[[a], [[a]], [[[a]]]]",
    ],
)
def test_lists_tuples_and_dicts_written_in_a_template_count_nested_items(literal: str) -> None:
    source = f"{{% set a = [1] * {ITEMS} %}}{{% set b = {literal} %}}{{{{ b|length }}}}"
    with pytest.raises(TemplateTooCostly, match="list or dict written"):
        render(source, {})
    assert render(f"{{% set a = [1] * {ITEMS // 4} %}}{{% set b = {literal} %}}x", {}) == "x"


def test_a_list_doubled_in_a_loop_is_stopped_where_it_is_written_and_ordinary_ones_pass() -> None:
    doubling = (
        "{% set ns = namespace(x=[1]) %}{% for i in range(100) %}{% set ns.x = [ns.x, ns.x] %}"
        "{% endfor %}{{ ns.x|length }}"
    )
    with pytest.raises(TemplateTooCostly, match="list or dict written"):
        render(doubling, {})
    ordinary = (
        "{% for a, b in [(1, 'x'), (2, 'y')] %}{{ a }}{{ b }} {% endfor %}"
        "{% set d = {'k': [1, 2], 'm': (3,)} %}{{ d|dictsort }} "
        "{{ range(5)|map('string')|join('-') }} {{ '{}!'.format(title) }} "
        "{% set c = cycler('odd', 'even') %}{{ c.next() }}{{ c.next() }}"
    )
    assert render(ordinary, {"title": "T"}) == (
        "1x 2y [('k', [1, 2]), ('m', (3,))] 0-1-2-3-4 T! oddeven"
    )


# What the refusals say when they come before anything is built; after, they would say that a
# filter's or an operator's result grew too long.
BEFORE_BUILDING = (
    "is given|works on|formats|written|Joined|join\\(\\)|Repeated|replace\\(\\)|output"
)
# A million numbers in shared lists: cheap to hold, 3,000,000 characters to print.
BIG = [[1] * 1000] * 1000


@pytest.mark.parametrize(
    "source",
    [
        # Values that hold many references to one large list, made in the template.
        "{% set a = [1] * SIZE %}{{ cycler(a, a, a, a, a)|string|length }}",
        "{% set a = [1] * SIZE %}{{ namespace(p=a, q=a, r=a, s=a)|string|length }}",
        "{% set a = [1] * SIZE %}{{ dict(p=a, q=a, r=a, s=a)|string|length }}",
        "{% set d = dict(p=[1] * SIZE) %}{{ [d.items(), d.items(), d.values()]|string }}",
        "{% set s = 'x' * SIZE %}{{ 12345|replace('', s)|length }}",
        # A large value given to the template, through every door that prints or copies it
        # (join, "~", "+", "*" and the output were measured first before these limits too).
        "{{ big|string|length }}",
        "{{ big|upper|length }}",
        "{{ big|e|length }}",
        "{{ big|join(',')|length }}",
        "{{ big|list|length }}",
        "{{ '{}'.format(big)|length }}",
        "{{ ('%s' % big)|length }}",
        "{{ (big ~ '')|length }}",
        "{{ (big + [])|length }}",
        "{{ (big * 2)|length }}",
        "{{ big.copy()|length }}",
        "{{ namespace(x=big)|string|length }}",
        "{{ big }}",
    ],
)
def test_everything_that_prints_or_copies_is_measured_before_it_builds(source: str) -> None:
    with pytest.raises(TemplateTooCostly, match=BEFORE_BUILDING):
        render(source.replace("SIZE", str(OVER // 3 + 1000)), {"big": BIG})


def test_sum_adds_numbers_only_since_adding_lists_is_quadratic() -> None:
    with pytest.raises(TemplateError, match="numbers only"):
        render("{{ ([[1]] * 20000)|sum(start=[])|length }}", {})
    assert render("{{ [1, 2, 3]|sum }}|{{ [1.5, 2]|sum(start=1) }}", {}) == "6|4.5"


@pytest.mark.parametrize(
    "source",
    [
        # Each step is small; together they build gigabytes.
        "{% set s = 'x' * 150000 %}{% for i in range(10000) %}{% set t = s|upper %}{% endfor %}",
        "{% set s = 'x' * 150000 %}{% for i in range(10000) %}{% set t = s ~ 'y' %}{% endfor %}",
    ],
)
def test_work_is_counted_across_the_whole_render(source: str) -> None:
    with pytest.raises(TemplateTooCostly, match="builds too much"):
        render(source, {})


def test_values_and_sources_nested_too_deeply_are_refused_not_crashing() -> None:
    deep_value = (
        "{% set ns = namespace(x=[1]) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}"
        "{% endfor %}{{ ns.x|string|length }}"
    )
    with pytest.raises(TemplateTooCostly, match="nest too deeply"):
        render(deep_value, {})
    for source in [
        "{{ " + "[" * 3000 + "]" * 3000 + " }}",
        "{{ title" + "|upper" * 3000 + " }}",
        "{% if a %}" * 900 + "{% endif %}" * 900,
        "{% for a in b %}" * 30 + "{% endfor %}" * 30,
    ]:
        with pytest.raises(TemplateError, match="nests too deeply"):
            validate_template_source(source)
        with pytest.raises(ValidationError):
            Template(name="t", description_template=source)


def test_one_budget_for_title_description_and_tags_together() -> None:
    # About 80 % of the operations of one render each: alone it renders, twice it does not.
    half = "{% for i in range(10000) %}{% for j in range(2) %}{% endfor %}{% endfor %}"
    assert compose_metadata(Template(name="t", title_template=half + "T"), {}, _topics(), 90.0)
    both = Template(name="t", title_template=half + "T", description_template=half + "D")
    with pytest.raises(TemplateTooCostly):
        compose_metadata(both, {}, _topics(), 90.0)
    tags = Template(name="t", tags=[half + f"t{n}" for n in range(20)])
    with pytest.raises(TemplateTooCostly):
        compose_metadata(tags, {}, _topics(), 90.0)


def test_tags_are_limited_in_number_and_must_compile() -> None:
    Template(name="t", tags=[f"tag {n}" for n in range(MAX_TAGS)])
    with pytest.raises(ValidationError, match="tags"):
        Template(name="t", tags=[f"tag {n}" for n in range(MAX_TAGS + 1)])
    with pytest.raises(ValidationError, match="tags"):
        Template(name="t", tags=["{{ title"])
    # Tags that come with the recording are text, never templates.
    metadata = compose_metadata(
        Template(name="t", tags=["{{ course }}"]),
        {"course": "Signals", "tags": ["{{ 7 * 6 }}", "extra"]},
        _topics(),
        90.0,
    )
    assert metadata.tags == ["Signals", "{{ 7 * 6 }}", "extra"]


async def test_the_renderer_process_gives_what_rendering_here_gives() -> None:
    facts = {"title": "Signals", "course": "DSP", "date": "2024-03-01"}
    for template in (
        DEFAULT_TEMPLATE,
        Template(name="t", title_template="{{ course }}: {{ title }}", tags=["{{ course }}"]),
    ):
        here = compose_metadata(template, facts, _topics(), 90.0)
        assert await template_runner.compose_metadata(template, facts, _topics(), 90.0) == here


async def test_the_renderer_process_refuses_bombs_and_is_killed_past_its_deadline() -> None:
    bomb = Template(name="b", description_template=nested_list_bomb(9))
    with pytest.raises(TemplateTooCostly):
        await template_runner.compose_metadata(bomb, {}, _topics(), 90.0)
    broken = Template(name="b", title_template="{{ 1 / 0 }}")
    with pytest.raises(TemplateError) as refused:
        await template_runner.compose_metadata(broken, {}, _topics(), 90.0)
    assert not isinstance(refused.value, TemplateTooCostly)

    # A template the budgets allow, which takes longer than this deadline: the renderer is
    # killed, and the next render gets a fresh one.
    slow = Template(
        name="s", title_template="{% for i in range(10000) %}{% for j in range(2) %}{% endfor %}"
        "{% endfor %}T",
    )  # fmt: skip
    with pytest.raises(TemplateTooCostly, match="too long"):
        await template_runner.compose_metadata(slow, {}, _topics(), 90.0, deadline=0.01)
    again = await template_runner.compose_metadata(slow, {"title": "x"}, _topics(), 90.0)
    assert again.title == "T"


def _renderers() -> list[int]:
    """This process's renderer children, as /proc tells."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"pipeline.template_runner" in cmdline:
            found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_renderers_killed_from_outside_are_replaced_and_start_with_no_environment() -> None:
    await template_runner.compose_metadata(DEFAULT_TEMPLATE, {"title": "a"}, _topics(), 90.0)
    running = _renderers()
    assert running
    for pid in running:
        # Nothing of this process's environment (tokens, keys) reaches a renderer.
        assert Path(f"/proc/{pid}/environ").read_bytes() == b""
        os.kill(pid, signal.SIGKILL)
    for _ in range(1000):  # the kernel takes a moment to end them
        if not any(_running(pid) for pid in running):
            break
        await asyncio.sleep(0.01)
    for _ in range(2 * template_runner.RENDERERS):
        again = await template_runner.compose_metadata(
            DEFAULT_TEMPLATE, {"title": "b"}, _topics(), 90.0
        )
        assert again.title == "b"
