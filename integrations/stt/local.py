"""faster-whisper on this machine's CPU, without any network.

Rules it keeps:

- **Which model.** ``LOCAL_WHISPER_MODEL`` unset means Whisper base, multilingual, assembled
  from the packages that ship it (see :mod:`integrations.stt.models`; verified, never
  downloaded). ``base`` and ``tiny.en`` name the bundled copies; any other faster-whisper
  name is looked up in the local cache first and downloaded by faster-whisper only when
  the machine can reach its hub; a folder is used as it is. Each (model, compute type,
  threads) is loaded once per process and shared.
- **Which languages.** :meth:`LocalWhisper.languages` answers without decoding anything,
  so a caller can refuse a language before any work: an English-only model knows "en",
  a multilingual one every Whisper language. A language it does not know raises
  ``UNSUPPORTED_LANGUAGE`` before a single sample is decoded. ``"auto"`` is always valid.
- **Pieces.** Each chunk is decoded once to raw 16 kHz samples on disk (loudness measured
  in the same pass) and heard in pieces of at most ``piece_seconds``, cut at the quietest
  moment before the limit (:func:`pipeline.asr_audio.choose_cuts`). A piece is read by
  sample index, so word times stay exact across the joins, and memory depends on the
  piece, not on the lecture. A stereo recording with a different voice on each channel
  (:func:`pipeline.channels.channel_voices`) is heard one channel at a time, so two people
  speaking at once are both understood; otherwise the channels are mixed.
- **Language per stretch.** A multilingual model names the language of every stretch of
  speech (windows of up to 20 s cut at pauses, :mod:`integrations.stt.windows`), read from
  the stretch's own frames of the encoder output Whisper decodes next (see
  :mod:`integrations.stt.batched`). With ``"auto"`` a piece is transcribed in its main
  language, and a stretch confidently in another one (a quote, a guest) in that one. With
  an explicit language everything is transcribed in it and what was heard is kept in
  ``Transcript.detected`` for the wrong-language check.
- **Speech only, side by side.** Whisper hears only what the voice-activity model called
  speech, joined without the long silences (:mod:`pipeline.speech_chunks`, faster-whisper's
  own rules on the probabilities already computed), in windows of up to 30 s cut where
  chunks meet or where speech is least likely, each encoded once and decoded four at a
  time; word times are put back where they were said, and sentences are made from the
  words. Where the voice-activity model hears speech that no word covers, that stretch is
  heard again, so a decoder that skips a sentence or stops early drops nothing.
- **Never invent, never drop.** Text is judged by acoustic evidence: a segment with no
  frame the voice-activity model calls speech, or with only symbols, gets no text; nor does
  one made mostly of the key terms over mostly non-speech (the prompt said back, see
  :mod:`integrations.stt.vocabulary`). Repetition alone never removes anything.
- **Same input, same output.** Decoding is beam search at temperature 0 only: faster-
  whisper's temperature fallback samples at random, and CTranslate2's generator is seeded
  once per thread, so no seed makes two runs in one process agree. Conditioning on the
  previous text is off, which is what made long audio loop.

Decoding runs in a worker thread (CTranslate2 releases the GIL), so the event loop stays
free; progress comes from the end times of the segments as they are decoded.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import itertools
import logging
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import TypeAdapter

from integrations.stt import (
    AUTO,
    MODEL_MISSING,
    UNREADABLE,
    UNSUPPORTED_LANGUAGE,
    WHISPER_LANGUAGES,
    Chunk,
    ProgressCallback,
    TranscriptionError,
    batched,
)
from integrations.stt import vocabulary as key_terms
from integrations.stt.models import ModelUnavailable, assemble_base, base_model_dir, tiny_en_dir
from integrations.stt.windows import (
    VAD_HOP,
    VAD_SPEECH,
    heard_seconds,
    language_runs,
    language_windows,
    speech_spans,
)
from pipeline import asr_audio, vad
from pipeline.channels import channel_voices
from pipeline.errors import MediaError
from pipeline.probe import probe_async
from pipeline.speech_chunks import speech_chunks, whisper_windows
from pipeline.transcript import Segment, Transcript, Word, labelled, segments_from_words

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = ["LocalWhisper", "bundled_model_path", "load_model", "model_languages", "resolve_model"]

log = logging.getLogger(__name__)

RATE = asr_audio.RATE
PIECE_SECONDS = 150.0
"""Longest piece handed to faster-whisper at once: cost and memory stay flat beyond it."""
_DETECT_MIN_SPEECH = 2.5
"""Shorter stretches are too little to name a language; they take their neighbours'."""
_SWITCH_PROBABILITY = 0.8
"""How sure the model must be before a stretch leaves the piece's main language."""
_WINDOW_SAMPLES = 30 * RATE
"""Longest audio Whisper hears at once."""
_UNHEARD = 2.0
"""Seconds of speech that no word covers that make a stretch heard again."""
_ROUNDS = 8
"""Most times a window's unheard speech is heard again (each time a shorter stretch)."""
_LONGEST_WORD = 2.0
"""Seconds past which a word's alignment is taken as stretched over a skipped sentence
when there is speech under the rest of it: the window is heard again with timestamps."""
_SHORT_SENTENCE = 40
"""Characters below which a sentence said straight before the next shares its segment."""
_GATE_MARGIN = 0.25
_WORDLESS = re.compile(r"^[\W_]*$")
_BEFORE_V3 = tuple(code for code in WHISPER_LANGUAGES if code != "yue")
"""The 99 languages of every multilingual Whisper before large-v3."""

