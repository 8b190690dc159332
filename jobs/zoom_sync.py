"""New Zoom cloud recordings, imported on a schedule for every workspace that connected Zoom.

A recording is imported when automation is on for it: a template of the workspace matches it
and publishes automatically, or the workspace imports every Zoom recording
(``settings["zoom_auto_import"]``). Imported recordings go through the pipeline like any other;
the review card then waits for a person, or publishes by itself when the template says so
(``options["auto_publish"]``; the card holds a flagged recording back either way).

A recording is known by its meeting UUID and file id (``source_ref`` "zoom:<uuid>:<file id>"),
so a second sync imports nothing. One Zoom is still processing is left for a later sync.
With ``settings["zoom_dry_run"]`` the chat gets the plan instead (recording → template →
title → targets) and nothing is imported.

Workspace settings that tune it: ``zoom_sync_days`` (how far back to look), ``zoom_min_minutes``
and ``zoom_min_mb`` (shorter or smaller recordings are left alone; see
`jobs.zoom_accounts.thresholds`).

Each import goes through `jobs.admission`, as a file sent to the chat does: quotas are
checked first, from the size and length Zoom gives. A recording that does not fit stays in
Zoom, is not counted as imported, and comes in with a later sync once there is room. The chat
is told once per held meeting, in one message per run.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram.exceptions import TelegramAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.zoom import Credentials, ZoomAuthError, ZoomError, ZoomRecording
from jobs import admission, cards, keys
from jobs.context import WorkerDeps
from jobs.zoom_accounts import (
    PROVIDER,
    imported_meetings,
    list_account,
    thresholds,
    zoom_workspaces,
)
from jobs.zoom_import import new_recording, zoom_facts
from locales import gettext
from locales.format import size
from pipeline import templates
from pipeline.topics import Topics
from storage import quotas, repo
from storage.crypto import SecretBoxError
from storage.models import Recording, Workspace

log = logging.getLogger(__name__)

# Every quarter of an hour: recordings appear in Zoom's cloud some time after the meeting.
SCHEDULE_MINUTES = {0, 15, 30, 45}
_LOCK_TTL = 1800
_NOTICE_TTL = 7 * 24 * 3600


@dataclass
class Planned:
    """One recording the sync imports (or, in a dry run, would import)."""

    workspace_id: int
    recording: ZoomRecording
    credential_id: int
    account: str
    template: str
    title: str
    targets: list[str]
    auto_publish: bool
    facts: dict[str, Any]
    recording_id: int | None = None


@dataclass
class SyncReport:
    imported: list[Planned] = field(default_factory=list)
    planned: list[Planned] = field(default_factory=list)
    held: list[tuple[Planned, quotas.Refusal]] = field(default_factory=list)
    """New recordings left in Zoom because the workspace is at a quota."""
    errors: list[str] = field(default_factory=list)

    def add(self, other: SyncReport) -> None:
        self.imported += other.imported
        self.planned += other.planned
        self.held += other.held
        self.errors += other.errors


# --- the cron -----------------------------------------------------------------------------


async def zoom_sync(ctx: dict[str, Any]) -> int:
    """arq cron: import new Zoom recordings everywhere; returns how many were imported."""
    deps: WorkerDeps = ctx["deps"]
    report = await sync_all(deps)
    return len(report.imported)


async def sync_all(
    deps: WorkerDeps, *, days: int | None = None, workspace_id: int | None = None
) -> SyncReport:
    report = SyncReport()
    if deps.secrets is None:
        log.warning("zoom sync skipped: SECRET_KEY is not set, so no credential can be read")
        return report
    if workspace_id is None:
        async with deps.sessions() as session:
            ids = await zoom_workspaces(session)
    else:
        ids = [workspace_id]
    for wid in ids:
        try:
            report.add(await sync_workspace(deps, wid, days=days))
        except Exception:
            # One workspace's trouble must not keep the others from their recordings.
            log.exception("zoom sync of workspace %s failed", wid)
            report.errors.append(f"workspace {wid}: internal error")
    return report


async def sync_workspace(
    deps: WorkerDeps, workspace_id: int, *, days: int | None = None
) -> SyncReport:
    report = SyncReport()
    lock = keys.zoom_sync_lock(workspace_id)
    if not await deps.redis.set(lock, "1", nx=True, ex=_LOCK_TTL):
        log.info("zoom sync of workspace %s is already running", workspace_id)
        return report
    try:
        await _sync(deps, workspace_id, days, report)
    finally:
        await deps.redis.delete(lock)
    return report


async def _sync(deps: WorkerDeps, workspace_id: int, days: int | None, report: SyncReport) -> None:
    assert deps.secrets is not None
    async with deps.sessions() as session:
        workspace = await session.get(Workspace, workspace_id)
        if workspace is None:
            return
        rows = await repo.credentials(session, workspace_id, PROVIDER)
        workspace_templates = await _templates(session, workspace_id)
        connected = await cards.connected_platforms(session, workspace_id)
    if rows and not admission.transcribable(workspace, deps.settings):
        # Left in Zoom, as at a quota: a recording nobody can transcribe would only fail.
        report.errors.append("the speech engine does not know the lecture language")
        await _warn_language(deps, workspace)
        return
    conf = dict(workspace.settings or {})
    limits = thresholds(deps.settings, conf)
    span = days or limits.days
    today = datetime.now(UTC).date()

    for row in rows:
        account = row.account_name or f"#{row.id}"
        try:
            creds = Credentials.from_payload(deps.secrets.decrypt(row.payload))
        except (SecretBoxError, ZoomAuthError):
            report.errors.append(f"{account}: the stored credentials cannot be read")
            continue
        try:
            found = await list_account(
                deps.settings, creds, today - timedelta(days=span - 1), today, limits
            )
        except ZoomAuthError:
            report.errors.append(f"{account}: Zoom refused the credentials")
            await _warn_refused(deps, workspace, row.id, account)
            continue
        except ZoomError as exc:
            report.errors.append(f"{account}: {exc}")
            log.warning("zoom sync of workspace %s, %s: %s", workspace_id, row.id, exc)
            continue
        ready = [r for r in found if not r.processing and r.file is not None]
        async with deps.sessions() as session:
            known = await imported_meetings(session, workspace_id, [r.uuid for r in ready])
        # Oldest first, so the queue follows the order the lectures were given in.
        for found_recording in reversed(ready):
            if found_recording.uuid in known:
                continue
            plan = make_plan(
                workspace, row.id, account, found_recording, workspace_templates, connected
            )
            if plan is None:
                continue
            if conf.get("zoom_dry_run"):
                report.planned.append(plan)
                continue
            outcome = await import_recording(deps, workspace, plan)
            if outcome is None:
                # Someone pressed Import in /zoom while this sync was under way.
                known.add(found_recording.uuid)
                continue
            if isinstance(outcome, quotas.Refusal):
                # Not marked as known: a later sync, with room again, imports it.
                report.held.append((plan, outcome))
                continue
            plan.recording_id = outcome
            known.add(found_recording.uuid)
            report.imported.append(plan)

    if report.planned:
        await _post_plan(deps, workspace, report.planned)
    if report.held:
        await _announce_held(deps, workspace, report.held)
    if report.imported:
        log.info(
            "zoom sync imported %d recordings into workspace %s", len(report.imported), workspace_id
        )


async def _templates(session: AsyncSession, workspace_id: int) -> list[templates.Template]:
    found = []
    for row in await repo.templates(session, workspace_id):
        try:
            found.append(templates.Template.model_validate(row.body))
        except ValueError:
            log.warning("template %s of workspace %s is invalid", row.id, workspace_id)
    return found


# --- deciding -----------------------------------------------------------------------------


def make_plan(
    workspace: Workspace,
    credential_id: int,
    account: str,
    recording: ZoomRecording,
    workspace_templates: list[templates.Template],
    connected: list[str],
) -> Planned | None:
    """What the sync does with one new recording; None when automation is off for it."""
    facts = zoom_facts(recording, account)
    template = templates.match_template(
        workspace_templates,
        {**facts, "filename": recording.topic, "chat_title": workspace.title},
    )
    own = template is not templates.DEFAULT_TEMPLATE
    auto_publish = own and template.auto_publish
    if not (auto_publish or (workspace.settings or {}).get("zoom_auto_import")):
        return None
    try:
        title = templates.compose_metadata(template, facts, Topics(), recording.duration).title
    except templates.TemplateError:
        title = recording.topic
    return Planned(
        workspace_id=workspace.id,
        recording=recording,
        credential_id=credential_id,
        account=account,
        template=template.name,
        title=title,
        targets=_targets(template, workspace, connected),
        auto_publish=auto_publish,
        facts=facts,
    )


def _targets(template: templates.Template, workspace: Workspace, connected: list[str]) -> list[str]:
    # The same order of preference as the review card: the template's, the workspace's, all.
    defaults = (workspace.settings or {}).get("platforms") or []
    for wanted in (template.platforms, defaults):
        chosen = [p for p in connected if p in wanted]
        if chosen:
            return chosen
    return list(connected)


# --- doing --------------------------------------------------------------------------------


async def import_recording(
    deps: WorkerDeps, workspace: Workspace, plan: Planned
) -> int | quotas.Refusal | None:
    """Admit the recording, post its progress message in the chat and queue the download.

    Returns the new recording's id, the quota that leaves no room for it, or None when the
    meeting has been imported meanwhile (in the last two cases nothing is created or posted).
    """
    found = plan.recording
    lang = repo.chat_language(workspace, deps.settings.default_language)
    options: dict[str, Any] = {"zoom": found.options(plan.credential_id), "facts": plan.facts}
    if plan.auto_publish:
        options["auto_publish"] = True
    new = new_recording(
        workspace,
        found,
        options,
        lang=lang,
        chat_id=workspace.chat_id,
        template=plan.template,
        automatic=True,
    )

    async def announce(recording: Recording) -> int | None:
        text = gettext(lang, "intake.queued", name=html.escape(found.topic))
        try:
            message = await deps.bot.send_message(workspace.chat_id, text)
        except TelegramAPIError as exc:
            # The chat may be gone or muted for the bot; the recording is processed all the same.
            log.warning("zoom import into workspace %s: no progress message: %s", workspace.id, exc)
            return None
        return message.message_id

    # What the sync read before it started importing is old by now: a press in /zoom goes
    # through the same admission, which asks again in the workspace's turn.
    async with deps.sessions() as session:
        admitted = await admission.admit(
            session, deps.redis, deps.store, deps.settings, new, announce
        )
    if isinstance(admitted, admission.AlreadyAdmitted):
        return None
    if isinstance(admitted, quotas.Refusal):
        return admitted
    return admitted.id


async def _announce_held(
    deps: WorkerDeps, workspace: Workspace, held: list[tuple[Planned, quotas.Refusal]]
) -> None:
    """One message for what this run left in Zoom, naming each meeting only the first time."""
    # The sync runs every quarter of an hour; the chat hears about a held meeting once.
    fresh = [
        (plan, refusal)
        for plan, refusal in held
        if await deps.redis.set(
            keys.zoom_held_notice(workspace.id, plan.recording.uuid), "1", nx=True, ex=_NOTICE_TTL
        )
    ]
    if not fresh:
        return
    lang = repo.chat_language(workspace, deps.settings.default_language)
    lines = [gettext(lang, "zoom.sync.held_title")]
    lines += [
        gettext(
            lang,
            "zoom.sync.held_line",
            date=plan.recording.start_time.strftime("%d.%m.%Y"),
            topic=html.escape(plan.recording.topic),
            reason=held_reason(lang, refusal),
        )
        for plan, refusal in fresh
    ]
    lines.append(gettext(lang, "zoom.sync.held_hint"))
    try:
        await deps.bot.send_message(workspace.chat_id, cards.fit("\n".join(lines)))
    except TelegramAPIError as exc:
        log.warning("zoom quota notice not posted in workspace %s: %s", workspace.id, exc)
    log.info("zoom sync of workspace %s held %d recordings at a quota", workspace.id, len(fresh))


def held_reason(lang: str, refusal: quotas.Refusal) -> str:
    """Which limit keeps a recording out, with the numbers."""
    if refusal.kind == "concurrent":
        return gettext(
            lang, "zoom.sync.held_concurrent", used=int(refusal.used), limit=int(refusal.limit)
        )
    if refusal.kind == "storage":
        text = gettext(
            lang,
            "zoom.sync.held_storage",
            used=size(lang, int(refusal.used)),
            limit=size(lang, int(refusal.limit)),
        )
        asked = size(lang, int(refusal.asked)) if refusal.asked else None
    else:
        text = gettext(
            lang,
            "zoom.sync.held_minutes",
            used=_minutes(lang, refusal.used),
            limit=_minutes(lang, refusal.limit),
        )
        asked = _minutes(lang, refusal.asked) if refusal.asked else None
    if asked is None:
        return text
    return f"{text}; " + gettext(lang, f"zoom.sync.held_asked_{refusal.kind}", asked=asked)


def _minutes(lang: str, value: float) -> str:
    # Whole minutes from ten on, one decimal below: a short lecture must not read as 0.
    text = f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
    return text.replace(".", ",") if lang == "ru" else text


async def _post_plan(deps: WorkerDeps, workspace: Workspace, planned: list[Planned]) -> None:
    """Tell the chat what a real sync would do, each recording once."""
    key = keys.zoom_dry_notice(workspace.id)
    fresh = []
    for plan in planned:
        if await deps.redis.sadd(key, plan.recording.ref):
            fresh.append(plan)
    await deps.redis.expire(key, _NOTICE_TTL)
    if not fresh:
        return
    lang = repo.chat_language(workspace, deps.settings.default_language)
    lines = [gettext(lang, "zoom.sync.dry_title")]
    lines += [plan_line(lang, plan) for plan in fresh]
    try:
        await deps.bot.send_message(workspace.chat_id, cards.fit("\n".join(lines)))
    except TelegramAPIError as exc:
        log.warning("zoom dry run plan not posted in workspace %s: %s", workspace.id, exc)


def plan_line(lang: str, plan: Planned) -> str:
    names = ", ".join(cards.platform_name(lang, p) for p in plan.targets)
    return gettext(
        lang,
        "zoom.sync.dry_line",
        date=plan.recording.start_time.strftime("%d.%m.%Y"),
        topic=html.escape(plan.recording.topic),
        template=html.escape(plan.template),
        title=html.escape(plan.title),
        targets=names or gettext(lang, "zoom.sync.no_targets"),
        then=gettext(
            lang, "zoom.sync.then_publish" if plan.auto_publish else "zoom.sync.then_review"
        ),
    )


async def _warn_language(deps: WorkerDeps, workspace: Workspace) -> None:
    # Said once a week at most, like every other notice of the sync.
    if not await deps.redis.set(
        keys.zoom_language_notice(workspace.id), "1", nx=True, ex=_NOTICE_TTL
    ):
        return
    lang = repo.chat_language(workspace, deps.settings.default_language)
    try:
        await deps.bot.send_message(
            workspace.chat_id, gettext(lang, "zoom.sync.language_unsupported")
        )
    except TelegramAPIError as exc:
        log.warning("zoom language notice not posted in workspace %s: %s", workspace.id, exc)


async def _warn_refused(
    deps: WorkerDeps, workspace: Workspace, credential_id: int, account: str
) -> None:
    # Once a week at most: a sync every quarter hour must not fill the chat with the same news.
    if not await deps.redis.set(
        keys.zoom_refused_notice(credential_id), "1", nx=True, ex=_NOTICE_TTL
    ):
        return
    lang = repo.chat_language(workspace, deps.settings.default_language)
    try:
        await deps.bot.send_message(
            workspace.chat_id, gettext(lang, "zoom.sync.auth_failed", account=html.escape(account))
        )
    except TelegramAPIError as exc:
        log.warning("zoom warning not posted in workspace %s: %s", workspace.id, exc)
