"""Files that name other files: a playlist or a concat script sent as a "lecture".

ffmpeg reads an HLS playlist or an ffconcat script by its content, whatever the file is
called, and would then open the files it lists: another workspace's recording, by a path
guessed from its ids or known outright. Each such file is refused with its own message in the
sender's language, through the chat, through a link and through `leap process`, and not one
byte of the other recording reaches the sender.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.models import Recording, RecordingStatus
from tests.fakes.media_site import MediaSite
from tests.fakes.telegram import FakeTelegram
from tests.safety.conftest import (
    Inputs,
    World,
    at_rest,
    folder_of,
    leftovers,
    reply_to,
    seen,
    snapshot,
    world_at,
)

LEAP = [sys.executable, "-m", "leap.cli"]
VICTIM = 7301
SAYS = {
    "en": "This file is a playlist, not a recording",
    "ru": "Этот файл — плейлист, а не запись",
}


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> AsyncIterator[World]:
    # Links to this machine are allowed here: the link below is served from 127.0.0.1.
    root = tmp_path_factory.mktemp("playlists")
    async with world_at(root, redis_url, allow_private_urls=True) as found:
        yield found


@pytest.fixture(scope="module")
async def victim(world: World, inputs: Inputs) -> Recording:
    """Another workspace's lecture, transcribed and waiting for its review."""
    telegram = world.telegram
    user = telegram.user(VICTIM, "Vera", language_code="en")
    mark = telegram.mark()
    await telegram.send_document(
        telegram.private_chat(user), user, inputs.lecture, file_name="secret.mp4",
        mime_type="video/mp4",
    )  # fmt: skip
    await telegram.wait_for_message(
        VICTIM, lambda m: "Publish" in str(m.buttons), after=mark, timeout=60
    )
    [recording] = await at_rest(world.settings, VICTIM)
    assert recording.status is RecordingStatus.AWAITING_REVIEW
    assert (folder_of(world.settings, recording) / "video.mp4").exists()
    return recording


def _hls(target: str, *, header: bool = True) -> bytes:
    lines = ["#EXT-X-TARGETDURATION:14", "#EXTINF:13.200,", target, "#EXT-X-ENDLIST"]
    return ("\n".join((["#EXTM3U"] if header else []) + lines) + "\n").encode()


def payloads(world: World, victim: Recording) -> dict[str, bytes]:
    """What an attacker would send, knowing the victim's ids or, worse, the exact path."""
    video = folder_of(world.settings, victim) / "video.mp4"
    guessed = f"../../../{victim.workspace_id}/recordings/{victim.id}/video.mp4"
    return {
        "hls_guessed_relative_path": _hls(guessed),
        "hls_absolute_path": _hls(str(video)),
        "hls_without_header": _hls(str(video), header=False),
        "ffconcat_script": f"ffconcat version 1.0\nfile '{video}'\n".encode(),
        "concat_list_without_header": f"file '{video}'\n".encode(),
    }


CHAT_CASES = {
    "hls_guessed_relative_path": (7311, "en"),
    "hls_absolute_path": (7312, "ru"),
    "hls_without_header": (7313, "en"),
    "ffconcat_script": (7314, "ru"),
    "concat_list_without_header": (7315, "en"),
}


def _nothing_of(telegram: FakeTelegram, chat_id: int) -> None:
    """No message to the chat says what the victim's lecture says, or offers its card."""
    for message in telegram.sent(chat_id):
        text = seen(message).lower()
        assert "signals" not in text and "secret" not in text, text
        assert message.document is None, message.document


@pytest.mark.parametrize("name", list(CHAT_CASES))
async def test_a_playlist_sent_in_the_chat_is_refused_and_reads_nothing(
    world: World, victim: Recording, tmp_path: Path, name: str
) -> None:
    user_id, lang = CHAT_CASES[name]
    telegram, settings = world.telegram, world.settings
    body = tmp_path / "lecture.mp4"
    body.write_bytes(payloads(world, victim)[name])
    user = telegram.user(user_id, "Mallory", language_code=lang)
    before = await snapshot(settings)

    mark = telegram.mark()
    await telegram.send_document(
        telegram.private_chat(user), user, body, file_name="lecture.mp4", mime_type="video/mp4"
    )
    progress = await reply_to(telegram, user_id, mark, "❌")
    assert SAYS[lang] in seen(progress), seen(progress)

    [recording] = await at_rest(settings, user_id)
    assert recording.status is RecordingStatus.FAILED
    assert (recording.failure_code, recording.stage) == ("playlist", "fetch")
    folder = folder_of(settings, recording)
    assert sorted(p.name for p in folder.iterdir()) == ["source.mp4"]
    assert (folder / "source.mp4").read_bytes() == body.read_bytes()
    _nothing_of(telegram, user_id)
    assert leftovers(settings) == []
    assert before.changed_beyond(await snapshot(settings), recording.workspace_id) == []


