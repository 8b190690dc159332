"""Media in an S3 bucket: two machines with their own folders share a recording's files.

The bucket is moto's S3 in server mode, a real HTTP server on 127.0.0.1 that the real boto3
talks to, with IAM checks on so that a wrong key is refused as a real service refuses it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from pydantic import SecretStr

from jobs.context import media_store
from leap.doctor import _bucket
from storage.files import MediaStore
from storage.objects import ObjectStoreError, S3Config, S3Objects
from tests.conftest import _free_port, make_settings

REGION = "us-east-1"


@dataclass
class MotoS3:
    """moto's server and a key its IAM knows, allowed everything in S3."""

    url: str
    access_key_id: str
    secret_access_key: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def new_bucket(self) -> str:
        name = f"leap-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def config(self, bucket: str, **overrides: Any) -> S3Config:
        values: dict[str, Any] = {
            "bucket": bucket,
            "endpoint_url": self.url,
            "region": REGION,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "addressing_style": "path",
            **overrides,
        }
        return S3Config(**values)

    def keys(self, bucket: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents") or ():
                found[item["Key"]] = item
        return found


def start_moto(*, iam: bool) -> Iterator[MotoS3]:
    """moto's server as its own process; with `iam`, only the key made here is accepted."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "moto server exited"
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.05)
        key_id, secret = "testing", "testing"
        if iam:
            admin = boto3.client(
                "iam",
                endpoint_url=url,
                region_name=REGION,
                aws_access_key_id="bootstrap",
                aws_secret_access_key="bootstrap",
            )
            admin.create_user(UserName="leap")
            made = admin.create_access_key(UserName="leap")["AccessKey"]
            policy = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
            admin.put_user_policy(
                UserName="leap", PolicyName="media", PolicyDocument=json.dumps(policy)
            )
            key_id, secret = made["AccessKeyId"], made["SecretAccessKey"]
            # From here on every request is checked against IAM, as a real service does.
            request = urllib.request.Request(
                f"{url}/moto-api/reset-auth",
                data=b"0",
                method="POST",
                headers={"Content-Type": "text/plain"},
            )
            urllib.request.urlopen(request, timeout=5).close()
        yield MotoS3(url, key_id, secret)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[MotoS3]:
    yield from start_moto(iam=True)


@pytest.fixture
def bucket(moto_s3: MotoS3) -> str:
    return moto_s3.new_bucket()


def host(root: Path, moto_s3: MotoS3, bucket: str, **overrides: Any) -> MediaStore:
    """One machine: its own storage folder, the shared bucket (5 MB parts)."""
    config = moto_s3.config(bucket, part_mb=5, prefix="media", **overrides)
    return MediaStore(root, S3Objects(config))


def write_recording(folder: Path, video_bytes: int = 100_000) -> dict[str, bytes]:
    """What the stages leave in a folder, beside the temporary files they work with."""
    kept = {
        "source.mp4": os.urandom(300_000),
        "video.mp4": os.urandom(video_bytes),
        "transcript.json": b'{"language": "en", "segments": []}',
        "thumbnail.jpg": os.urandom(10_000),
    }
    scratch = {
        ".trim-1234/piece.mp4": b"scratch",
        ".cut-abcd/a.ts": b"scratch",
        "video.mp4.part": b"half a video",
        "subtitles.srt.part": b"half",
        ".source.part.m4a": b"half",
        ".asr/asr.chunk000.mp3": b"speech being sent",
    }
    for name, data in {**kept, **scratch}.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return kept


async def test_files_pushed_on_one_machine_are_pulled_whole_on_another(
    tmp_path: Path, moto_s3: MotoS3, bucket: str
) -> None:
    media = host(tmp_path / "media-host", moto_s3, bucket)
    io = host(tmp_path / "io-host", moto_s3, bucket)
    kept = write_recording(media.recording_dir(3, 41), video_bytes=12 * 1024 * 1024)

    await media.push(3, 41)

    stored = moto_s3.keys(bucket)
    assert sorted(stored) == sorted(f"media/workspaces/3/recordings/41/{n}" for n in kept)
    # 12 MB in parts of 5 MB: a multipart upload of three parts, as its ETag says.
    assert stored["media/workspaces/3/recordings/41/video.mp4"]["ETag"].strip('"').endswith("-3")
    assert stored["media/workspaces/3/recordings/41/transcript.json"]["Size"] == len(
        kept["transcript.json"]
    )

    assert not io.recording_dir(3, 41, create=False).exists()
    await io.pull(3, 41)
    folder = io.recording_dir(3, 41, create=False)
    pulled = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    assert pulled == kept
    # Nothing half-made travels, and nothing more is sent when nothing changed.
    assert not (folder / "video.mp4.part").exists() and not (folder / ".trim-1234").exists()
    assert await media.push(3, 41) == 0
    assert await io.pull(3, 41) == 0


async def test_a_changed_file_goes_up_and_replaces_the_other_machines_copy(
    tmp_path: Path, moto_s3: MotoS3, bucket: str
) -> None:
    media = host(tmp_path / "media-host", moto_s3, bucket)
    io = host(tmp_path / "io-host", moto_s3, bucket)
    write_recording(media.recording_dir(3, 42))
    await media.push(3, 42)
    await io.pull(3, 42)
    video = io.recording_dir(3, 42) / "video.mp4"
    video_mtime = video.stat().st_mtime_ns

    transcript = b'{"language": "en", "segments": [{"start": 0, "end": 1, "text": "Hi"}]}'
    (media.recording_dir(3, 42) / "transcript.json").write_bytes(transcript)
    (media.recording_dir(3, 42) / "subtitles.srt").write_bytes(b"1\n00:00:00,000 --> 1\nHi\n")
    sent = await media.push(3, 42)
    assert sent == len(transcript) + len(b"1\n00:00:00,000 --> 1\nHi\n")

    received = await io.pull(3, 42)
    assert received == sent
    assert (io.recording_dir(3, 42) / "transcript.json").read_bytes() == transcript
    assert (io.recording_dir(3, 42) / "subtitles.srt").is_file()
    assert video.stat().st_mtime_ns == video_mtime


async def test_one_file_is_fetched_on_demand_and_kept_current(
    tmp_path: Path, moto_s3: MotoS3, bucket: str
) -> None:
    worker = host(tmp_path / "worker-host", moto_s3, bucket)
    bot = host(tmp_path / "bot-host", moto_s3, bucket)
    folder = worker.recording_dir(5, 7)
    write_recording(folder)
    (folder / "metadata.json").write_text('{"title": "Signals"}')
    await worker.push(5, 7)

    path = await bot.fetch(5, 7, "metadata.json")
    assert json.loads(path.read_text()) == {"title": "Signals"}
    # Only what was asked for: the bot's machine does not copy the video.
    assert not (bot.recording_dir(5, 7) / "video.mp4").exists()

    # A person's correction written where the bot runs reaches the workers' machines.
    path.write_text('{"title": "Sampling signals"}')
    await bot.put(5, 7, "metadata.json")
    await worker.pull(5, 7)
    assert json.loads((folder / "metadata.json").read_text())["title"] == "Sampling signals"

    # And a newer copy in the bucket replaces the one the bot holds.
    (folder / "metadata.json").write_text('{"title": "Aliasing"}')
    await worker.push(5, 7)
    assert json.loads(bot.fetch_now(5, 7, "metadata.json").read_text())["title"] == "Aliasing"
    assert not bot.fetch_now(5, 7, "topics.json").exists()


async def test_the_bot_reads_chapters_and_metadata_a_worker_elsewhere_wrote(
    tmp_path: Path, moto_s3: MotoS3, bucket: str
) -> None:
    from types import SimpleNamespace

    from jobs.cards import fetch_metadata
    from jobs.control import fetch_chapters

    worker = host(tmp_path / "worker-host", moto_s3, bucket)
    bot = host(tmp_path / "bot-host", moto_s3, bucket)
    metadata = {"title": "Signals", "chapters": [{"start": 0.0, "title": "Intro"}]}
    (worker.recording_dir(6, 1) / "metadata.json").write_text(json.dumps(metadata))
    await worker.push(6, 1)

    recording: Any = SimpleNamespace(workspace_id=6, id=1)
    assert await fetch_metadata(bot, recording) == metadata
    assert [c.title for c in await fetch_chapters(bot, recording)] == ["Intro"]


async def test_deleting_a_recording_removes_its_objects_and_usage_counts_the_bucket(
    tmp_path: Path, moto_s3: MotoS3, bucket: str
) -> None:
    worker = host(tmp_path / "worker-host", moto_s3, bucket)
    for workspace, recording, size in ((1, 1, 1000), (1, 10, 2500), (2, 1, 700)):
        folder = worker.recording_dir(workspace, recording)
        (folder / "video.mp4").write_bytes(os.urandom(size))
        (folder / "video.mp4.part").write_bytes(os.urandom(5000))
        await worker.push(workspace, recording)

    # The bot's machine has none of the files, yet counts what the workspace keeps.
    bot = host(tmp_path / "bot-host", moto_s3, bucket)
    assert bot.usage(1) == 3500
    assert bot.usage(2) == 700

    # Recording 1 goes; recording 10 (whose key starts alike) and workspace 2 stay.
    assert bot.delete_recording(1, 1) == 1000
    assert sorted(moto_s3.keys(bucket)) == [
        "media/workspaces/1/recordings/10/video.mp4",
        "media/workspaces/2/recordings/1/video.mp4",
    ]
    assert bot.usage(1) == 2500

    # A worker's copy of a deleted recording is not taken for the real thing later.
    assert worker.delete_recording(1, 10) == 2500
    assert not worker.recording_dir(1, 10, create=False).exists()
    assert worker.usage(1) == 0


async def test_a_reset_recording_loses_its_stale_copies(
    tmp_path: Path, moto_s3: MotoS3, bucket: str
) -> None:
    media = host(tmp_path / "media-host", moto_s3, bucket)
    io = host(tmp_path / "io-host", moto_s3, bucket)
    folder = media.recording_dir(4, 2)
    (folder / "source.mp4").write_bytes(b"source")
    (folder / "topics.json").write_text("{}")
    await media.push(4, 2)
    await io.pull(4, 2)
    (io.recording_dir(4, 2) / "notes.txt").write_text("made here, never pushed")

    moto_s3.client().delete_object(Bucket=bucket, Key="media/workspaces/4/recordings/2/topics.json")
    await io.pull(4, 2)
    # A stage would take an existing topics.json for finished work: the copy must go.
    assert not (io.recording_dir(4, 2) / "topics.json").exists()
    assert (io.recording_dir(4, 2) / "source.mp4").read_bytes() == b"source"
    assert (io.recording_dir(4, 2) / "notes.txt").exists()


def test_wrong_credentials_and_a_missing_bucket_are_explained(
    tmp_path: Path, moto_s3: MotoS3, bucket: str
) -> None:
    wrong_secret = "wrong-secret-" + secrets.token_hex(8)
    cases = {
        "S3_SECRET_ACCESS_KEY": moto_s3.config(bucket, secret_access_key=wrong_secret),
        "S3_ACCESS_KEY_ID": moto_s3.config(bucket, access_key_id="AKIAUNKNOWN00000000X"),
        "does not exist": moto_s3.config("leap-no-such-bucket"),
    }
    for expected, config in cases.items():
        with pytest.raises(ObjectStoreError) as caught:
            S3Objects(config).check()
        assert expected in str(caught.value)
        assert not caught.value.transient
        assert wrong_secret not in str(caught.value)

    store = MediaStore(tmp_path, S3Objects(cases["S3_SECRET_ACCESS_KEY"]))
    (store.recording_dir(1, 1) / "video.mp4").write_bytes(b"video")
    with pytest.raises(ObjectStoreError, match="S3_SECRET_ACCESS_KEY"):
        store.objects.push(store.recording_dir(1, 1), store.recording_key(1, 1))

    closed = S3Objects(moto_s3.config(bucket, endpoint_url=f"http://127.0.0.1:{_free_port()}"))
    with pytest.raises(ObjectStoreError, match="does not answer") as caught:
        closed.check()
    assert caught.value.transient


def test_settings_choose_the_store_and_doctor_checks_the_bucket(
    tmp_path: Path, moto_s3: MotoS3, bucket: str
) -> None:
    local = media_store(make_settings(storage_dir=tmp_path))
    assert not local.remote

    def s3(**overrides: Any) -> Any:
        values: dict[str, Any] = {
            "storage_dir": tmp_path,
            "storage_backend": "s3",
            "s3_endpoint_url": moto_s3.url,
            "s3_region": REGION,
            "s3_bucket": bucket,
            "s3_access_key_id": moto_s3.access_key_id,
            "s3_secret_access_key": SecretStr(moto_s3.secret_access_key),
            "s3_addressing_style": "path",
            **overrides,
        }
        return make_settings(**values)

    remote = media_store(s3(s3_prefix="/lectures/", s3_multipart_mb=8))
    assert remote.remote and isinstance(remote.objects, S3Objects)
    assert remote.objects.prefix == "lectures"
    problem, place = _bucket(s3())
    assert problem is None and place == f"s3://{bucket} at {moto_s3.url}"
    problem, _ = _bucket(s3(s3_bucket="leap-missing"))
    assert problem is not None and "leap-missing" in problem
    assert moto_s3.secret_access_key not in repr(remote.objects.config)


class _FailingObjects:
    """A bucket that fails every transfer the way `transient` says."""

    remote = True

    def __init__(self, transient: bool) -> None:
        self.transient = transient

    def pull(self, folder: Path, key: str) -> int:
        raise ObjectStoreError("the bucket said no", transient=self.transient)

    push = pull


async def test_a_stage_waits_out_a_bucket_that_does_not_answer_and_fails_on_a_refusal(
    tmp_path: Path,
) -> None:
    from types import SimpleNamespace

    from jobs.runner import TransientFailure, sync_media

    def job(transient: bool, attempt: int) -> Any:
        store = MediaStore(tmp_path, _FailingObjects(transient))  # type: ignore[arg-type]
        recording = SimpleNamespace(workspace_id=1, id=2)
        return SimpleNamespace(
            deps=SimpleNamespace(store=store), recording=recording, attempt=attempt
        )

    with pytest.raises(TransientFailure) as caught:
        await sync_media(job(True, 1), push=False)
    assert caught.value.code == "storage" and caught.value.defer_score
    first = caught.value.defer_score
    with pytest.raises(TransientFailure) as caught:
        await sync_media(job(True, 3), push=True)
    assert caught.value.defer_score > first
    # Credentials or a missing bucket do not pass by waiting: the stage fails with the reason.
    with pytest.raises(ObjectStoreError, match="said no"):
        await sync_media(job(False, 1), push=True)
