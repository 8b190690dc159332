"""A transcript is made again when the key terms changed since it was made, and reused when
they did not (or when it is older than key terms): the transcribe stage's reuse rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.transcribe import reusable
from pipeline.transcript import Segment, Transcript
from storage.models import Recording

TERMS = ["Dijkstra", "Kolmogorov"]


def _recording(media: dict[str, Any]) -> Recording:
    return Recording(media=media)


def _transcript(folder: Path) -> Path:
    path = folder / "transcript.json"
    path.write_text(
        Transcript(language="en", segments=[Segment(start=0, end=1, text="Hi.")]).dump_json()
    )
    return path


def test_the_same_terms_reuse_the_transcript_and_new_ones_make_it_again(tmp_path: Path) -> None:
    path = _transcript(tmp_path)
    made = _recording({"transcript": {"requested": "en"}, "vocabulary": {"terms": TERMS}})
    assert reusable(made, path, "en", TERMS)
    assert not reusable(made, path, "en", [*TERMS, "Levenshtein"])
    assert not reusable(made, path, "en", [])
    assert not reusable(made, path, "ru", TERMS)
    assert not reusable(made, tmp_path / "missing.json", "en", TERMS)


def test_a_transcript_from_before_key_terms_is_reused(tmp_path: Path) -> None:
    path = _transcript(tmp_path)
    assert reusable(_recording({"transcript": {"requested": "en"}}), path, "en", TERMS)
    # A folder without a record of the request: the transcript's own language decides.
    assert reusable(_recording({}), path, "en", TERMS)
    assert not reusable(_recording({}), path, "ru", [])
