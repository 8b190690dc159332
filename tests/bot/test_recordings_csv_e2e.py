"""/recordings' CSV button: every recording of this chat as a spreadsheet, in both languages."""

from __future__ import annotations

import csv
import io
from typing import Any

from leap.settings import Settings
from storage import repo
from storage.db import create_engine, session_maker
from storage.models import (
    Publication,
    PublicationStatus,
    RecordingStatus,
    SourceKind,
    WorkspaceKind,
)
from tests.bot.chat_fixtures import button, seen
from tests.conftest import RunningBot
from tests.fakes.telegram import BotMessage, FakeTelegram


async def _recordings(settings: Settings, chat: dict[str, Any], count: int) -> None:
    """`count` recordings in the chat's workspace; the first is published, the second failed."""
    kind = WorkspaceKind.PERSONAL if chat["type"] == "private" else WorkspaceKind.GROUP
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace, _ = await repo.ensure_workspace(session, chat["id"], kind, "Chat")
            for number in range(1, count + 1):
                recording = await repo.create_recording(
                    session,
                    workspace.id,
                    source_kind=SourceKind.TELEGRAM,
                    source_ref="file",
                    source_name=f"Лекция {number:02d}.mp4",
                    status=RecordingStatus.FAILED if number == 2 else RecordingStatus.READY,
                    chat_id=chat["id"],
                    media={"trim": {"source_duration": 4000.0, "duration": 3725.0 + number}},
                )
                if number == 1:
                    recording.options = {"facts": {"title": '=HYPERLINK("x") Введение'}}
                    for platform, url in (
                        ("youtube", "https://youtu.be/abc123"),
                        ("vk", "https://vk.com/video-1_2"),
                    ):
                        session.add(
                            Publication(
                                workspace_id=workspace.id,
                                recording_id=recording.id,
                                platform=platform,
                                status=PublicationStatus.DONE,
                                url=url,
                            )
                        )
            await session.commit()
    finally:
        await engine.dispose()


async def _csv(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any]
) -> tuple[BotMessage, BotMessage]:
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/recordings")
    listing = await telegram.wait_for_message(chat["id"], lambda m: bool(m.buttons), after=mark)
    mark = telegram.mark()
    await telegram.press(chat, user, listing.message_id, button(listing, "CSV"))
    document = await telegram.wait_for_message(
        chat["id"], lambda m: m.document is not None, after=mark
    )
    return listing, document


async def test_the_csv_lists_every_recording_with_its_links_in_english(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    user = telegram.user(2201, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await _recordings(app.settings, chat, 10)
    other = telegram.user(2202, "Bob", language_code="en")
    await _recordings(app.settings, telegram.private_chat(other), 3)

    listing, document = await _csv(telegram, chat, user)
    assert "page 1" in seen(listing)  # the list has two pages; the file has them all
    assert document.document is not None
    assert document.document.file_name.endswith(".csv")
    assert seen(document) == "📄 10 recordings of this chat, for a spreadsheet."
    data = document.document.data
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["Title", "Date (UTC)", "Duration", "Status", "Links"]
    assert len(rows) == 11
    assert [r[0] for r in rows[1:4]] == ["Лекция 10.mp4", "Лекция 09.mp4", "Лекция 08.mp4"]
    first = rows[-1]
    # A title a spreadsheet would run as a formula is kept as text.
    assert first[0] == '\'=HYPERLINK("x") Введение'
    assert first[2] == "1:02:06" and first[3] == "Published"
    assert first[4] == "https://youtu.be/abc123 https://vk.com/video-1_2"
    assert rows[-2][3] == "Failed" and rows[-2][4] == ""
    assert len(first[1]) == len("2026-12-05 20:30") and first[1][4] == "-"


async def test_the_csv_speaks_russian_and_keeps_to_its_own_group(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group = telegram.group(-1002203, "Лекции")
    olga = telegram.user(2203, "Ольга", language_code="ru")
    sam = telegram.user(2204, "Сэм", language_code="ru")
    telegram.set_admins(group["id"], [], creator=olga["id"])
    await _recordings(app.settings, group, 2)
    await _recordings(app.settings, telegram.private_chat(olga), 4)

    _listing, document = await _csv(telegram, group, sam)  # any member may take it
    assert document.document is not None
    assert seen(document) == "📄 2 записи этого чата — для таблицы."
    text = document.document.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Название", "Дата (UTC)", "Длительность", "Состояние", "Ссылки"]
    assert [r[0] for r in rows[1:]] == ["Лекция 02.mp4", '\'=HYPERLINK("x") Введение']
    assert [r[3] for r in rows[1:]] == ["Ошибка", "Опубликована"]
