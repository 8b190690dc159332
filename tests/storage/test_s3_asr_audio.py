"""The audio cut for a speech API is the worker's scratch: it never reaches the bucket, and
it does not stay in the recording's folder to count against the workspace's storage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from leap.settings import Settings
from storage.files import MediaStore
from storage.models import RecordingStatus
from tests import synth
from tests.bot.test_foundation_e2e import wait_for_rest
from tests.fakes.openai import FakeOpenAI, Phrase, Upload
from tests.fakes.telegram import FakeTelegram
from tests.storage.test_objects import REGION, MotoS3, start_moto
from tests.storage.test_s3_pipeline import machine
from tests.synth import Silence, Speech


@pytest.fixture(scope="module")
def plain_s3() -> Iterator[MotoS3]:
    yield from start_moto(iam=False)


@pytest.fixture
async def speech_api() -> AsyncIterator[FakeOpenAI]:
    def heard(upload: Upload) -> list[Phrase]:
        return [Phrase(0.5, min(upload.duration, 3.0), "Signals are sampled in time.")]

    async with FakeOpenAI() as api:
        api.transcriber = heard
        yield api


async def test_speech_api_audio_is_not_stored(
    settings: Settings,
    telegram: FakeTelegram,
    plain_s3: MotoS3,
    speech_api: FakeOpenAI,
    tmp_path: Path,
) -> None:
    lecture = synth.make_lecture(
        tmp_path / "lecture.mp4",
        (
            Silence(3.0),
            Speech("Good morning everyone. Today we talk about signals and sampling."),
            Silence(1.0),
            Speech("A signal is measured at regular intervals. That is all for today."),
            Silence(3.0),
        ),
        size="64x48",
        fps=10,
    )
    bucket = plain_s3.new_bucket()
    site = settings.model_copy(
        update={
            "storage_backend": "s3",
            "s3_endpoint_url": plain_s3.url,
            "s3_region": REGION,
            "s3_bucket": bucket,
            "s3_access_key_id": plain_s3.access_key_id,
            "s3_secret_access_key": SecretStr(plain_s3.secret_access_key),
            "s3_addressing_style": "path",
            "transcribe_engine": "openai",
            "transcribe_base_url": speech_api.base_url,
            "transcribe_api_key": SecretStr(speech_api.api_key or ""),
            # Several chunks, so the chunk files are made too, not only the whole audio.
            "transcribe_chunk_seconds": 4,
            "worker_nice": 0,
        }
    )

    async with machine(site, bot=True, queues=("io", "media")):
        user = telegram.user(952, "Ann", language_code="en")
        await telegram.send_document(
            telegram.private_chat(user), user, lecture.path, file_name="signals.mp4",
            mime_type="video/mp4",
        )  # fmt: skip
        recording = await wait_for_rest(settings.database_url, timeout=120)
    assert recording.status == RecordingStatus.AWAITING_REVIEW

    assert len(speech_api.calls("transcriptions")) >= 2
    where = f"workspaces/{recording.workspace_id}/recordings/{recording.id}"
    keys = {k.removeprefix(where + "/") for k in plain_s3.keys(bucket)}
    assert {"video.mp4", "transcript.json", "subtitles.srt"} <= keys
    assert [k for k in keys if "asr" in k] == []
    folder = MediaStore(site.storage_dir).recording_dir(
        recording.workspace_id, recording.id, create=False
    )
    assert folder.is_dir()
    assert [p for p in folder.rglob("*") if "asr" in p.name] == []
