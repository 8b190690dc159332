"""``leap process`` through run_process: the files CONTRACT.md promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leap.process import run_process
from pipeline.probe import probe
from tests.synth import Lecture


def test_process_until_trim_writes_video_and_report(lecture: Lecture, tmp_path: Path) -> None:
    out = tmp_path / "result"
    assert run_process(lecture.path, out, "trim", remove_pauses=True, lang=None) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report) == {"source_duration", "duration", "keep", "stages"}
    assert report["source_duration"] == pytest.approx(lecture.duration, abs=0.05)
    keep = report["keep"]
    assert len(keep) == 2 and keep[0][0] < lecture.first_word < keep[0][1]
    assert report["duration"] == pytest.approx(sum(e - s for s, e in keep))
    assert report["stages"]["trim"]["seconds"] > 0
    info = probe(out / "video.mp4")
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.duration == pytest.approx(report["duration"], abs=0.05)
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "video.mp4"]


def test_later_stages_stop_after_trim_with_status_2(
    lecture: Lecture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_process(lecture.path, None, "subtitles", remove_pauses=False, lang="en") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not available" in err
    out = tmp_path / "out" / lecture.path.stem
    assert (out / "video.mp4").is_file() and (out / "report.json").is_file()


@pytest.mark.parametrize(
    ("fixture", "words"),
    [("pdf_named_mp4", "not an audio or video"), ("video_without_audio", "no audio track")],
)
def test_bad_input_gives_one_line_and_a_failure_status(
    fixture: str,
    words: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path: Path = request.getfixturevalue(fixture)
    assert run_process(path, tmp_path / "out", "trim", remove_pauses=False, lang=None) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err
    assert not (tmp_path / "out" / "video.mp4").exists()


def test_a_missing_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_process(tmp_path / "nope.mp4", None, "trim", remove_pauses=False, lang=None) != 0
    assert "no such file" in capsys.readouterr().err
