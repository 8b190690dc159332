"""What the workers post in the chat: the progress message and the review card.

The bot re-renders the same cards after a person acts on them, so everything here takes a
Bot, a session and the media store rather than a worker's context where it can.

The review card outlives Publish: while the publish jobs run it carries one line per platform
(paced like the progress message), and once every platform has an outcome it shows each one
(its link, the file in the chat, or why it failed) with the buttons that still apply: Publish
again, Delete. A card is written in its recording's language, whoever pressed the button;
what a presser alone reads (an alert) is the bot's to word in the presser's language.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramRetryAfter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import FSInputFile, InlineKeyboardMarkup, Message, ReplyParameters
from aiogram.utils.keyboard import InlineKeyboardBuilder
from arq.connections import ArqRedis
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from jobs import control, files
from jobs.context import WorkerDeps
from jobs.progress import ProgressHub
from jobs.queues import PIPELINE
from locales import gettext
from locales.format import duration, language_name
from pipeline.timecodes import MIN_CHAPTERS, Chapter, format_tc
from storage import repo
from storage.files import MediaStore
from storage.models import (
    Publication,
    PublicationStatus,
    Recording,
    RecordingStatus,
    Workspace,
    WorkspaceKind,
)

log = logging.getLogger(__name__)

# Telegram refuses longer texts; stay well inside so entities never tip it over.
MAX_TEXT = 4000
_LINE = 600

# --- callback data of buttons the workers post ------------------------------------------


class RetryCb(CallbackData, prefix="rt1"):
    rec: int


class ReviewCb(CallbackData, prefix="rv1"):
    action: str
    rec: int


class PlatformCb(CallbackData, prefix="rp1"):
    rec: int
    p: str


PUBLISH = "pub"
TOPICS = "top"
TITLE = "ttl"
DESCRIPTION = "dsc"
PREVIEW = "pre"
DISCARD = "dis"
REVIEW_ACTIONS = (PUBLISH, TOPICS, TITLE, DESCRIPTION, PREVIEW, DISCARD)
# The answers to "Discard?": never on the card itself, only under the question.
DISCARD_SURE = "dsy"
DISCARD_KEEP = "dsn"


class OutcomeCb(CallbackData, prefix="ro1"):
    """Buttons of a card whose publishing has ended, and of the question Delete asks."""

    action: str
    rec: int


AGAIN = "again"
DELETE = "del"
DELETE_SURE = "dly"
DELETE_KEEP = "dln"


# --- the progress message ---------------------------------------------------------------

_PERCENT = re.compile(r"(\d{1,3})\s?%")
_TAG = re.compile(r"<[^>]*>")
_BAR_CELLS = 10


class _StageClock:
    __slots__ = ("first_percent", "first_percent_at", "started")

    def __init__(self, now: float) -> None:
        self.started = now
        self.first_percent: int | None = None
        self.first_percent_at = now


# When each running stage was first reported, per run. Keyed by the run's summaries dict:
# the runner makes one per run of a stage, so a retried stage starts its clock again.
_clocks: dict[tuple[int, str, int], _StageClock] = {}
_MAX_CLOCKS = 512


def _clock(recording: Recording, stage: str, summaries: dict[str, str]) -> _StageClock:
    key = (recording.id, stage, id(summaries))
    clock = _clocks.get(key)
    if clock is None:
        if len(_clocks) >= _MAX_CLOCKS:
            for old in sorted(_clocks, key=lambda k: _clocks[k].started)[: _MAX_CLOCKS // 2]:
                del _clocks[old]
        clock = _clocks[key] = _StageClock(time.monotonic())
    return clock


def _forget(recording_id: int) -> None:
    for key in [k for k in _clocks if k[0] == recording_id]:
        del _clocks[key]


def shown_stages() -> tuple[str, ...]:
    """The stages a recording goes through, in order."""
    return PIPELINE


def render(recording: Recording, summaries: dict[str, str], current: str | None = None) -> str:
    """The progress message: one line per stage, the running one with its bar and times."""
    return _render(recording, summaries, current, timing=True)


def _render(
    recording: Recording, summaries: dict[str, str], current: str | None, *, timing: bool
) -> str:
    lang = recording.language
    stages = shown_stages()
    lines = [
        gettext(lang, "progress.title", name=html.escape(display_name(recording))),
    ]
    position = stages.index(recording.stage) if recording.stage in stages else len(stages)
    finished = recording.stage is None and recording.status is not RecordingStatus.FAILED
    for index, stage in enumerate(stages):
        name = gettext(lang, f"stage.{stage}")
        if stage in summaries and stage != recording.stage:
            lines.append(clip(summaries[stage]))
        elif stage == recording.stage and current:
            lines += [clip(line) for line in current.split("\n")]
            if timing:
                extra = _timing(recording, stage, summaries, current)
                if extra:
                    lines.append(extra)
        elif stage == recording.stage:
            lines.append(gettext(lang, "card.queued", stage=name))
        elif index < position or finished:
            lines.append(summaries.get(stage) or gettext(lang, "card.done", stage=name))
        else:
            lines.append(gettext(lang, "card.waiting", stage=name))
    if current and recording.stage not in stages:
        # Work after the pipeline (publishing) reports below the finished stages.
        lines += [clip(line) for line in current.split("\n")]
    return fit("\n".join(lines))


def _timing(recording: Recording, stage: str, summaries: dict[str, str], current: str) -> str:
    clock = _clock(recording, stage, summaries)
    now = time.monotonic()
    elapsed = now - clock.started
    lang = recording.language
    found = _PERCENT.findall(_TAG.sub("", current))
    if not found:
        # A bare clock is noise for a stage that is over in a moment.
        return gettext(lang, "card.elapsed", elapsed=duration(elapsed)) if elapsed >= 10 else ""
    percent = min(int(found[-1]), 100)
    if clock.first_percent is None:
        clock.first_percent, clock.first_percent_at = percent, now
    bar = progress_bar(percent)
    done = percent - clock.first_percent
    spent = now - clock.first_percent_at
    if done > 0 and spent >= 1.0 and percent < 100:
        left = spent / done * (100 - percent)
        return gettext(
            lang,
            "card.timing_eta",
            bar=bar,
            percent=percent,
            elapsed=duration(elapsed),
            left=duration(left),
        )
    return gettext(lang, "card.timing", bar=bar, percent=percent, elapsed=duration(elapsed))


def progress_bar(percent: int) -> str:
    filled = round(max(0, min(percent, 100)) * _BAR_CELLS / 100)
    return "▰" * filled + "▱" * (_BAR_CELLS - filled)


def clip(line: str, limit: int = _LINE) -> str:
    """Shorten an HTML line without cutting a tag or an entity in half."""
    if len(line) <= limit:
        return line
    plain = html.unescape(_TAG.sub("", line))
    return html.escape(plain[: limit - 1]) + "…"


def safe(text: str) -> str:
    """Text that may or may not hold markup, made safe to show as HTML."""
    return html.escape(html.unescape(_TAG.sub("", text)))


def fit(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    lines = text.split("\n")
    while len("\n".join(lines)) > MAX_TEXT - 2 and len(lines) > 1:
        lines.pop()
    return "\n".join([*lines, "…"])


def display_name(recording: Recording) -> str:
    """What a recording is called in lists and messages: the title a person gave it on the
    card, else the caption it came with, else its file or page name."""
    facts = recording.options.get("facts") or {}
    name = (
        (recording.media.get("review") or {}).get("title")
        or (facts.get("title") if isinstance(facts, dict) else None)
        or recording.source_name
        or f"#{recording.id}"
    )
    name = str(name)
    return name if len(name) <= 80 else name[:77] + "…"


def pace_key(chat_id: int, message_id: int) -> str:
    # The key jobs.progress keeps the time of a message's next allowed edit under.
    return f"leap:progress:{chat_id}:{message_id}"


# The longest flood-control wait a card edit sits out.
MAX_EDIT_WAIT = 30.0


async def paced_edit(
    bot: Bot,
    redis: Redis,
    chat_id: int,
    message_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None,
    interval: float,
) -> None:
    """One edit with a keyboard, in turn with every paced reporter of the same message.

    Waits until the message's next allowed edit; if someone else edited meanwhile, waits for
    their turn to pass too, so a reporter's last text can never land on top of this one.
    """
    key = pace_key(chat_id, message_id)
    for _ in range(10):
        next_at = await _next_allowed(redis, key)
        wait = next_at - time.time()
        if wait <= 0:
            break
        await asyncio.sleep(wait + 0.2)
        if await _next_allowed(redis, key) == next_at:
            break
    for _ in range(3):
        try:
            await bot.edit_message_text(
                text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
        except TelegramRetryAfter as exc:
            if exc.retry_after > MAX_EDIT_WAIT:
                # Not worth holding a stage or an answer for: the message keeps its last text
                # and /recordings shows where the recording stands.
                log.warning("card edit dropped: Telegram asks to wait %s s", exc.retry_after)
                break
            await asyncio.sleep(exc.retry_after)
            continue
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                log.warning("card edit refused: %s", exc.message)
        except TelegramAPIError as exc:
            log.warning("card edit failed: %s", exc.message)
        except OSError as exc:
            log.warning("card edit failed: %s", type(exc).__name__)
        break
    try:
        await redis.set(key, repr(time.time() + interval), ex=int(interval) + 2)
    except Exception:
        log.debug("progress pace not shared", exc_info=True)


async def _next_allowed(redis: Redis, key: str) -> float:
    try:
        value = await redis.get(key)
    except Exception:
        return 0.0
    return float(value) if value else 0.0


def retry_keyboard(recording: Recording) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=gettext(recording.language, "card.retry"), callback_data=RetryCb(rec=recording.id)
    )
    return builder.as_markup()


def failed_text(recording: Recording, summaries: dict[str, str], reason: str) -> str:
    line = gettext(recording.language, "progress.failed", reason=safe(reason))
    return final_text(recording, summaries, line)


def final_text(recording: Recording, summaries: dict[str, str], line: str) -> str:
    """The progress message once its stage has stopped for good, `line` where it stood."""
    return _render(recording, summaries, line, timing=False)


async def stage_failed(
    deps: WorkerDeps, recording: Recording, summaries: dict[str, str], reason: str
) -> None:
    """A stage failed: the progress message says why and offers to try the stage again."""
    _forget(recording.id)
    if recording.chat_id is None or recording.progress_message_id is None:
        return
    # Whatever this process still has to say lands first, so the failure is the last word.
    await deps.progress.finish(recording.chat_id, recording.progress_message_id)
    await paced_edit(
        deps.bot,
        deps.redis,
        recording.chat_id,
        recording.progress_message_id,
        failed_text(recording, summaries, reason),
        retry_keyboard(recording),
        deps.settings.progress_interval,
    )


# --- the review card --------------------------------------------------------------------


def review_state(recording: Recording) -> dict[str, Any]:
    return dict(recording.media.get("review") or {})


def set_review_state(recording: Recording, **changes: Any) -> None:
    # A new dict, so SQLAlchemy sees the JSON column change.
    recording.media = {**recording.media, "review": {**review_state(recording), **changes}}


async def connected_platforms(session: AsyncSession, workspace_id: int) -> list[str]:
    # Imported here: publishing imports this module to draw its progress lines.
    from jobs.publish import PLATFORMS, PROVIDERS

    providers = {c.provider for c in await repo.credentials(session, workspace_id)}
    return [p for p in PLATFORMS if p == "export" or PROVIDERS.get(p) in providers]


async def offered_platforms(session: AsyncSession, recording: Recording) -> list[str]:
    """The connected platforms this recording can go to: sound alone skips YouTube and VK."""
    from jobs.publish import platforms_for

    usable = platforms_for(recording)
    return [p for p in await connected_platforms(session, recording.workspace_id) if p in usable]


def default_platforms(
    recording: Recording, workspace: Workspace | None, connected: list[str]
) -> list[str]:
    """The template's platforms, else the workspace's defaults, else every connected one."""
    for wanted in _named_platforms(recording, workspace):
        chosen = [p for p in connected if p in wanted]
        if chosen:
            return chosen
    return list(connected)


def _named_platforms(recording: Recording, workspace: Workspace | None) -> list[list[str]]:
    """The platforms the template names, then those the workspace's settings name."""
    template = recording.media.get("compose", {}).get("platforms") or []
    defaults = (workspace.settings or {}).get("platforms") if workspace is not None else None
    return [list(template), list(defaults or [])]


