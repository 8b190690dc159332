"""The title a recording starts with: a file's name without its extension, a title as it is."""

from __future__ import annotations

import pytest

from jobs.facts import recording_facts
from storage.models import Recording, SourceKind


@pytest.mark.parametrize(
    ("kind", "name", "title"),
    [
        (SourceKind.TELEGRAM, "lecture 3.mp4", "lecture 3"),
        (SourceKind.TELEGRAM, "voice-2026-11-22.ogg", "voice-2026-11-22"),
        (SourceKind.TELEGRAM, "Signals 2.0 final", "Signals 2.0 final"),
        (SourceKind.LOCAL, "Week 5. Fourier.mkv", "Week 5. Fourier"),
        (SourceKind.LINK, "Lecture 3. Intro", "Lecture 3. Intro"),
        (SourceKind.LINK, "Week 5.Fourier", "Week 5.Fourier"),
        (SourceKind.ZOOM, "Algebra / group 2.b", "Algebra / group 2.b"),
    ],
)
def test_the_title_keeps_every_word_of_a_title(kind: SourceKind, name: str, title: str) -> None:
    recording = Recording(source_kind=kind, source_name=name, options={})
    assert recording_facts(recording)["title"] == title
