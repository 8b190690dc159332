"""The deployment files cannot run here (no Docker engine), so check what they promise."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

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
