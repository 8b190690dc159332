"""Every setting the bot, the workers and the command line read, from the environment or `.env`."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_api_local: bool = False

    database_url: str = "sqlite+aiosqlite:///./data/leap.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    storage_dir: Path = Path("./data/storage")
    secret_key: SecretStr | None = None

    public_base_url: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    webhook_url: str | None = None

    transcribe_engine: str = "local"
    transcribe_base_url: str = "https://api.openai.com/v1"
    transcribe_api_key: SecretStr | None = None
    transcribe_model: str = "whisper-1"
    local_whisper_model: str | None = None
    # The language lectures are spoken in when the workspace does not say; "auto" detects it
    # from the speech (per stretch with the local engine).
    transcribe_language: str = "auto"
    transcribe_concurrency: int = 4
    transcribe_chunk_seconds: int = 600
    transcribe_chunk_mb: int = 24

    llm_base_url: str = "https://api.deepseek.com"
    llm_api_key: SecretStr | None = None
    llm_model: str = "deepseek-chat"

    youtube_client_id: str | None = None
    youtube_client_secret: SecretStr | None = None
    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    youtube_api_url: str = "https://www.googleapis.com"

    vk_client_id: str | None = None
    vk_client_secret: SecretStr | None = None
    vk_api_url: str = "https://api.vk.ru/method"
    vk_oauth_url: str = "https://id.vk.ru"

    yandex_client_id: str | None = None
    yandex_client_secret: SecretStr | None = None
    yandex_oauth_url: str = "https://oauth.yandex.ru"
    yandex_disk_api_url: str = "https://cloud-api.yandex.net"  # the API's paths are /v1/disk/…

    zoom_api_url: str = "https://api.zoom.us/v2"
    zoom_oauth_url: str = "https://zoom.us/oauth"

    allow_private_urls: bool = False

    # Limits and behaviour; operators tune these, users never see the names.
    max_duration_hours: float = 5.0
    # With pause removal, pauses longer than pause_min_seconds shrink to pause_keep_seconds.
    pause_min_seconds: float = 3.0
    pause_keep_seconds: float = 1.0
    cloud_download_limit_mb: int = 20
    local_download_limit_mb: int = 2000
    # Seconds between two edits of one progress message.
    progress_interval: float = 3.0
    throttle_rate: float = Field(1.0, description="messages per second one user may send")
    throttle_burst: int = 5
    media_jobs: int = Field(default_factory=lambda: max(os.cpu_count() or 1, 1))
    io_jobs: int = 8
    recovery_interval: int = Field(60, description="seconds between recovery sweeps")
    default_language: str = "en"
    # Publishing.
    youtube_chunk_size: int = 8 * 1024 * 1024  # a multiple of 256 KiB
    publish_retry_delay: float = 1.0  # client retries wait d, 2d…; re-queued jobs 30·d, 60·d…
    cloud_upload_limit_mb: float = 50.0
    local_upload_limit_mb: float = 2000.0
    export_link_hours: float = 24.0
    # Links: largest download (decimal GB), videos taken from one playlist, an optional proxy.
    link_max_size_gb: float = 4.0
    playlist_max_items: int = 20
    link_proxy: str | None = None
    # Seconds one look at a link may take, from start to answer; then it is stopped.
    link_check_seconds: float = 60.0
    # Zoom and retention; each can be overridden per workspace in its settings.
    zoom_sync_days: int = 7
    zoom_list_days: int = 30
    zoom_min_minutes: float = 30.0
    zoom_min_mb: float = 40.0
    retention_days: float = 30.0  # 0 keeps media for ever
    # Seconds running stages get to finish on shutdown before they are re-queued.
    shutdown_grace: float = 30.0

    @property
    def bot_token(self) -> str:
        if self.telegram_bot_token is None:
            raise RuntimeError("TELEGRAM_BOT_TOKEN is not set")
        return self.telegram_bot_token.get_secret_value()

    # --- Team workspaces: quotas, rate limits, roles -------------------------------------
    # Quotas per workspace, 0 meaning no limit; `leap workspace set-quota` overrides them for
    # one workspace. Minutes are the source length of the recordings of the calendar month.
    quota_storage_gb: float = 50.0
    quota_minutes: float = 3000.0
    quota_concurrent: int = 3
    # Beyond throttle_rate/throttle_burst (one person's short-term bucket): one person's
    # hourly bucket, and a whole chat's buckets per minute and per hour.
    rate_user_per_hour: int = 1000
    rate_workspace_per_minute: int = 120
    rate_workspace_per_hour: int = 3000
    # How long a member's role as read from Telegram is trusted before it is read again.
    role_refresh_hours: float = 24.0

    # --- Workers: timeouts, recovery, shutdown, observability -----------------------------
    # Seconds a stage (or a `publish_<platform>` job) may run before it counts as hung, by
    # name, over the built-in ones: STAGE_TIMEOUTS='{"transcribe": 7200}'.
    stage_timeouts: dict[str, float] = {}
    # Retried stages and publications wait their back-off times this many times over.
    retry_delay_scale: float = 1.0
    # Each worker process renews its heartbeat and the leases of its running jobs this often;
    # a lease not renewed for three periods belongs to a dead worker and is taken over.
    worker_heartbeat: float = 5.0
    # Longest wait between two looks at a queue; new jobs wake the workers at once.
    worker_poll_delay: float = 1.0
    # A stage that had to be recovered from a dead worker this many times fails instead.
    max_recoveries: int = 3
    # `leap worker` serves /healthz and /metrics here (0: no web server); `leap run` and
    # `leap bot` serve them on WEB_PORT.
    worker_web_host: str = "127.0.0.1"
    worker_web_port: int = 0
    # Apply database migrations at start; off when a separate `leap db upgrade` does it.
    migrate_on_start: bool = True
    # One JSON object per log line instead of plain text.
    log_json: bool = False
    log_level: str = "INFO"
    # `leap worker` lowers its CPU priority (and its ffmpeg's) by this much, so a bot on the
    # same machine keeps answering while media is processed; `leap run` lowers only the
    # threads its stages work in and their ffmpeg (0: leave it).
    worker_nice: int = 10

    # --- Media storage: this machine's folder, or a bucket of any S3 API -----------------
    # With "s3" every process keeps its working copies under STORAGE_DIR and the bucket holds
    # the files, so media and io workers may run on different machines.
    storage_backend: Literal["local", "s3"] = "local"
    s3_endpoint_url: str | None = None  # unset: AWS itself; MinIO, Yandex: their URL
    s3_region: str | None = None
    s3_bucket: str | None = None
    s3_access_key_id: str | None = None  # unset: boto3's own chain (environment, instance role)
    s3_secret_access_key: SecretStr | None = None
    s3_prefix: str = ""  # objects are kept under <prefix>/workspaces/…
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # Files larger than this go up and down in parts of this size (S3's minimum part is 5 MB).
    s3_multipart_mb: int = Field(16, ge=5)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
