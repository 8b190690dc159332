"""The transcribe stage: speech to text on the timeline of the trimmed video.

The language asked for is the workspace's (or TRANSCRIBE_LANGUAGE): an ISO code, or "auto"
for the language heard in the speech. An existing transcript is reused only when it was made
for the same request (language and key terms). The local engine is handed the trimmed video
whole and hears it in pieces of a few minutes itself; an API gets compact audio chunks that fit
its upload limit.
The engine is prompted with the recording's key terms (`jobs.terms`); the list used and the
terms the prompt could not hold are kept in the recording's media, and the quality gate also
looks for the terms said back where the recording is silent.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from integrations import stt
from jobs import files
from jobs import terms as key_terms
from jobs.runner import StageFailure, StageJob, TransientFailure, stage
from leap.settings import Settings
from pipeline import asr_audio
from pipeline.quality import check_transcript
from pipeline.terms import echo_flags
from pipeline.transcript import Transcript
from storage import search
from storage.models import Recording

log = logging.getLogger(__name__)

# How long a transient failure of the speech service waits before the stage runs again.
RETRY_DELAYS = (30, 120, 600, 1800)
_MIB = 1024 * 1024
# The audio sent to a speech API, in the recording's folder only while the engine works: a
# dot-named folder is scratch to the media store, never pushed to the bucket.
ASR_DIR = ".asr"


@stage("transcribe")
async def transcribe(job: StageJob) -> None:
    recording = job.recording
    settings = job.deps.settings
    folder = job.deps.store.recording_dir(recording.workspace_id, recording.id)
    language = str(recording.options.get("transcribe_language") or settings.transcribe_language)
    duration = float(recording.media.get("trim", {}).get("duration") or 0.0)
    target = folder / files.TRANSCRIPT

    async with job.deps.sessions() as session:
        terms = await key_terms.recording_terms(session, recording)
    if reusable(recording, target, language, terms):
        transcript = Transcript.load_json(target)
    else:
        transcript = await _run_engine(job, folder, language, terms)
        files.write_text(target, transcript.dump_json())
    await search.index(job.deps.sessions, recording.workspace_id, recording.id, transcript)

    silences = _silences(folder, duration)
    flags = check_transcript(transcript, duration or transcript.duration, silences)
    flags += echo_flags(transcript, terms, silences)
    prompt = key_terms.speech_prompt(terms)
    words = sum(len(s.text.split()) for s in transcript.segments)
    job.save(
        media={
            "transcript": {
                "language": transcript.language,
                "requested": language,
                "languages": {k: round(v, 1) for k, v in transcript.languages().items()},
                "words": words,
            },
            "quality": {"flags": [{"code": f.code, "detail": f.detail} for f in flags]},
            key_terms.MEDIA_KEY: {"terms": terms, "dropped": list(prompt.dropped)},
        }
    )
    line = job._("progress.transcribed", words=words)
    if prompt.dropped:
        line += " · " + job._("terms.progress_dropped", count=len(prompt.dropped))
    job.summarize(line)


def engine_for(settings: Settings, vocabulary: list[str] | None = None) -> stt.SpeechToText:
    key = settings.transcribe_api_key
    return stt.make_engine(
        settings.transcribe_engine,
        base_url=settings.transcribe_base_url,
        api_key=key.get_secret_value() if key else None,
        model=settings.transcribe_model,
        local_model=settings.local_whisper_model,
        concurrency=settings.transcribe_concurrency,
        max_upload_bytes=upload_limit(settings),
        vocabulary=vocabulary or (),
    )


def language_supported(settings: Settings, language: str) -> bool:
    """Whether the configured engine transcribes ``language`` ("auto" always): asked of the
    engine's model list, nothing decoded, so callers can refuse before any work."""
    return engine_for(settings).supports(language)


