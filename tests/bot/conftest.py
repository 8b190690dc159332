from __future__ import annotations

from pathlib import Path

import pytest

from tests import synth
from tests.synth import Lecture, Silence, Speech

OPENING = "Good morning everyone. Today we talk about signals and how we sample them."
CLOSING = "That is all for today. Thank you for listening, and see you next week."


@pytest.fixture(scope="session")
def chat_lecture(tmp_path_factory: pytest.TempPathFactory) -> Lecture:
    """Eight seconds of empty room, two sentences, eight more seconds of empty room."""
    folder = tmp_path_factory.mktemp("chat-media")
    return synth.make_lecture(
        folder / "lecture.mp4",
        (Silence(8.0), Speech(OPENING), Silence(2.0), Speech(CLOSING), Silence(8.0)),
    )


@pytest.fixture(scope="session")
def chat_no_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.video_only(tmp_path_factory.mktemp("chat-media") / "mute.mp4")


@pytest.fixture(scope="session")
def chat_silent(tmp_path_factory: pytest.TempPathFactory) -> Lecture:
    folder = tmp_path_factory.mktemp("chat-media")
    return synth.make_lecture(
        folder / "silent.mp4", (Silence(3.0), Speech(OPENING), Silence(3.0)), silent=True
    )