def _lost_for_sound(
    recording: Recording, workspace: Workspace | None, chosen: list[str]
) -> list[str]:
    """Platforms named for publishing that a sound-only recording cannot go to, when none of
    the named ones is left: publishing by itself elsewhere would surprise whoever named them."""
    from jobs.publish import platforms_for

    named = next((n for n in _named_platforms(recording, workspace) if n), [])
    if any(p in chosen for p in named):
        return []
    usable = platforms_for(recording)
    return [p for p in named if p not in usable]


def selected_platforms(recording: Recording, connected: list[str]) -> list[str]:
    chosen = review_state(recording).get("platforms") or []
    return [p for p in connected if p in chosen]


async def fetch_metadata(store: MediaStore, recording: Recording) -> dict[str, Any]:
    """`load_metadata` off the event loop: with media in a bucket it may download."""
    return await asyncio.to_thread(load_metadata, store, recording)


def load_metadata(store: MediaStore, recording: Recording) -> dict[str, Any]:
    """metadata.json; with media in a bucket this waits for a small request."""
    # A worker on another machine may have written it: the store brings the newest copy.
    return _read_metadata(store.fetch_now(recording.workspace_id, recording.id, files.METADATA))


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def metadata_chapters(metadata: dict[str, Any]) -> list[Chapter]:
    found: list[Chapter] = []
    for item in metadata.get("chapters") or []:
        try:
            found.append(Chapter.model_validate(item))
        except ValueError:
            continue
    return found