def upload_limit(settings: Settings) -> int:
    """The largest chunk the engine sends: what the chunker makes, plus a megabyte.

    An operator raises TRANSCRIBE_CHUNK_MB for a service that takes larger files; a fixed
    limit would refuse every chunk of that size. The margin keeps the default (24) at the
    25 MB that OpenAI accepts.
    """
    return (settings.transcribe_chunk_mb + 1) * _MIB


async def asr_chunks(settings: Settings, video: Path, folder: Path) -> list[stt.Chunk]:
    """What the engine hears: the trimmed video itself, or compact audio chunks for an API."""
    if settings.transcribe_engine == "local":
        # faster-whisper decodes the AAC track of the trimmed video itself; nothing to prepare.
        return [(video, 0.0)]
    pieces = await asr_audio.prepare_chunks_async(
        video,
        folder / ASR_DIR,
        max_seconds=settings.transcribe_chunk_seconds,
        max_bytes=settings.transcribe_chunk_mb * _MIB,
    )
    return [(piece.path, piece.offset) for piece in pieces]


def forget_asr_audio(folder: Path) -> None:
    """Remove the audio made for the engine: a run makes it afresh, and until then it would
    only take room (and count against the workspace's storage)."""
    shutil.rmtree(folder / ASR_DIR, ignore_errors=True)


async def _run_engine(job: StageJob, folder: Path, language: str, terms: list[str]) -> Transcript:
    try:
        return await _hear(job, folder, language, terms)
    finally:
        forget_asr_audio(folder)


async def _hear(job: StageJob, folder: Path, language: str, terms: list[str]) -> Transcript:
    settings = job.deps.settings
    prompt = key_terms.speech_prompt(terms)
    if prompt.dropped:
        log.info(
            "recording %s: %d key terms do not fit the speech prompt",
            job.recording.id,
            len(prompt.dropped),
        )
    engine = engine_for(settings, list(prompt.kept))
    chunks = await asr_chunks(settings, folder / files.VIDEO, folder)
    last = 0.0

    async def on_progress(share: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= 1.0 or share >= 1.0:
            last = now
            job.report(job._("progress.transcribing", percent=round(share * 100)))

    job.report(job._("progress.transcribing", percent=0))
    try:
        return await engine.transcribe(chunks, language=language, on_progress=on_progress)
    except stt.TranscriptionError as exc:
        if exc.transient:
            delay = RETRY_DELAYS[min(job.attempt - 1, len(RETRY_DELAYS) - 1)]
            raise TransientFailure(f"stt_{exc.code}", defer=delay) from exc
        raise StageFailure(f"stt_{exc.code}") from exc


def reusable(recording: Recording, path: Path, language: str, terms: list[str]) -> bool:
    """Whether the transcript at ``path`` answers this request: the same language asked for,
    and the same key terms (a transcript made before key terms existed counts as made with
    whatever the recording has now)."""
    if not path.is_file():
        return False
    if key_terms.MEDIA_KEY in recording.media and key_terms.used_terms(recording) != terms:
        return False
    return _made_for(path, recording.media.get("transcript", {}), language)


def _made_for(path: Path, earlier: dict[str, object], language: str) -> bool:
    """True when the transcript at ``path`` answers a request for ``language``."""
    if "requested" in earlier:
        return earlier["requested"] == language
    # Older transcripts (and leap process folders) record only the language they are in.
    try:
        return json.loads(path.read_text()).get("language") == language
    except (OSError, ValueError):
        return False


def _silences(folder: Path, duration: float) -> list[tuple[float, float]]:
    try:
        speech = json.loads((folder / "trim.json").read_text()).get("speech_out", [])
    except (OSError, ValueError):
        return []
    return silences(speech, duration)


def silences(speech: list[list[float]], duration: float) -> list[tuple[float, float]]:
    """Long stretches without speech on the published timeline, as the trim stage found them."""
    gaps: list[tuple[float, float]] = []
    cursor = 0.0
    for start, end in speech:
        if start - cursor >= 2.0:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if duration - cursor >= 2.0:
        gaps.append((cursor, duration))
    return gaps