_SEGMENTS = TypeAdapter(list[Segment])

_models: dict[tuple[str, str, int], WhisperModel] = {}
_models_lock = threading.Lock()

FloatArray = npt.NDArray[np.float32]


def bundled_model_path() -> Path | None:
    """The default model's folder: Whisper base, assembled now if set-up did not, or None
    when its packages are not installed."""
    folder = base_model_dir()
    if folder is not None:
        return folder
    try:
        return assemble_base()
    except ModelUnavailable:
        return None


def resolve_model(local_model: str | None) -> tuple[str, bool]:
    """(what faster-whisper loads, whether it is on this machine already)."""
    name = (local_model or "").strip()
    if not name or name == "base":
        try:
            return str(base_model_dir() or assemble_base()), True
        except ModelUnavailable as exc:
            if name == "base":
                return "base", False
            raise TranscriptionError(MODEL_MISSING, f"{exc}; or set LOCAL_WHISPER_MODEL") from exc
    if name == "tiny.en":
        tiny = tiny_en_dir()
        if tiny is not None:
            return str(tiny), True
        return name, False
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "model.bin").is_file():
            raise TranscriptionError(
                MODEL_MISSING, f"{folder} holds no CTranslate2 model (model.bin is missing)"
            )
        return str(folder.resolve()), True
    if "/" in name or "\\" in name or name.startswith("."):
        raise TranscriptionError(MODEL_MISSING, f"model folder {name} does not exist")
    # A bare name ("small", "large-v3"): faster-whisper's cache, or its hub when reachable.
    return name, False


def model_languages(local_model: str | None) -> tuple[str, ...]:
    """The languages ``local_model`` transcribes, told without loading it where possible."""
    name = (local_model or "").strip()
    if name.endswith(".en") or name.startswith("distil-"):
        return ("en",)
    if not name or name == "base":
        return _BEFORE_V3
    if name.startswith("large-v3") or name == "turbo":
        return WHISPER_LANGUAGES
    folder = Path(name).expanduser()
    vocabulary = folder / "vocabulary.txt"
    if vocabulary.is_file():
        size = _vocabulary_size(str(vocabulary))
        # English-only Whisper has 51,864 tokens, multilingual 51,865; large-v3 added
        # one more language token (Cantonese).
        if size <= 51864:
            return ("en",)
        return _BEFORE_V3 if size == 51865 else WHISPER_LANGUAGES
    if folder.is_dir():
        return tuple(load_model(name).supported_languages)
    return _BEFORE_V3


