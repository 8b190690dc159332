"""The progress message's text: one line per stage, the running one with its bar and times.

- A stage that is done shows its summary (what it found or made), the running one what it
  reports now plus a bar, the time it has taken and, once its percentages move, the time
  left; later stages say they wait. Work after the pipeline (publishing) reports below.
- Times are kept per run of a stage (the runner makes one summaries dict per run), so a
  retried stage starts its clock again; a bare clock is shown only after ten seconds.
- Once a stage stops for good the message keeps its lines without times (`final_text`); a
  failure says why and offers Retry (`stage_failed`), as the last word on the message.
- Edits go through jobs.progress, which paces them; this module only writes the text.
"""

from __future__ import annotations

import html
import re
import time

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from jobs.cards.callbacks import RetryCb
from jobs.cards.text import TAG, clip, fit, safe
from jobs.context import WorkerDeps
from jobs.publish.metadata import display_name
from jobs.queues import PIPELINE
from locales import gettext
from locales.format import duration
from storage.models import Recording, RecordingStatus

_PERCENT = re.compile(r"(\d{1,3})\s?%")
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


def forget_clocks(recording_id: int) -> None:
    """Drop a recording's stage clocks: its progress message has stopped for good."""
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
    found = _PERCENT.findall(TAG.sub("", current))
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
    forget_clocks(recording.id)
    if recording.chat_id is None or recording.progress_message_id is None:
        return
    # Whatever this process still has to say lands first, so the failure is the last word.
    await deps.progress.settle(
        recording.chat_id,
        recording.progress_message_id,
        failed_text(recording, summaries, reason),
        retry_keyboard(recording),
    )
