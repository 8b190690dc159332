"""The fetch stage: bring the source into the workspace's folder and say what it is."""

from __future__ import annotations

from integrations import telegram
from jobs.downloads import progress_reporter
from jobs.fetch_link import fetch_link
from jobs.fetch_zoom import fetch_zoom
from jobs.runner import StageFailure, StageJob, TransientFailure, stage
from locales.format import duration, size
from pipeline.probe import MediaInfo, probe_async
from storage.models import SourceKind

# Telegram's file servers stumble for seconds, rarely minutes; later tries wait longer.
RETRY_AFTER = (10.0, 30.0, 90.0, 300.0)


@stage("fetch")
async def fetch(job: StageJob) -> None:
    recording = job.recording
    deps = job.deps
    dest = deps.store.source_path(recording.workspace_id, recording.id, recording.source_ext)

    # A retried fetch keeps a complete earlier download instead of fetching it again.
    complete = dest.is_file() and (
        not recording.source_size or dest.stat().st_size == recording.source_size
    )
    if not complete:
        if recording.source_kind is SourceKind.TELEGRAM:
            await _download_telegram(job, dest)
        elif recording.source_kind is SourceKind.LINK:
            dest = await fetch_link(job, dest)
        elif recording.source_kind is SourceKind.ZOOM:
            dest = await fetch_zoom(job, dest)
        else:
            raise StageFailure("download_failed")

    job.report(job._("progress.checking"))
    info = await probe_async(dest)
    limit = deps.settings.max_duration_hours * 3600
    if info.duration > limit:
        raise StageFailure("too_long", duration=duration(info.duration), limit=duration(limit))
    job.save(media={"source": _describe(info)}, source_size=info.size)
    job.summarize(received_line(job, info))


async def _download_telegram(job: StageJob, dest) -> None:  # type: ignore[no-untyped-def]
    settings = job.deps.settings
    on_progress = progress_reporter(job)

    job.report(job._("progress.downloading", percent=0))
    try:
        await telegram.download(
            job.deps.bot, job.recording.source_ref, dest, on_progress=on_progress
        )
    except telegram.TelegramFileError as exc:
        if exc.transient:
            delay = RETRY_AFTER[min(job.attempt, len(RETRY_AFTER)) - 1]
            raise TransientFailure(exc.code, defer=max(delay, exc.retry_after or 0.0)) from exc
        limit = (
            settings.local_download_limit_mb
            if settings.telegram_api_local
            else settings.cloud_download_limit_mb
        )
        raise StageFailure(exc.code, limit_mb=limit) from exc


def received_line(job: StageJob, info: MediaInfo) -> str:
    if info.has_video and info.width and info.height:
        return job._(
            "progress.received",
            duration=duration(info.duration),
            resolution=f"{info.width}×{info.height}",
            size=size(job.lang, info.size),
        )
    return job._(
        "progress.received_audio", duration=duration(info.duration), size=size(job.lang, info.size)
    )


def _describe(info: MediaInfo) -> dict[str, object]:
    return {
        "duration": info.duration,
        "size": info.size,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
        "has_audio": info.has_audio,
        "has_video": info.has_video,
    }