@functools.cache
def _vocabulary_size(path: str) -> int:
    """Tokens in a model's vocabulary file (51,865 lines): read once per process, since the
    bot asks for every lecture that arrives and every /settings press."""
    with open(path, "rb") as lines:
        return sum(1 for _ in lines)


def load_model(
    local_model: str | None, *, compute_type: str = "int8", cpu_threads: int = 2
) -> WhisperModel:
    """The faster-whisper model, loaded on first use and kept for the life of the process."""
    name, local = resolve_model(local_model)
    key = (name, compute_type, cpu_threads)
    with _models_lock:
        model = _models.get(key)
        if model is not None:
            return model
        try:
            from faster_whisper import WhisperModel

            from integrations.stt.features import install as install_features
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
        except Exception as first:
            if local:
                raise TranscriptionError(
                    MODEL_MISSING, f"cannot load Whisper model {name!r}: {first}"
                ) from first
            try:
                model = WhisperModel(
                    name, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads
                )
            except Exception as exc:
                # Unknown names and unreachable hubs surface as various hub and runtime errors.
                raise TranscriptionError(
                    MODEL_MISSING, f"cannot load Whisper model {name!r} on this machine: {exc}"
                ) from exc
        install_features(model)
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
        piece_seconds: float = PIECE_SECONDS,
        vocabulary: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.vocabulary = tuple(vocabulary)  # key terms: the prompt of every window
        self.local_model = local_model
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self.compute_type = compute_type
        self.piece_seconds = piece_seconds

    def languages(self) -> tuple[str, ...]:
        """ISO 639-1 codes of the languages this engine transcribes."""
        return model_languages(self.local_model)

    def supports(self, language: str) -> bool:
        """True for "auto" and for every language :meth:`languages` names."""
        code = _code(language)
        return code == AUTO or code in self.languages()

    def _check(self, language: str, known: tuple[str, ...]) -> str:
        code = _code(language)
        if code == AUTO or code in known:
            return code
        if known == ("en",):
            detail = (
                f"the local model understands English only, not {language!r}; leave "
                "LOCAL_WHISPER_MODEL unset for the multilingual model or use an API engine"
            )
        else:
            detail = f"Whisper does not know the language {language!r}"
        raise TranscriptionError(UNSUPPORTED_LANGUAGE, detail)

    async def transcribe(
        self,
        chunks: list[Chunk],
        *,
        language: str,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript:
        code = self._check(language, await asyncio.to_thread(self.languages))
        if not chunks:
            return Transcript(language="" if code == AUTO else code, segments=[])
        model = await asyncio.to_thread(
            load_model,
            self.local_model,
            compute_type=self.compute_type,
            cpu_threads=self.cpu_threads,
        )
        code = self._check(language, tuple(model.supported_languages))
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
            transcript = await work
        except BaseException:
            stop.set()
            raise
        if on_progress is not None:
            await _notify(on_progress, 1.0)
        return transcript

    def _decode(
        self,
        model: WhisperModel,
        chunks: list[Chunk],
        durations: list[float],
        language: str,
        report: Callable[[float], None],
        stop: threading.Event,
    ) -> Transcript:
        total = sum(durations) or 1.0
        done = 0.0
        # Each piece's segments as JSON until the end: as objects, a 3-hour lecture's
        # words would add 20 MB to every piece's peak.
        pieces: list[bytes] = []
        heard: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix="leap-asr-") as scratch:
            pcm = Path(scratch) / "audio.s16"
            for (path, offset), duration in zip(chunks, durations, strict=True):
                try:
                    # A different voice on each channel is heard one channel at a time.
                    voices = channel_voices(path)
                except MediaError as exc:
                    raise TranscriptionError(UNREADABLE, f"{path.name}: {exc}") from exc
                share = duration / len(voices)
                for channel in voices:
                    try:
                        db, seconds = asr_audio.decode_to_pcm(path, pcm, channel=channel)
                    except MediaError as exc:
                        raise TranscriptionError(UNREADABLE, f"{path.name}: {exc}") from exc
                    if seconds > self.piece_seconds:
                        cuts = asr_audio.choose_cuts(db, seconds, self.piece_seconds)
                    else:
                        cuts = [0.0, seconds]
                    for start, end in itertools.pairwise(cuts):
                        if stop.is_set():
                            raise _Stopped
                        first, last = round(start * RATE), round(end * RATE)
                        samples = asr_audio.read_pcm(pcm, first, last)
                        scale = share / max(seconds, 1e-9)
                        base = done + start * scale

                        def piece_progress(
                            t: float, base: float = base, scale: float = scale
                        ) -> None:
                            report(min(1.0, (base + t * scale) / total))

                        found, detected = self._piece(
                            model, samples, language, piece_progress, stop
                        )
                        # The piece's times count from its first sample, exactly.
                        shift = offset + first / RATE
                        pieces.append(_SEGMENTS.dump_json([s.shifted(shift) for s in found]))
                        del found
                        for name, value in detected.items():
                            heard[name] = heard.get(name, 0.0) + value
                        _give_back_memory()
                    done += share
                    report(min(1.0, done / total))
        fallback = "" if language == AUTO else language
        segments = [s for piece in pieces for s in _SEGMENTS.validate_json(piece)]
        transcript = labelled(sorted(segments, key=lambda s: (s.start, s.end)), fallback)
        if not transcript.language and language == AUTO and heard:
            transcript = transcript.model_copy(update={"language": max(heard, key=heard.get)})  # type: ignore[arg-type]
        return transcript.model_copy(update={"detected": heard or None})

    def _piece(
        self,
        model: WhisperModel,
        samples: FloatArray,
        language: str,
        progress: Callable[[float], None],
        stop: threading.Event,
    ) -> tuple[list[Segment], dict[str, float]]:
        """Segments of one piece (times from its start) and seconds heard per language."""
        # Read in batches of 16 s, so memory does not grow with the piece.
        probabilities = vad.speech_probabilities(samples)
        spans = speech_spans(probabilities)
        if not spans:
            # Nothing anybody said: no text, whatever Whisper would have made of it.
            return [], {}
        chunks = speech_chunks(probabilities, len(samples))
        # Encoded once: the same output names each window's language and is decoded.
        cuts = whisper_windows(chunks, probabilities, _WINDOW_SAMPLES)
        joined = chunks.join(samples)
        encoded = batched.encode(model, joined, cuts)
        stretches = language_windows(spans)
        multilingual = bool(model.model.is_multilingual)
        if multilingual:
            batched.name_languages(model, samples, chunks, encoded, stretches, _DETECT_MIN_SPEECH)
        heard = heard_seconds(stretches)
        if language == AUTO:
            main = max(heard, key=heard.get) if heard else None  # type: ignore[arg-type]
            if main is None:
                main = _detect_padded(model, samples) if multilingual else "en"
            for stretch in stretches:
                if stretch.language != main and stretch.probability < _SWITCH_PROBABILITY:
                    stretch.language = main
        else:
            for stretch in stretches:
                stretch.language = language
        runs = language_runs(stretches, len(samples) / RATE)
        segments: list[Segment] = []
        hop = VAD_HOP / RATE
        switch = multilingual and language == AUTO
        for begin, end, run_language in runs:
            a, b = round(begin * RATE), round(end * RATE)
            within = chunks.within(a, b)
            # The run's own probabilities, to a voice-activity window.
            own = probabilities[a // vad.WINDOW :]
            if len(runs) > 1:
                # A quote or a guest in another language: its own windows, encoded again,
                # the piece's let go first so the two are never held together.
                encoded = []
                _give_back_memory()
                joined = within.join(samples[a:b])
                encoded = batched.encode(
                    model, joined, whisper_windows(within, own, _WINDOW_SAMPLES)
                )
            heard_run = batched.Run(joined, within, own, run_language, begin, switch)
            found = self._hear(model, encoded, heard_run, progress, stop)
            for said_in, words in found.items():
                for segment in segments_from_words(words, min_chars=_SHORT_SENTENCE):
                    moved = segment.shifted(begin)
                    if _spoken(moved, probabilities) and not key_terms.echoed(
                        moved, self.vocabulary, probabilities, hop, VAD_SPEECH
                    ):
                        segments.append(moved.model_copy(update={"language": said_in}))
        return segments, heard

    def _hear(
        self,
        model: WhisperModel,
        encoded: list[batched.Encoded],
        run: batched.Run,
        progress: Callable[[float], None],
        stop: threading.Event,
    ) -> dict[str, list[Word]]:
        """The words of a run's encoded windows (see :mod:`integrations.stt.batched`) per
        language they were heard in, times from the start of the run.

        Each window is heard once, so a decoder that skips a sentence or ends a window early
        would drop it: where the voice-activity model hears speech that no word covers, that
        stretch is heard again on its own (:meth:`batched.Run.unheard`). Whisper often stops
        where the language changes (an English quote after a short Russian sentence, named
        Russian with the two together), so with ``"auto"`` the stretch is heard again in
        the language its own frames are confidently in."""
        words: dict[str, list[Word]] = {}
        hotwords = key_terms.hotwords(model, self.vocabulary).get("hotwords")
        pending = [(run.language, window) for window in encoded]
        try:
            for _ in range(_ROUNDS):
                rest: list[tuple[int, int]] = []
                for language in dict.fromkeys(language for language, _ in pending):
                    group = [window for named, window in pending if named == language]
                    found_all = batched.hear(
                        model, group, language, beam_size=self.beam_size, hotwords=hotwords
                    )
                    for window, found in zip(group, found_all, strict=True):
                        if stop.is_set():
                            raise _Stopped
                        if run.stretched(found, _LONGEST_WORD, _UNHEARD / 2):
                            found = batched.hear_timed(
                                model, run.joined, window.span, language,
                                beam_size=self.beam_size, hotwords=hotwords,
                            )  # fmt: skip
                        if not found:
                            continue
                        restored = run.chunks.restore_words(found)
                        words.setdefault(language, []).extend(restored)
                        progress(run.begin + restored[-1].end)
                        rest += run.unheard(window.span, found, _UNHEARD)
                if not rest:
                    break
                again = batched.encode(model, run.joined, rest)
                pending = [(_rest_language(model, window, run), window) for window in again]
        except (_Stopped, TranscriptionError):
            raise
        except Exception as exc:
            raise TranscriptionError(UNREADABLE, f"{exc}") from exc
        return {
            name: sorted(found, key=lambda w: (w.start, w.end)) for name, found in words.items()
        }


def _rest_language(model: WhisperModel, window: batched.Encoded, run: batched.Run) -> str:
    """The language a stretch heard again is heard in: its own when the run's language
    was the engine's choice and the stretch is confidently in another."""
    if not run.switch:
        return run.language
    named, probability = batched.language_of(model, window, *window.span)
    return named if named is not None and probability >= _SWITCH_PROBABILITY else run.language


def _detect_padded(model: WhisperModel, samples: FloatArray) -> str:
    """faster-whisper's own detection over the piece: for pieces with only short speech."""
    language, _, _ = model.detect_language(samples, vad_filter=True)
    return str(language)


def _spoken(segment: Segment, probabilities: FloatArray) -> bool:
    """Acoustic evidence that someone said this segment: text with a word in it, over
    audio of which at least one frame is speech."""
    if _WORDLESS.match(segment.text):
        return False
    hop = VAD_HOP / RATE
    a = max(0, int((segment.start - _GATE_MARGIN) / hop))
    b = min(probabilities.size, int(np.ceil((segment.end + _GATE_MARGIN) / hop)))
    return b > a and float(probabilities[a:b].max()) >= VAD_SPEECH


@functools.cache
def _libc() -> Any:
    # The process's own symbols: the C library it runs on, found without a search.
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def _give_back_memory() -> None:
    """Hand the heap a piece freed back to the system (glibc keeps it otherwise, and the
    next piece's buffers land elsewhere): on a 20-minute lecture the peak falls from 497 to
    452 MB, at no cost in time."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


def _code(language: str) -> str:
    return language.strip().split("-")[0].lower() or AUTO


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
