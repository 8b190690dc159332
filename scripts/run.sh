#!/usr/bin/env bash
# Starts the bot with its workers: a secret key, a migrated database and Redis first.
set -euo pipefail
cd "$(dirname "$0")/.."

touch .env
if ! grep -q '^SECRET_KEY=.\+' .env; then
  key=$(.venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
  sed -i '/^SECRET_KEY=/d' .env
  echo "SECRET_KEY=$key" >> .env
  echo "wrote a new SECRET_KEY into .env"
fi

token=${TELEGRAM_BOT_TOKEN:-$(sed -n 's/^TELEGRAM_BOT_TOKEN=//p' .env | tail -n 1)}
if [ -z "$token" ]; then
  echo "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather in Telegram (/newbot)." >&2
  echo "Then put TELEGRAM_BOT_TOKEN=<token> into .env (or export it) and run make run again." >&2
  exit 2
fi

redis_url=${REDIS_URL:-$(sed -n 's/^REDIS_URL=//p' .env | tail -n 1)}
redis_url=${redis_url:-redis://127.0.0.1:6379/0}
if ! .venv/bin/python - "$redis_url" <<'PY'
import sys
from redis import Redis
Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()
PY
then
  mkdir -p data/redis
  port=6390
  echo "Redis at $redis_url does not answer; starting a private redis-server on port $port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/data/redis" --appendonly yes \
    --daemonize yes --pidfile "$PWD/data/redis/redis.pid" --logfile "$PWD/data/redis/redis.log"
  export REDIS_URL="redis://127.0.0.1:$port/0"
fi

# `leap run` applies the migrations itself before it starts.
exec .venv/bin/leap run