def quality_flags(recording: Recording) -> list[dict[str, str]]:
    flags = recording.media.get("quality", {}).get("flags") or []
    return [f for f in flags if isinstance(f, dict) and f.get("code")]


def flag_text(lang: str, flag: dict[str, str]) -> str:
    key = f"review.flag_{flag.get('code')}"
    text = gettext(lang, key)
    if text == key:
        text = gettext(lang, "review.flag_other", code=html.escape(str(flag.get("code"))))
    return text


def platform_name(lang: str, platform: str) -> str:
    key = f"review.platform_{platform}"
    text = gettext(lang, key)
    return platform if text == key else text


def recording_title(recording: Recording, metadata: dict[str, Any]) -> str:
    title = metadata.get("title") or recording.media.get("compose", {}).get("title")
    return str(title or display_name(recording))


def trim_and_template(recording: Recording, _: Callable[..., str]) -> list[str]:
    """How much trimming took off and which template made the description, when known."""
    lines = []
    trim = recording.media.get("trim", {})
    if trim.get("duration"):
        before = float(trim.get("source_duration") or trim["duration"])
        after = float(trim["duration"])
        lines.append(trimmed_line(before, after, _))
    template = recording.media.get("compose", {}).get("template")
    if template:
        lines.append(_("review.template", name=html.escape(str(template))))
    spoken = spoken_languages(recording, _)
    if spoken:
        lines.append(_("review.language", languages=spoken))
    return lines