def test_recording_folders_cannot_be_named_from_ids(world: World, victim: Recording) -> None:
    """The folder a relative path would have to name carries a tag nobody outside can know."""
    folder = folder_of(world.settings, victim)
    assert folder.name != str(victim.id)
    assert folder.name.startswith(f"{victim.id}-") and len(folder.name) >= len(str(victim.id)) + 20
    guessed = folder.parent / str(victim.id)
    assert not guessed.exists()


async def test_a_link_to_a_playlist_is_refused_and_reads_nothing(
    world: World, victim: Recording, tmp_path: Path
) -> None:
    telegram, settings = world.telegram, world.settings
    body = tmp_path / "talk.mp4"
    body.write_bytes(payloads(world, victim)["hls_absolute_path"])
    site = MediaSite({"talk.mp4": body})
    await site.start()
    try:
        for user_id, lang in ((7321, "en"), (7322, "ru")):
            user = telegram.user(user_id, "Mallory", language_code=lang)
            mark = telegram.mark()
            await telegram.send_text(telegram.private_chat(user), user, site.url("/media/talk.mp4"))
            answer = await reply_to(telegram, user_id, mark, "❌", timeout=60)
            assert SAYS[lang] in seen(answer), seen(answer)
            [recording] = await at_rest(settings, user_id)
            assert (recording.status, recording.failure_code) == (
                RecordingStatus.FAILED,
                "playlist",
            )
            assert not (folder_of(settings, recording) / "video.mp4").exists()
            _nothing_of(telegram, user_id)
    finally:
        await site.stop()


# --- leap process, as an operator runs it on a file somebody sent them ------------------------


async def _leap_process(cwd: Path, given: str, root: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{root / 'cli.db'}", STORAGE_DIR=str(root / "storage")
    )
    proc = await asyncio.create_subprocess_exec(
        *LEAP, "process", given, "--until", "trim",
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


@pytest.mark.parametrize("name", ["hls_absolute_path", "hls_guessed_relative_path", "ffconcat"])
async def test_leap_process_refuses_a_playlist(inputs: Inputs, tmp_path: Path, name: str) -> None:
    # The "victim" is a lecture beside the playlist, reachable by a path relative to it too.
    shutil.copyfile(inputs.lecture, tmp_path / "victim.mp4")
    script = {
        "hls_absolute_path": _hls(str(tmp_path / "victim.mp4")),
        "hls_guessed_relative_path": _hls("victim.mp4"),
        "ffconcat": b"ffconcat version 1.0\nfile victim.mp4\n",
    }[name]
    (tmp_path / "lecture.mp4").write_bytes(script)
    code, err = await _leap_process(tmp_path, "lecture.mp4", tmp_path)
    assert code == 1, err
    assert err == "leap process: lecture.mp4: this file is a playlist, not a recording\n"
    assert not (tmp_path / "out").exists()


async def test_leap_process_reads_odd_names_as_file_names(inputs: Inputs, tmp_path: Path) -> None:
    """Names that ffmpeg would take for an option or a protocol are only names."""
    shutil.copyfile(inputs.lecture, tmp_path / "victim.mp4")
    # Not media at all, under a name that the concat protocol would read as two lectures.
    (tmp_path / "concat:victim.mp4|victim.mp4").write_bytes(b"%PDF-1.4 not a lecture\n")
    code, err = await _leap_process(tmp_path, "concat:victim.mp4|victim.mp4", tmp_path)
    assert code == 1 and "not an audio or video file" in err, err
    assert not (tmp_path / "out").exists()

    # Real lectures under names that read as an option and as a protocol are processed.
    for name in ("-f.mp4", "subfile,,start,0,end,1,,:x.mp4"):
        shutil.copyfile(inputs.lecture, tmp_path / name)
        code, err = await _leap_process(tmp_path, f"./{name}", tmp_path)
        assert code == 0, (name, err)
        assert (tmp_path / "out" / Path(name).stem / "video.mp4").stat().st_size > 1000
