"""In `leap run` media work steps back for the bot's event loop, which keeps its priority."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from leap.app import step_back_stage_threads

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="threads have priorities of their own on Linux"
)


def _niceness() -> int:
    return os.nice(0)


def _child_niceness() -> int:
    # `nice` with no arguments prints the niceness it was started with.
    return int(subprocess.run(["nice"], capture_output=True, text=True, check=True).stdout)


def test_stage_threads_and_their_children_step_back_while_the_loop_keeps_its_priority() -> None:
    base = _niceness()
    if base > 15:
        pytest.skip(f"the tests already run at niceness {base}: no room to step back")

    async def go() -> tuple[int, int, int]:
        step_back_stage_threads(4)
        thread = await asyncio.to_thread(_niceness)
        child = await asyncio.to_thread(_child_niceness)
        return _niceness(), thread, child

    # A loop of its own: the suite's shared loop keeps its executor.
    loop_thread, stage_thread, stage_child = asyncio.run(go())
    assert (loop_thread, stage_thread, stage_child) == (base, base + 4, base + 4)
    assert _niceness() == base


def test_zero_leaves_every_thread_as_it_was() -> None:
    base = _niceness()

    async def go() -> int:
        step_back_stage_threads(0)
        return await asyncio.to_thread(_niceness)

    assert asyncio.run(go()) == base