def trimmed_line(before: float, after: float, _: Callable[..., str]) -> str:
    """The trim line, both lengths rounded alike (half a second up): "0:45 → 0:42 after
    trimming"; when less than a second came off, that nothing was cut (never "0:42 → 0:42")."""
    if before - after < 1.0:
        return _("review.durations_uncut", after=duration(math.floor(after + 0.5)))
    return _(
        "review.durations",
        before=duration(math.floor(before + 0.5)),
        after=duration(math.floor(after + 0.5)),
    )


def spoken_languages(recording: Recording, _: Callable[..., str]) -> str:
    """The transcript's languages as the card names them: the main one first, then any
    other the lecture switched to, with how long it was heard ("русский, английский 0:40")."""
    heard = recording.media.get("transcript", {})
    main = heard.get("language")
    if not main:
        return ""
    lang = recording.language
    names = [language_name(lang, str(main))]
    others = heard.get("languages") or {}
    for code, seconds in sorted(others.items(), key=lambda item: -float(item[1])):
        if code != main and float(seconds) >= 1.0:
            names.append(f"{language_name(lang, str(code))} {duration(float(seconds))}")
    return ", ".join(names)


def review_text(
    recording: Recording,
    metadata: dict[str, Any],
    connected: list[str],
    selected: list[str],
    note: str | None = None,
    publishing: Sequence[str] = (),
) -> str:
    """The card; `publishing` are its per-platform lines once Publish was pressed."""
    lang = recording.language
    _ = lambda key, **params: gettext(lang, key, **params)  # noqa: E731
    lines = [_("review.heading", title=html.escape(recording_title(recording, metadata)))]
    lines += trim_and_template(recording, _)

    chapters = metadata_chapters(metadata)
    lines.append("")
    if chapters:
        lines.append(_("review.chapters"))
        lines += [
            f"<code>{format_tc(c.start)}</code> {clip(html.escape(c.title), 120)}" for c in chapters
        ]
        if len(chapters) < MIN_CHAPTERS and "youtube" in selected:
            # Nothing is padded to YouTube's minimum: say what its description will lack.
            lines.append(_("review.youtube_no_chapters", min=MIN_CHAPTERS, count=len(chapters)))
    else:
        lines.append(_("review.no_chapters"))

    flags = quality_flags(recording)
    if flags:
        lines += ["", _("review.warnings")]
        lines += [f"• {flag_text(lang, f)}" for f in flags[:10]]

    lines.append("")
    status = recording.status
    if status is RecordingStatus.AWAITING_REVIEW:
        if recording.media.get("source", {}).get("has_video") is False:
            lines.append(_("review.audio_only"))
        if selected:
            names = ", ".join(platform_name(lang, p) for p in selected)
            lines.append(_("review.publish_to", platforms=names))
        else:
            lines.append(_("review.choose_platforms"))
    else:
        lines.append(_(f"review.status_{status.value}") if _has(lang, status) else status.value)
        lines += [clip(line) for line in publishing]
    if note:
        lines += ["", note]
    return fit("\n".join(lines))


