FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY leap ./leap
COPY bot ./bot
COPY jobs ./jobs
COPY pipeline ./pipeline
COPY integrations ./integrations
COPY storage ./storage
COPY locales ./locales
RUN pip install --no-cache-dir -c constraints.txt '.[postgres,local-asr]' \
    && python -m integrations.stt.models assemble

ENV STORAGE_DIR=/data/storage \
    WEB_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
# On SIGTERM running stages get SHUTDOWN_GRACE seconds (30 by default) to finish before they
# are put back in their queue: give `docker stop -t` / stop_grace_period a little more.
STOPSIGNAL SIGTERM
# `leap run` and `leap bot` answer /healthz on WEB_PORT; docker-compose.yml sets a check of
# its own for each service (workers on WORKER_WEB_PORT).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEB_PORT', '8080'), timeout=5)"
CMD ["leap", "run"]
