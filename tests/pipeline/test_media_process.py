"""``leap process`` through run_process: the files CONTRACT.md promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from leap.process import run_process
from pipeline.probe import probe
from tests.synth import Lecture


def test_process_until_trim_writes_video_and_report(lecture: Lecture, tmp_path: Path) -> None:
    out = tmp_path / "result"
    assert run_process(lecture.path, out, "trim", remove_pauses=True, lang=None) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report) == {"source_duration", "duration", "keep", "stages", "cut"}
    assert report["cut"] == {
        "video": "smart",
        "audio": "copy",
        "encoded_seconds": pytest.approx(report["cut"]["encoded_seconds"]),
    }
    assert report["source_duration"] == pytest.approx(lecture.duration, abs=0.05)
    keep = report["keep"]
    assert len(keep) == 2 and keep[0][0] < lecture.first_word < keep[0][1]
    assert report["duration"] == pytest.approx(sum(e - s for s, e in keep))
    assert report["stages"]["trim"]["seconds"] > 0
    info = probe(out / "video.mp4")
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.duration == pytest.approx(report["duration"], abs=0.05)
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "video.mp4"]


def test_whole_pipeline_writes_every_contract_file(lecture: Lecture, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "TRANSCRIBE_"))}
    result = subprocess.run(
        [sys.executable, "-m", "leap.cli", "process", str(lecture.path), "--lang", "en"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out" / lecture.path.stem
    names = {p.name for p in out.iterdir()}
    assert names >= {
        "video.mp4",
        "transcript.json",
        "topics.json",
        "subtitles.srt",
        "subtitles.vtt",
        "metadata.json",
        "report.json",
    }
    transcript = json.loads((out / "transcript.json").read_text())
    assert transcript["language"] == "en"
    text = " ".join(s["text"] for s in transcript["segments"]).lower()
    assert "signal" in text and "next week" in text
    duration = probe(out / "video.mp4").duration
    assert all(0 <= s["start"] <= s["end"] <= duration + 0.5 for s in transcript["segments"])
    topics = json.loads((out / "topics.json").read_text())
    assert set(topics) == {"summary", "topics", "breaks"} and topics["topics"][0]["start"] == 0
    metadata = json.loads((out / "metadata.json").read_text())
    assert set(metadata) == {"title", "description", "tags", "chapters"}
    assert metadata["title"] == lecture.path.stem
    report = json.loads((out / "report.json").read_text())
    assert set(report["stages"]) == {"trim", "transcribe", "topics", "subtitles", "compose"}
    assert (out / "subtitles.vtt").read_text().startswith("WEBVTT")


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
