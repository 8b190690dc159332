FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY leap ./leap
COPY bot ./bot
COPY jobs ./jobs
COPY pipeline ./pipeline
COPY integrations ./integrations
COPY storage ./storage
COPY locales ./locales
RUN pip install --no-cache-dir '.[postgres,local-asr]'

ENV STORAGE_DIR=/data/storage \
    WEB_HOST=0.0.0.0
VOLUME ["/data"]
CMD ["leap", "run"]