def _has(lang: str, status: RecordingStatus) -> bool:
    key = f"review.status_{status.value}"
    return gettext(lang, key) != key


def review_keyboard(
    recording: Recording, connected: list[str], selected: list[str]
) -> InlineKeyboardMarkup | None:
    if recording.status is not RecordingStatus.AWAITING_REVIEW:
        return None
    lang = recording.language
    rec = recording.id
    builder = InlineKeyboardBuilder()
    for platform in connected:
        mark = "✅" if platform in selected else "▫️"
        builder.button(
            text=f"{mark} {platform_name(lang, platform)}",
            callback_data=PlatformCb(rec=rec, p=platform),
        )
    for action in REVIEW_ACTIONS:
        builder.button(
            text=gettext(lang, f"review.button_{action}"),
            callback_data=ReviewCb(action=action, rec=rec),
        )
    toggle_rows = [2] * ((len(connected) + 1) // 2)
    if len(connected) % 2:
        toggle_rows[-1] = 1
    builder.adjust(*toggle_rows, 1, 3, 2)
    return builder.as_markup()


async def card_parts(
    session: AsyncSession, store: MediaStore, recording: Recording, note: str | None = None
) -> tuple[str, InlineKeyboardMarkup | None]:
    connected = await offered_platforms(session, recording)
    selected = selected_platforms(recording, connected)
    metadata = await fetch_metadata(store, recording)
    if recording.status is RecordingStatus.AWAITING_REVIEW:
        return (
            review_text(recording, metadata, connected, selected, note),
            review_keyboard(recording, connected, selected),
        )
    from jobs.publish import outcome_lines

    rows = await repo.publications(session, recording.workspace_id, recording.id)
    return (
        review_text(recording, metadata, connected, selected, note, outcome_lines(recording, rows)),
        outcome_keyboard(recording, rows),
    )


# --- the card while publishing and after -----------------------------------------------


def outcome_keyboard(
    recording: Recording, rows: Sequence[Publication]
) -> InlineKeyboardMarkup | None:
    """Once every platform has an outcome: Publish again where it applies, and Delete."""
    if recording.status not in (RecordingStatus.READY, RecordingStatus.FAILED) or not rows:
        return None
    if any(r.status in (PublicationStatus.PENDING, PublicationStatus.UPLOADING) for r in rows):
        return None
    lang = recording.language
    builder = InlineKeyboardBuilder()
    if control.republishable(recording, rows):
        builder.button(
            text=gettext(lang, "recs.button_publish_again"),
            callback_data=OutcomeCb(action=AGAIN, rec=recording.id),
        )
    builder.button(
        text=gettext(lang, "recs.button_delete"),
        callback_data=OutcomeCb(action=DELETE, rec=recording.id),
    )
    builder.adjust(2)
    return builder.as_markup()


async def show_publish_started(
    bot: Bot, session: AsyncSession, store: MediaStore, recording: Recording
) -> None:
    """The card right after Publish: each platform's line instead of the review buttons.

    A publish job quick enough to end before this edit landed has drawn the outcome already,
    and this edit would hide it: the card is drawn once more from what is stored by then.
    """
    await refresh_review_card(bot, session, store, recording)
    await session.commit()
    await session.refresh(recording)
    if recording.status is not RecordingStatus.UPLOADING:
        await refresh_review_card(bot, session, store, recording)


def show_publishing(
    hub: ProgressHub, recording: Recording, metadata: dict[str, Any], lines: str
) -> None:
    """A publish job's per-platform lines on the card, paced like the progress message."""
    card_id = review_state(recording).get("card")
    if recording.chat_id is None or not card_id:
        return
    text = review_text(recording, metadata, [], [], publishing=lines.split("\n"))
    hub.message(recording.chat_id, int(card_id)).update(text)


async def publishing_ended(deps: WorkerDeps, recording: Recording) -> None:
    """Every platform has an outcome: the card shows them, with the buttons that still apply."""
    card_id = review_state(recording).get("card")
    if recording.chat_id is None or not card_id:
        return
    chat_id = recording.chat_id
    await deps.progress.finish(chat_id, int(card_id))
    # Under flood control the last line may still wait in the background: it is older than
    # the outcome and must not land after it. A new reporter of the card drops it.
    deps.progress.message(chat_id, int(card_id))
    await deps.progress.finish(chat_id, int(card_id))
    async with deps.sessions() as session:
        current = await repo.get_recording(session, recording.workspace_id, recording.id)
        if current is None:
            return
        text, markup = await card_parts(session, deps.store, current)
    await paced_edit(
        deps.bot,
        deps.redis,
        recording.chat_id,
        int(card_id),
        text,
        markup,
        deps.settings.progress_interval,
    )


async def send_review_card(
    bot: Bot,
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    *,
    note: str | None = None,
    with_subtitles: bool = False,
) -> Message | None:
    """Post the card (replying to the progress message) and remember where it is."""
    if recording.chat_id is None:
        return None
    state = review_state(recording)
    if "platforms" not in state:
        workspace = await session.get(Workspace, recording.workspace_id)
        connected = await offered_platforms(session, recording)
        set_review_state(recording, platforms=default_platforms(recording, workspace, connected))
    text, markup = await card_parts(session, store, recording, note)
    reply = (
        ReplyParameters(message_id=recording.progress_message_id, allow_sending_without_reply=True)
        if recording.progress_message_id
        else None
    )
    card = await bot.send_message(
        recording.chat_id,
        text,
        reply_markup=markup,
        message_thread_id=recording.thread_id,
        reply_parameters=reply,
    )
    set_review_state(recording, card=card.message_id)
    await session.commit()
    if with_subtitles:
        await _send_subtitles(bot, store, recording, card.message_id)
    return card


async def _send_subtitles(bot: Bot, store: MediaStore, recording: Recording, card_id: int) -> None:
    path = await store.fetch(recording.workspace_id, recording.id, files.SRT)
    if not path.is_file() or path.stat().st_size == 0:
        return
    stem = Path(recording.source_name or "").stem or f"recording-{recording.id}"
    try:
        await bot.send_document(
            recording.chat_id,  # type: ignore[arg-type]
            FSInputFile(path, filename=f"{stem[:60]}.srt"),
            caption=gettext(recording.language, "review.subtitles"),
            message_thread_id=recording.thread_id,
            reply_parameters=ReplyParameters(message_id=card_id, allow_sending_without_reply=True),
        )
    except TelegramAPIError as exc:
        log.warning("recording %s: subtitles not sent: %s", recording.id, exc.message)


async def refresh_review_card(
    bot: Bot,
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    note: str | None = None,
) -> None:
    """Edit the card in place after a change; a card that is gone is posted again."""
    card_id = review_state(recording).get("card")
    if recording.chat_id is None:
        return
    if not card_id:
        await send_review_card(bot, session, store, recording, note=note)
        return
    text, markup = await card_parts(session, store, recording, note)
    try:
        await bot.edit_message_text(
            text=text, chat_id=recording.chat_id, message_id=card_id, reply_markup=markup
        )
    except TelegramBadRequest as exc:
        if "not modified" in exc.message:
            return
        if "not found" in exc.message:
            await send_review_card(bot, session, store, recording, note=note)
            return
        log.warning("recording %s: card edit refused: %s", recording.id, exc.message)


async def pipeline_finished(
    deps: WorkerDeps, recording: Recording, summaries: dict[str, str]
) -> None:
    """The last stage is done: settle the progress message, then ask for a review."""
    _forget(recording.id)
    if recording.chat_id is not None and recording.progress_message_id is not None:
        progress = deps.progress.message(recording.chat_id, recording.progress_message_id)
        progress.update(render(recording, summaries))
        await deps.progress.finish(recording.chat_id, recording.progress_message_id)
    if recording.status is not RecordingStatus.AWAITING_REVIEW:
        return
    async with deps.sessions() as session:
        current = await repo.get_recording(session, recording.workspace_id, recording.id)
        if current is None or current.status is not RecordingStatus.AWAITING_REVIEW:
            return
        try:
            await review_ready(deps.bot, session, deps.redis, deps.store, current)
        except TelegramAPIError as exc:
            log.warning("recording %s: review card not posted: %s", recording.id, exc.message)


async def review_ready(
    bot: Bot, session: AsyncSession, redis: ArqRedis, store: MediaStore, recording: Recording
) -> None:
    """Post the review card; start publishing at once when the template or workspace says so."""
    workspace = await session.get(Workspace, recording.workspace_id)
    connected = await offered_platforms(session, recording)
    platforms = default_platforms(recording, workspace, connected)
    set_review_state(recording, platforms=platforms)
    lang = recording.language
    auto = (
        bool(recording.media.get("compose", {}).get("auto_publish"))
        or bool(recording.options.get("auto_publish"))
        or bool((workspace.settings or {}).get("auto_publish") if workspace is not None else False)
    )
    note = None
    lost = _lost_for_sound(recording, workspace, platforms) if auto else []
    if auto and quality_flags(recording):
        note = gettext(lang, "review.auto_held")
    elif lost:
        names = ", ".join(platform_name(lang, p) for p in lost)
        note = gettext(lang, "review.auto_held_sound", platforms=names)
    elif auto and platforms:
        try:
            await control.publish(session, redis, recording, platforms, None)
        except Exception:
            log.exception("recording %s: automatic publishing did not start", recording.id)
            await session.rollback()
            recording = await repo.get_recording(  # type: ignore[assignment]
                session, recording.workspace_id, recording.id
            )
            set_review_state(recording, platforms=platforms)
            note = gettext(lang, "review.auto_failed")
        else:
            names = ", ".join(platform_name(lang, p) for p in platforms)
            note = gettext(lang, "review.auto_started", platforms=names)
    await send_review_card(bot, session, store, recording, note=note, with_subtitles=True)
    if workspace is not None and workspace.kind is WorkspaceKind.GROUP and not (auto and platforms):
        await _call_admins(bot, session, workspace, recording)


async def _call_admins(
    bot: Bot, session: AsyncSession, workspace: Workspace, recording: Recording
) -> None:
    """In a group only admins publish: name them, so Telegram tells them a card waits."""
    admins = [m for m in await repo.members(session, workspace.id) if m.role.is_admin][:5]
    if not admins or recording.chat_id is None:
        return
    names = ", ".join(
        f'<a href="tg://user?id={m.user_id}">{html.escape(m.name or str(m.user_id))}</a>'
        for m in admins
    )
    text = gettext(recording.language, "review.waits_for_admins", names=names)
    try:
        await bot.send_message(
            recording.chat_id,
            text,
            message_thread_id=recording.thread_id,
            disable_notification=False,
        )
    except TelegramAPIError as exc:
        log.warning("recording %s: admins not called: %s", recording.id, exc.message)
