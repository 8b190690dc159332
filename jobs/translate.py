"""Translating a recording's subtitles: an arq job on the io queue, started from the review card.

Rules it keeps:

- The job reads the recording's own subtitles.srt (the cues people already see), sends their
  words to the language model (`integrations.llm.translate`) and fits the answers back onto
  the same times (`pipeline.translation`); it writes subtitles.<lang>.srt and .vtt beside the
  originals, sends the .srt into the chat under the card, and the card says how many cues
  there are. Publish then takes them to YouTube as a second caption track and into the export;
  a recording published already gets the track on its YouTube video at once, through the
  YouTube publisher (which finds the video made and adds only the tracks it lacks), and a
  refusal is said in the chat.
- Its state is kept per target language in ``recording.media["translations"]`` (see
  `jobs.cards.translation`): running with batches done, done with the cue count, or failed
  with a reason the card and a message in the chat name in the recording's language. The
  card is redrawn (paced like every edit of it) after each batch.
- One job per recording and language (:func:`jobs.queues.translate_job_id`, ``keep_result=0``):
  a second press while it runs is told so; a press after it ended translates again.
- Nothing is lost on a crash: the press records the translation as queued
  (:func:`mark_queued`), the job runs under a lease like the stages (jobs.presence), and the
  recovery sweep (jobs.recovery) finds every state still queued or running in the database
  (:func:`owed_translations`); one whose job is gone is queued again, one whose worker died is
  handed to another worker, and after MAX_RECOVERIES deaths it fails with its reason on the
  card (:func:`translation_lost`), whose Translate button tries again. A job run again (or a
  translation pressed again after a failure) asks only for the batches not kept yet
  (`jobs.translation_batches`).
- Without a language model (no LLM_API_KEY) nothing is sent anywhere and the state says so.
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiogram.exceptions import TelegramAPIError
from aiogram.types import FSInputFile, ReplyParameters
from arq import Retry
from arq.connections import ArqRedis
from arq.worker import Function, func
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.llm.translate import TranslationError, translate_texts
from jobs import files
from jobs.cards.platforms import review_state
from jobs.cards.review_card import card_parts
from jobs.cards.translation import (
    DONE,
    FAILED,
    OFFERED,
    QUEUED,
    RUNNING,
    reason_text,
    translated_languages,
)
from jobs.context import WorkerDeps
from jobs.publish import youtube
from jobs.publish.errors import PublishFailure, Reconnect, Transient
from jobs.publish.metadata import display_name
from jobs.publish.target import Target, publication_row
from jobs.queues import IO, translate_job_id
from jobs.runner import MAX_TRIES, forget_recoveries
from jobs.translation_batches import KeptBatches
from locales import gettext
from locales.format import language_name
from pipeline.subtitles import to_srt, to_vtt
from pipeline.transcript import Transcript
from pipeline.translation import (
    BATCH_SIZE,
    TARGETS,
    cue_text,
    default_target,
    fit_translation,
    parse_srt,
)
from storage import repo
from storage.files import MediaStore
from storage.models import PublicationStatus, Recording, RecordingStatus

log = logging.getLogger(__name__)

JOB = "translate_subtitles"
TIMEOUT = 1800
# Where a translation is owed until it ends: where it is offered, and while a recording it
# was started on is being published or has its chapters made again.
_OWED_WHILE = (*OFFERED, RecordingStatus.UPLOADING, RecordingStatus.PROCESSING)
# Seconds between two redraws of the card while batches come in (the last always lands).
_REDRAW_EVERY = 2.0

__all__ = [
    "JOB",
    "TARGETS",
    "TranslatedFile",
    "default_target",
    "enqueue_translation",
    "mark_queued",
    "source_language",
    "translated_downloads",
]


def source_language(recording: Recording, folder: Path | None = None) -> str:
    """The language the lecture's subtitles are in: the transcript's, else the chat's."""
    heard = recording.media.get("transcript", {}).get("language")
    if heard:
        return str(heard)
    if folder is not None and (folder / files.TRANSCRIPT).is_file():
        try:
            return Transcript.load_json(folder / files.TRANSCRIPT).language or recording.language
        except (OSError, ValueError):
            pass
    return recording.language


