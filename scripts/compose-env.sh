#!/usr/bin/env bash
# Writes what docker-compose.yml needs into .env: random passwords for PostgreSQL and MinIO and a
# SECRET_KEY, each only when .env has none (a value already there is never replaced, since the
# database and the bucket keep the first one). With --local-bot-api the bot and the workers are
# pointed at the local Bot API server of the local-bot-api profile.
set -euo pipefail
cd "$(dirname "$0")/.."

touch .env
chmod 600 .env

has() { grep -q "^$1=." .env; }
put() {
  if ! has "$1"; then
    sed -i "/^$1=/d" .env
    echo "$1=$2" >> .env
    echo "wrote $1 into .env"
  fi
}
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
fernet_key() { head -c 32 /dev/urandom | base64 | tr '+/' '-_'; }

put POSTGRES_PASSWORD "$(random_hex 24)"
put MINIO_ROOT_PASSWORD "$(random_hex 24)"
put SECRET_KEY "$(fernet_key)"

if [ "${1:-}" = "--local-bot-api" ]; then
  put COMPOSE_PROFILES local-bot-api
  put TELEGRAM_API_URL http://telegram-bot-api:8081
  put TELEGRAM_API_LOCAL true
  has TELEGRAM_API_ID || echo "also put TELEGRAM_API_ID and TELEGRAM_API_HASH (from my.telegram.org) into .env"
fi
has TELEGRAM_BOT_TOKEN || echo "put TELEGRAM_BOT_TOKEN=<token from @BotFather> into .env"
