"""File names people really send: right-to-left scripts, emoji, markup characters, `../`.

Both recordings below go through the whole pipeline to the review card at once. The name is
shown as sent (escaped wherever the chat reads HTML), the title and description are plain text
in metadata.json, and whatever the name says, every file lands inside the recording's folder.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage.models import Recording, RecordingStatus
from tests.fakes.telegram import BotMessage
from tests.safety.conftest import (
    Inputs,
    World,
    at_rest,
    folder_of,
    labels,
    leftovers,
    reply_to,
    seen,
    world_at,
)

RTL_NAME = "محاضرة 📡 שיעור <Signals & Noise> 🎓.mp4"
RTL_TITLE = "محاضرة 📡 שיעור Signals & Noise 🎓"
CLIMBING_NAME = "../../../../etc/cron.d/lecture.mp4"
RTL_USER, CLIMBING_USER = 7201, 7202


@dataclass
class Sent:
    recording: Recording
    progress: BotMessage
    card: BotMessage


@dataclass
class Named:
    world: World
    rtl: Sent
    climbing: Sent
    stored_before: set[Path]


@pytest.fixture(scope="module")
async def named(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, inputs: Inputs
) -> AsyncIterator[Named]:
    async with world_at(tmp_path_factory.mktemp("safety-names"), redis_url) as world:
        telegram = world.telegram
        stored_before = set(world.settings.storage_dir.parent.rglob("*"))
        sent: dict[int, BotMessage] = {}
        for user_id, name in ((RTL_USER, RTL_NAME), (CLIMBING_USER, CLIMBING_NAME)):
            user = telegram.user(user_id, "Ann", language_code="en")
            mark = telegram.mark()
            await telegram.send_document(
                telegram.private_chat(user), user, inputs.lecture, file_name=name,
                mime_type="video/mp4",
            )  # fmt: skip
            sent[user_id] = await telegram.wait_for_message(user_id, after=mark)
        found: dict[int, Sent] = {}
        for user_id, progress in sent.items():
            card = await telegram.wait_for_message(
                user_id, lambda m: "Ready for review" in seen(m), after=0, timeout=90
            )
            [recording] = await at_rest(world.settings, user_id)
            found[user_id] = Sent(recording, progress, card)
        yield Named(world, found[RTL_USER], found[CLIMBING_USER], stored_before)


async def test_rtl_and_emoji_name_stays_whole_in_every_message_and_file(named: Named) -> None:
    world, sent = named.world, named.rtl
    telegram, settings = world.telegram, world.settings
    recording = sent.recording
    assert recording.status is RecordingStatus.AWAITING_REVIEW
    assert recording.source_name == RTL_NAME

    # The progress message: the name as sent, its markup characters escaped, never parsed.
    assert html.escape(RTL_NAME) in (sent.progress.content or "")
    assert all(RTL_NAME in _plain(text) for text in sent.progress.texts)
    assert "Trimmed" in seen(sent.progress) and "❌" not in seen(sent.progress)

    # metadata.json: plain text, the angle brackets YouTube refuses taken out, nothing escaped.
    folder = folder_of(settings, recording)
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["title"] == RTL_TITLE
    assert "&amp;" not in json.dumps(metadata, ensure_ascii=False)
    assert "<" not in metadata["description"] and ">" not in metadata["description"]

    # The review card shows the title, escaped for HTML, and reads back as the title.
    assert f"Ready for review: {RTL_TITLE}" in seen(sent.card)
    assert "Signals &amp; Noise" in (sent.card.content or "")

    # /recordings names it the same way.
    user = telegram.user(RTL_USER, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/recordings")
    listing = await reply_to(telegram, RTL_USER, mark, "Recordings")
    assert any(RTL_NAME[:30] in label for label in labels(listing)), labels(listing)

    # Published as a file: the archive's name, caption and description carry the title.
    publish = next(data for label, data in sent.card.buttons if "Publish" in label)
    mark = telegram.mark()
    await telegram.press(chat, user, sent.card.message_id, publish)
    delivered = await telegram.wait_for_message(
        RTL_USER, lambda m: m.document is not None and m.document.file_name.endswith(".zip"),
        after=mark, timeout=30,
    )  # fmt: skip
    assert delivered.document is not None
    assert delivered.document.file_name == f"{RTL_TITLE}.zip"
    assert RTL_TITLE in seen(delivered)
    with zipfile.ZipFile(io.BytesIO(delivered.document.data)) as archive:
        assert json.loads(archive.read("metadata.json"))["title"] == RTL_TITLE
        assert archive.read("description.txt").decode("utf-8").startswith(RTL_TITLE + "\n")
    await at_rest(settings, RTL_USER)


async def test_a_name_with_dot_dot_writes_nothing_outside_the_recordings_folder(
    named: Named,
) -> None:
    world, sent = named.world, named.climbing
    settings = world.settings
    recording = sent.recording
    assert recording.status is RecordingStatus.AWAITING_REVIEW
    folder = folder_of(settings, recording)

    # On disk the source is named by ids alone; the name is only ever shown.
    assert (folder / "source.mp4").is_file()
    assert recording.source_ext == "mp4"
    assert recording.source_name == CLIMBING_NAME
    assert html.escape(CLIMBING_NAME) in (sent.progress.content or "")
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["title"] == "lecture"

    # Every file the pipeline made is inside one of the two recordings' folders.
    folders = {folder_of(settings, s.recording) for s in (named.rtl, named.climbing)}
    root = settings.storage_dir.parent
    made = set(root.rglob("*")) - named.stored_before
    stray = [
        p
        for p in made
        if p.is_file()
        and not any(f in p.parents for f in folders)
        and not p.name.startswith("leap.db")
        and "bot-api-files" not in p.parts
    ]
    assert stray == []
    assert not (root / "etc").exists() and not Path("/etc/cron.d/lecture.mp4").exists()
    assert leftovers(settings) == []


def _plain(text: str | None) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", text or ""))