async def enqueue_translation(
    redis: ArqRedis, workspace_id: int, recording_id: int, target: str
) -> bool:
    """Queue a translation; False when one into that language is already queued or running."""
    job = await redis.enqueue_job(
        JOB,
        workspace_id,
        recording_id,
        target,
        _job_id=translate_job_id(recording_id, target),
        _queue_name=IO,
    )
    return job is not None


@dataclass(frozen=True)
class TranslatedFile:
    """One translated subtitles file to hand out, named after the recording's own files."""

    language: str
    kind: str  # srt, vtt
    filename: str
    path: Path


async def translated_downloads(
    store: MediaStore, recording: Recording, stem: str
) -> list[TranslatedFile]:
    """The translated subtitles written for the recording, SRT then WebVTT per language; a
    file missing or empty (a translation under way writes them only at its end) is left out."""
    found: list[TranslatedFile] = []
    for code in translated_languages(recording):
        for kind, name in (
            ("srt", files.translated_srt(code)),
            ("vtt", files.translated_vtt(code)),
        ):
            path = await store.fetch(recording.workspace_id, recording.id, name)
            if path.is_file() and path.stat().st_size > 0:
                found.append(TranslatedFile(code, kind, f"{stem}.{code}.{kind}", path))
    return found


async def translate_subtitles(
    ctx: dict[str, Any], workspace_id: int, recording_id: int, target: str
) -> None:
    """The arq job: run under its lease, like a stage, so a dead worker's is taken over."""
    presence = ctx.get("presence")
    jid = str(ctx.get("job_id", ""))
    if presence is None or not jid:
        await _translate_job(ctx["deps"], workspace_id, recording_id, target)
        return
    holder = await presence.claim(jid)
    if holder is not None:
        log.warning("job %s is running in worker %s; not starting it twice", jid, holder)
        return
    try:
        await _translate_job(ctx["deps"], workspace_id, recording_id, target)
        # It ended on its own: earlier recoveries from dead workers no longer count.
        await forget_recoveries(ctx["deps"], jid)
    finally:
        await presence.release(jid)


