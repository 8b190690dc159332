"""The deployment files cannot run here (no Docker engine), so check what they promise."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import yaml
from cryptography.fernet import Fernet

from leap.cli import _parser

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_services_of_the_deployment() -> None:
    services = _compose()["services"]
    for name in ("redis", "postgres", "bot", "worker-media", "worker-io", "telegram-bot-api"):
        assert name in services, name
    assert "--appendonly" in services["redis"]["command"]
    assert services["telegram-bot-api"]["profiles"] == ["local-bot-api"]


def test_compose_commands_are_real_cli_commands() -> None:
    parser = _parser()
    for name, service in _compose()["services"].items():
        command = service.get("command")
        if not command or command[0] != "leap":
            continue
        args = parser.parse_args(command[1:])
        assert callable(args.handler), name


def test_workers_share_media_with_the_bot_and_the_bot_api_server() -> None:
    services = _compose()["services"]
    for name in ("bot", "worker-media", "worker-io"):
        volumes = services[name]["volumes"]
        assert "media:/data" in volumes
        assert "bot-api:/var/lib/telegram-bot-api" in volumes
    assert "bot-api:/var/lib/telegram-bot-api" in services["telegram-bot-api"]["volumes"]


def test_dockerfile_installs_the_package_and_ffmpeg() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ffmpeg" in dockerfile
    assert "pip install" in dockerfile
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["leap"] == "leap.cli:main"


APP_SERVICES = ("bot", "worker-media", "worker-io")


def _env(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]]


def test_every_app_service_is_health_checked_on_the_port_it_serves() -> None:
    services = _compose()["services"]
    for name in APP_SERVICES:
        service = services[name]
        check = " ".join(service["healthcheck"]["test"])
        env = _env(service)
        port = env["WEB_PORT"] if name == "bot" else env["WORKER_WEB_PORT"]
        assert f"127.0.0.1:{port}/healthz" in check, name
        if name != "bot":
            # Reachable by a scraper in the compose network, not only from inside.
            assert env["WORKER_WEB_HOST"] == "0.0.0.0"
    assert "/healthz" in (ROOT / "Dockerfile").read_text()


def test_stop_grace_period_outlasts_the_shutdown_grace() -> None:
    services = _compose()["services"]
    for name in APP_SERVICES:
        service = services[name]
        grace = float(_env(service)["SHUTDOWN_GRACE"])
        assert _seconds(service["stop_grace_period"]) >= grace + 5, name
        assert service["restart"] == "unless-stopped"


def test_migrations_run_once_before_the_app_services() -> None:
    services = _compose()["services"]
    assert services["migrate"]["command"] == ["leap", "db", "upgrade"]
    for name in APP_SERVICES:
        service = services[name]
        assert _env(service)["MIGRATE_ON_START"] == "false"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_workers_scale_by_replicas_and_share_the_same_stores() -> None:
    services = _compose()["services"]
    for name in ("worker-media", "worker-io"):
        assert "replicas" in services[name]["deploy"]
        assert "ports" not in services[name]  # replicas would fight over a host port
    stores = {
        (_env(services[n])["DATABASE_URL"], _env(services[n])["REDIS_URL"]) for n in APP_SERVICES
    }
    assert len(stores) == 1


def test_compose_settings_are_real_settings() -> None:
    from leap.settings import Settings

    known = {name.upper() for name in Settings.model_fields}
    for name in APP_SERVICES:
        for key in _env(_compose()["services"][name]):
            assert key in known, f"{name}: {key} is not a setting"


def test_media_lives_in_a_bucket_that_exists_before_the_app_starts() -> None:
    services = _compose()["services"]
    minio = services["minio"]
    assert "server" in minio["command"]
    assert "ready" in " ".join(minio["healthcheck"]["test"])
    creator = services["minio-bucket"]
    assert creator["depends_on"]["minio"]["condition"] == "service_healthy"
    assert creator["restart"] == "no"
    script = " ".join(creator["command"])
    for name in APP_SERVICES:
        service = services[name]
        env = _env(service)
        assert env["STORAGE_BACKEND"] == "s3", name
        assert env["S3_ENDPOINT_URL"] == "http://minio:9000", name
        assert f"mc mb --ignore-existing leap/{env['S3_BUCKET']}" in script, name
        # The keys the app signs with are MinIO's own, whatever the operator sets.
        assert env["S3_ACCESS_KEY_ID"] == minio["environment"]["MINIO_ROOT_USER"]
        assert env["S3_SECRET_ACCESS_KEY"] == minio["environment"]["MINIO_ROOT_PASSWORD"]
        condition = service["depends_on"]["minio-bucket"]["condition"]
        assert condition == "service_completed_successfully", name


def test_no_password_has_a_default_and_the_script_makes_them(tmp_path: Path) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for name in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"):
        uses = re.findall(r"\$\{" + name + r"(:?[-?][^}]*)?\}", text)
        assert uses and all(u.startswith(":?") for u in uses), (name, uses)
    assert "POSTGRES_PASSWORD: leap" not in text and "leap:leap@" not in text

    script = tmp_path / "scripts" / "compose-env.sh"
    script.parent.mkdir()
    shutil.copy(ROOT / "scripts" / "compose-env.sh", script)
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=1:x\nPOSTGRES_PASSWORD=kept\n")
    subprocess.run(["bash", str(script)], check=True, capture_output=True)
    first = (tmp_path / ".env").read_text()
    values = dict(line.split("=", 1) for line in first.splitlines())
    assert values["POSTGRES_PASSWORD"] == "kept"
    assert re.fullmatch(r"[0-9a-f]{48}", values["MINIO_ROOT_PASSWORD"])
    Fernet(values["SECRET_KEY"].encode())
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0
    # Run again: nothing changes.
    subprocess.run(["bash", str(script)], check=True, capture_output=True)
    assert (tmp_path / ".env").read_text() == first


def test_the_local_bot_api_profile_is_what_the_app_talks_to(tmp_path: Path) -> None:
    services = _compose()["services"]
    server = services["telegram-bot-api"]
    port = server["ports"][0].split(":")[-1]
    for name in APP_SERVICES:
        env = _env(services[name])
        assert env["TELEGRAM_API_URL"] == "${TELEGRAM_API_URL:-https://api.telegram.org}"
        assert env["TELEGRAM_API_LOCAL"] == "${TELEGRAM_API_LOCAL:-false}"

    script = tmp_path / "scripts" / "compose-env.sh"
    script.parent.mkdir()
    shutil.copy(ROOT / "scripts" / "compose-env.sh", script)
    subprocess.run(["bash", str(script), "--local-bot-api"], check=True, capture_output=True)
    values = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines())
    assert values["COMPOSE_PROFILES"] == "local-bot-api"
    assert values["TELEGRAM_API_URL"] == f"http://telegram-bot-api:{port}"
    assert values["TELEGRAM_API_LOCAL"] == "true"
    readme = (ROOT / "README.md").read_text()
    assert "scripts/compose-env.sh --local-bot-api" in readme


def test_make_run_migrates_once() -> None:
    # `leap run` applies the migrations itself (MIGRATE_ON_START); a second pass before it
    # only doubled the start-up output.
    script = (ROOT / "scripts" / "run.sh").read_text()
    assert "db upgrade" not in script and "exec .venv/bin/leap run" in script
