"""The bundled models: Whisper base joined from its two packages and verified, never taken
when it is not the pinned file; `leap doctor` names the languages the engine understands."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from integrations.stt.models import (
    BASE_SHA256,
    BASE_SIZE,
    assemble_base,
    base_parts,
    base_ready,
)

pytestmark = pytest.mark.skipif(
    base_parts() is None, reason="the multilingual Whisper packages are not installed"
)


def _models(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "integrations.stt.models", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_assembly_joins_the_parts_into_the_pinned_model(tmp_path: Path) -> None:
    target = tmp_path / "models" / "whisper-base"
    done = _models("assemble", "--target", str(target))
    assert done.returncode == 0, done.stderr
    assert "sha256 verified" in done.stdout
    model = target / "model.bin"
    assert model.stat().st_size == BASE_SIZE
    digest = hashlib.sha256()
    with model.open("rb") as source:
        while block := source.read(1 << 22):
            digest.update(block)
    assert digest.hexdigest() == BASE_SHA256
    assert {p.name for p in target.iterdir()} >= {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }
    # Nothing half-written is left beside it.
    assert [p.name for p in target.parent.iterdir()] == ["whisper-base"]
    # Done once: a second run finds it ready and keeps it.
    inode = model.stat().st_ino
    assert assemble_base(target) == target
    assert model.stat().st_ino == inode


def test_a_damaged_model_is_not_taken_for_the_real_one(tmp_path: Path) -> None:
    target = assemble_base(tmp_path / "whisper-base")
    assert base_ready(target)
    with (target / "model.bin").open("r+b") as model:
        model.truncate(BASE_SIZE - 1)
    assert not base_ready(target)
    # Assembling again replaces it with a verified copy.
    assert assemble_base(target) == target
    assert base_ready(target)
    assert (target / "model.bin").stat().st_size == BASE_SIZE


def _doctor(tmp_path: Path, **env: str) -> str:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRANSCRIBE_", "LOCAL_WHISPER", "LLM_"))
    }
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-m", "leap.cli", "doctor"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=120,
        check=False,
    )
    return next(line for line in done.stdout.splitlines() if "transcription" in line)


def test_doctor_says_the_default_engine_understands_russian_and_english(tmp_path: Path) -> None:
    line = _doctor(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    assert line.startswith("[  ok]"), line
    assert "99 languages incl. ru, en" in line


def test_doctor_says_an_english_only_model_is_english_only_and_how_to_fix_it(
    tmp_path: Path,
) -> None:
    line = _doctor(tmp_path, LOCAL_WHISPER_MODEL="tiny.en", REDIS_URL="redis://127.0.0.1:1/0")
    assert line.startswith("[warn]"), line
    assert "English only" in line
    assert "unset LOCAL_WHISPER_MODEL" in line