async def mark_queued(session: AsyncSession, recording: Recording, target: str) -> None:
    """The press queued a translation: the card says it waits for a worker, and the database
    owes it from now on (a Redis that loses the queued job loses nothing). A job that has
    started already wrote its own state, which is kept. The caller commits."""
    row = await session.scalar(
        sa.select(Recording)
        .where(Recording.workspace_id == recording.workspace_id, Recording.id == recording.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        return
    found = dict(row.media.get("translations") or {})
    if (found.get(target) or {}).get("status") == RUNNING:
        return
    found[target] = {"status": QUEUED}
    row.media = {**row.media, "translations": found}


async def owed_translations(deps: WorkerDeps) -> list[tuple[int, int, str, bool]]:
    """(workspace, recording, language, started) of every translation the database says is
    queued or running.

    Recordings are narrowed in the database by the words themselves (the JSON text holds
    ``"queued"`` or ``"running"``), then each state is read exactly.
    """
    text = sa.cast(Recording.media, sa.Text)
    async with deps.sessions() as session:
        rows = (
            await session.execute(
                sa.select(Recording.workspace_id, Recording.id, Recording.media).where(
                    Recording.status.in_(list(_OWED_WHILE)),
                    sa.or_(text.contains(f'"{RUNNING}"'), text.contains(f'"{QUEUED}"')),
                )
            )
        ).all()
    found: list[tuple[int, int, str, bool]] = []
    for workspace_id, recording_id, media in rows:
        states = media.get("translations") if isinstance(media, dict) else None
        if not isinstance(states, dict):
            continue
        for code, state in states.items():
            status = state.get("status") if isinstance(state, dict) else None
            if code in TARGETS and status in (QUEUED, RUNNING):
                found.append((workspace_id, recording_id, code, status == RUNNING))
    return found


async def translation_lost(
    deps: WorkerDeps, workspace_id: int, recording_id: int, target: str
) -> None:
    """Its worker died too often: the card and the chat say it stopped; the card's Translate
    button starts it again."""
    async with deps.sessions() as session:
        recording = await repo.get_recording(session, workspace_id, recording_id)
    if recording is not None:
        await _failed(deps, recording, target, "worker_lost")


async def _translate_job(
    deps: WorkerDeps, workspace_id: int, recording_id: int, target: str
) -> None:
    if target not in TARGETS:
        log.warning("recording %s: no translation into %r", recording_id, target)
        return
    async with deps.sessions() as session:
        recording = await repo.get_recording(session, workspace_id, recording_id)
    if recording is None:
        return
    try:
        count = await _translate(deps, recording, target)
    except TranslationError as exc:
        log.warning("recording %s: translation into %s failed: %s", recording_id, target, exc)
        await _failed(deps, recording, target, exc.code)
    except _NoSubtitles:
        await _failed(deps, recording, target, "no_subtitles")
    except _Offline:
        await _failed(deps, recording, target, "offline")
    except Exception:
        log.exception("recording %s: translation into %s failed", recording_id, target)
        await _failed(deps, recording, target, "internal")
        raise
    else:
        log.info("recording %s: subtitles translated into %s, %d cues", recording_id, target, count)


class _NoSubtitles(Exception):
    pass


class _Offline(Exception):
    pass


async def _translate(deps: WorkerDeps, recording: Recording, target: str) -> int:
    settings = deps.settings
    if settings.llm_api_key is None:
        raise _Offline
    ws, rec = recording.workspace_id, recording.id
    srt = await deps.store.fetch(ws, rec, files.SRT)
    subtitles = srt.read_text(encoding="utf-8") if srt.is_file() else ""
    cues = parse_srt(subtitles)
    if not cues:
        raise _NoSubtitles
    folder = deps.store.recording_dir(ws, rec)
    source = source_language(recording, folder)
    kept = KeptBatches(folder, target, subtitles, source, settings.llm_model, str(BATCH_SIZE))
    known = kept.load()
    last_drawn = 0.0
    written = len(known)
    # Batches end concurrently: one at a time writes its count, and never a smaller one.
    lock = asyncio.Lock()

    async def on_result(index: int, texts: list[str]) -> None:
        kept.add(index, texts)

    async def on_batch(done: int, total: int) -> None:
        nonlocal last_drawn, written
        async with lock:
            if done <= written:
                return
            written = done
            state = {"status": RUNNING, "done": done, "total": total}
            await _set_state(deps, recording, target, state)
            if done == total or time.monotonic() - last_drawn >= _REDRAW_EVERY:
                last_drawn = time.monotonic()
                await _redraw(deps, recording)

    batches = math.ceil(len(cues) / BATCH_SIZE)
    state = {"status": RUNNING, "done": len(known), "total": batches}
    await _set_state(deps, recording, target, state)
    await _redraw(deps, recording)
    texts = await translate_texts(
        [cue_text(c) for c in cues],
        source,
        target,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value(),
        model=settings.llm_model,
        on_batch=on_batch,
        known=known,
        on_result=on_result,
    )
    fitted = fit_translation(cues, texts)
    files.write_text(folder / files.translated_srt(target), to_srt(fitted))
    files.write_text(folder / files.translated_vtt(target), to_vtt(fitted))
    kept.remove()
    await deps.store.push(ws, rec)
    done: dict[str, Any] = {"status": DONE, "cues": len(fitted)}
    card = await _redraw(deps, recording)
    await _send_file(deps, recording, folder / files.translated_srt(target), target, card)
    problem, replaced = await _to_youtube(deps, recording, target)
    if problem is not None:
        done["youtube"] = not problem
        if replaced and not problem:
            done["replaced"] = True
        if problem:
            await _tell(deps, recording, "translate.youtube_failed", target, problem, card)
    await _set_state(deps, recording, target, done)
    await _redraw(deps, recording)
    return len(fitted)


async def _no_draw(target: Target, state: str, params: dict[str, Any]) -> None:
    """The card shows the translation's line; the publishing states are not drawn."""


async def _to_youtube(
    deps: WorkerDeps, recording: Recording, target: str
) -> tuple[str | None, bool]:
    """The track on the recording's YouTube video when that is published already.

    (None, _): there is no published video; ("", replaced): added, or the text of the track
    in that language replaced; otherwise why not, in the recording's language. The YouTube
    publisher does it, finding the video made and every other step remembered, so only the
    tracks it lacks are added, each once, and a track whose text changed is updated in place.
    """
    lang = recording.language
    async with deps.sessions() as session:
        current = await repo.get_recording(session, recording.workspace_id, recording.id)
        row = await publication_row(session, recording.workspace_id, recording.id, "youtube")
        if current is None or row is None or row.status != PublicationStatus.DONE:
            return None, False
        if not row.remote_id:
            return None, False
        found = await repo.credentials(session, recording.workspace_id, "youtube")
    folder = deps.store.recording_dir(recording.workspace_id, recording.id)
    step = youtube.replaced_step(
        target, youtube.caption_digest(folder / files.translated_srt(target))
    )
    publisher = Target(deps, current, "youtube", row, found[-1] if found else None, 1, _no_draw)
    try:
        await youtube.PLATFORM.publish(publisher)
    except PublishFailure as exc:
        return gettext(lang, f"publish.error.{exc.code}", **exc.params), False
    except Reconnect:
        return gettext(lang, "publish.error.reconnect", platform="YouTube"), False
    except (Transient, Retry):
        return gettext(lang, "translate.reason_youtube_later"), False
    remembered = publisher.remembered()
    if step in remembered:
        if remembered[step]:
            return "", True
    elif remembered.get(f"captions:{target}"):
        return "", False
    notes = remembered.get("notes") or []
    return (str(notes[-1]) if notes else gettext(lang, "translate.reason_youtube_later")), False


async def _set_state(
    deps: WorkerDeps, recording: Recording, target: str, state: dict[str, Any]
) -> None:
    """The target's state in the recording's media, written at once (other keys kept)."""
    async with deps.sessions() as session:
        row = await session.scalar(
            sa.select(Recording)
            .where(Recording.workspace_id == recording.workspace_id, Recording.id == recording.id)
            .with_for_update()
        )
        if row is None:
            return
        media = dict(row.media)
        found = dict(media.get("translations") or {})
        found[target] = state
        media["translations"] = found
        row.media = media
        await session.commit()
        recording.media = media


async def _redraw(deps: WorkerDeps, recording: Recording) -> int | None:
    """The card drawn again from what is stored; returns its message id."""
    card_id = review_state(recording).get("card")
    if recording.chat_id is None or not card_id:
        return None
    async with deps.sessions() as session:
        current = await repo.get_recording(session, recording.workspace_id, recording.id)
        if current is None:
            return None
        text, markup = await card_parts(session, deps.store, current)
    await deps.progress.settle(recording.chat_id, int(card_id), text, markup)
    return int(card_id)


async def _send_file(
    deps: WorkerDeps, recording: Recording, path: Path, target: str, card_id: int | None
) -> None:
    if recording.chat_id is None:
        return
    lang = recording.language
    stem = Path(recording.source_name or "").stem or f"recording-{recording.id}"
    try:
        await deps.bot.send_document(
            recording.chat_id,
            FSInputFile(path, filename=f"{stem[:60]}.{target}.srt"),
            caption=gettext(lang, "translate.file_caption", language=language_name(lang, target)),
            message_thread_id=recording.thread_id,
            reply_parameters=(
                ReplyParameters(message_id=card_id, allow_sending_without_reply=True)
                if card_id
                else None
            ),
        )
    except TelegramAPIError as exc:
        log.warning("recording %s: translated subtitles not sent: %s", recording.id, exc.message)


async def _failed(deps: WorkerDeps, recording: Recording, target: str, code: str) -> None:
    """The card and a message say why, in the recording's language."""
    await _set_state(deps, recording, target, {"status": FAILED, "reason": code})
    card = await _redraw(deps, recording)
    reason = reason_text(recording.language, code)
    await _tell(deps, recording, "translate.failed_message", target, reason, card)


async def _tell(
    deps: WorkerDeps, recording: Recording, key: str, target: str, reason: str, card: int | None
) -> None:
    if recording.chat_id is None:
        return
    lang = recording.language
    text = gettext(
        lang,
        key,
        title=html.escape(display_name(recording)),
        language=language_name(lang, target),
        reason=reason,
    )
    try:
        await deps.bot.send_message(
            recording.chat_id,
            text,
            message_thread_id=recording.thread_id,
            reply_parameters=(
                ReplyParameters(message_id=card, allow_sending_without_reply=True) if card else None
            ),
        )
    except TelegramAPIError as exc:
        log.warning("recording %s: translation outcome not told: %s", recording.id, exc.message)


def function() -> Function:
    """The arq function of the io queue; keep_result=0 frees its job id when it ends.

    Only a job taken over from a dead worker runs again (arq counts that as a try; the job
    never raises Retry), and the recovery sweep stops that after MAX_RECOVERIES.
    """
    return func(translate_subtitles, name=JOB, keep_result=0, max_tries=MAX_TRIES, timeout=TIMEOUT)
