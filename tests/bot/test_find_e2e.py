"""/find: which of the chat's recordings say the words, and where, in the person's language."""

from __future__ import annotations

import re

from leap.settings import Settings
from pipeline.transcript import Segment, Transcript
from storage import repo, search
from storage.db import create_engine, session_maker
from storage.models import Publication, PublicationStatus, SourceKind, WorkspaceKind
from tests.bot.chat_fixtures import button, rows, seen
from tests.bot.conftest import chat_lecture
from tests.bot.test_foundation_e2e import wait_for_rest
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram
from tests.synth import Lecture

__all__ = ["chat_lecture"]

OVERFITTING = Transcript(
    language="ru",
    segments=[
        Segment(start=2.0, end=6.0, text="Сегодня говорим о переобучении моделей."),
        Segment(
            start=31.0, end=36.0, text="Чтобы модель не переобучалась, применяют регуляризацию."
        ),
        Segment(start=95.0, end=99.0, text="Регуляризация бывает L1 и L2."),
        Segment(start=3725.0, end=3730.0, text="Ещё раз о регуляризации весов."),
    ],
)
NETWORKS = Transcript(
    language="ru",
    segments=[
        Segment(start=12.0, end=16.0, text="Нейронные сети обучаются с регуляризацией."),
        Segment(start=80.0, end=84.0, text="Neural networks, как говорят по-английски."),
    ],
)
SIGNALS = Transcript(
    language="en",
    segments=[Segment(start=4.0, end=8.0, text="Sampling a signal twice per period is enough.")],
)


async def _indexed(
    settings: Settings,
    chat: dict[str, object],
    name: str,
    transcript: Transcript,
    links: dict[str, str] | None = None,
) -> int:
    """A recording of the chat's workspace whose transcript is indexed, published at `links`."""
    kind = WorkspaceKind.PERSONAL if chat["type"] == "private" else WorkspaceKind.GROUP
    engine = create_engine(settings.database_url)
    try:
        sessions = session_maker(engine)
        async with sessions() as session:
            workspace, _ = await repo.ensure_workspace(session, int(chat["id"]), kind, "Chat")  # type: ignore[call-overload]
            recording = await repo.create_recording(
                session,
                workspace.id,
                source_kind=SourceKind.TELEGRAM,
                source_ref="file",
                source_name=name,
                chat_id=chat["id"],
            )
            for platform, url in (links or {}).items():
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
            ids = workspace.id, recording.id
        await search.index(sessions, *ids, transcript)
        return ids[1]
    finally:
        await engine.dispose()


async def test_a_lecture_sent_to_the_chat_is_found_by_its_words(
    app: RunningBot, telegram: FakeTelegram, chat_lecture: Lecture
) -> None:
    user = telegram.user(2101, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_document(
        chat, user, chat_lecture.path, file_name="signals.mp4", mime_type="video/mp4"
    )
    await wait_for_rest(app.settings.database_url, timeout=120)

    mark = telegram.mark()
    await telegram.send_text(chat, user, "/find signal")
    answer = await telegram.wait_for_message(2101, lambda m: "🔎" in seen(m), after=mark)
    text = seen(answer)
    assert "“signal”: 1 recording" in text
    assert "1. signals.mp4 · 1 match" in text
    assert "about <b>signals</b> and" in (answer.content or "")
    # Not published anywhere: the moment is a timecode, near the start of the trimmed video.
    assert re.search(r"▶️ 0:0\d — .*signals", text), text
    assert "href" not in (answer.content or "")


async def test_moments_link_into_the_published_videos_best_recording_first(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group = telegram.group(-1002102, "Машинное обучение")
    olga = telegram.user(2102, "Ольга", language_code="ru")
    overfitting = await _indexed(
        app.settings,
        group,
        "Переобучение.mp4",
        OVERFITTING,
        {"youtube": "https://youtu.be/abc123", "vk": "https://vk.com/video-1_2"},
    )
    networks = await _indexed(
        app.settings, group, "Нейросети.mp4", NETWORKS, {"vk": "https://vk.com/video-1_3"}
    )
    await _indexed(app.settings, group, "Сигналы <1>.mp4", SIGNALS)

    await telegram.send_text(group, olga, "/find регуляризация")
    answer = await telegram.wait_for_message(group["id"], lambda m: "🔎" in seen(m), after=0)
    text, markup = seen(answer), answer.content or ""
    assert "«регуляризация»: 2 записи" in text
    assert text.index("1. Переобучение.mp4 · 3 совпадения") < text.index(
        "2. Нейросети.mp4 · 1 совпадение"
    )
    # Every form of the word, each moment where it is said, linked where the video plays.
    assert '<a href="https://youtu.be/abc123?t=31">0:31</a>' in markup
    assert '<a href="https://youtu.be/abc123?t=95">1:35</a>' in markup
    assert '<a href="https://youtu.be/abc123?t=3725">1:02:05</a>' in markup
    assert "применяют <b>регуляризацию</b>" in markup
    assert "о <b>регуляризации</b> весов" in markup
    assert '<a href="https://vk.com/video-1_3?t=12">0:12</a>' in markup
    assert "Сигналы" not in text
    assert overfitting != networks

    # An English word in a Russian lecture, in another form; an unpublished one has no link.
    mark = telegram.mark()
    await telegram.send_text(group, olga, "/find network")
    answer = await telegram.wait_for_message(group["id"], lambda m: "🔎" in seen(m), after=mark)
    assert "Нейросети.mp4 · 1 совпадение" in seen(answer)
    assert "Neural <b>networks</b>" in (answer.content or "")

    mark = telegram.mark()
    await telegram.send_text(group, olga, "/find sampling")
    answer = await telegram.wait_for_message(group["id"], lambda m: "🔎" in seen(m), after=mark)
    assert "Сигналы &lt;1&gt;.mp4" in (answer.content or "")
    assert "<code>0:04</code>" in (answer.content or "")


async def test_one_chat_never_finds_what_another_chat_said(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    anna = telegram.user(2103, "Анна", language_code="ru")
    john = telegram.user(2104, "John", language_code="en")
    anna_chat, john_chat = telegram.private_chat(anna), telegram.private_chat(john)
    await _indexed(app.settings, anna_chat, "Переобучение.mp4", OVERFITTING)
    await _indexed(app.settings, john_chat, "Signals.mp4", SIGNALS)

    await telegram.send_text(john_chat, john, "/find регуляризация")
    answer = await telegram.wait_for_message(2104, after=0)
    assert seen(answer) == "🔎 Nothing found for “регуляризация” in this chat’s recordings."
    await telegram.send_text(anna_chat, anna, "/find signal")
    answer = await telegram.wait_for_message(2103, after=0)
    assert seen(answer) == "🔎 По запросу «signal» в записях этого чата ничего не нашлось."

    # Each finds its own.
    mark = telegram.mark()
    await telegram.send_text(john_chat, john, "/find signals")
    answer = await telegram.wait_for_message(2104, after=mark)
    assert "1. Signals.mp4 · 1 match" in seen(answer)


async def test_find_without_words_says_how_and_common_words_are_no_search(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    anna = telegram.user(2105, "Анна", language_code="ru")
    john = telegram.user(2106, "John", language_code="en")
    anna_chat, john_chat = telegram.private_chat(anna), telegram.private_chat(john)
    await _indexed(app.settings, john_chat, "Signals.mp4", SIGNALS)

    await telegram.send_text(john_chat, john, "/find")
    answer = await telegram.wait_for_message(2106, after=0)
    assert seen(answer).startswith("/find words — which recordings say them, and where.")
    await telegram.send_text(anna_chat, anna, "/find   ")
    answer = await telegram.wait_for_message(2105, after=0)
    assert seen(answer).startswith("/find слова — в каких записях они звучат и где.")

    mark = telegram.mark()
    await telegram.send_text(john_chat, john, "/find the <of> and")
    answer = await telegram.wait_for_message(2106, after=mark)
    assert "“the <of> and” is made of words too common" in seen(answer)
    assert "&lt;of&gt;" in (answer.content or "")
    mark = telegram.mark()
    await telegram.send_text(anna_chat, anna, "/find и в на")
    answer = await telegram.wait_for_message(2105, after=mark)
    assert "«и в на» — слишком общие слова" in seen(answer)


async def test_a_deleted_recording_is_found_no_more(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    john = telegram.user(2107, "John", language_code="en")
    chat = telegram.private_chat(john)
    await _indexed(app.settings, chat, "Signals.mp4", SIGNALS)
    await telegram.send_text(chat, john, "/find sampling")
    answer = await telegram.wait_for_message(2107, lambda m: "🔎" in seen(m), after=0)
    assert "1. Signals.mp4 · 1 match" in seen(answer)

    mark = telegram.mark()
    await telegram.send_text(chat, john, "/recordings")
    listing = await telegram.wait_for_message(2107, lambda m: bool(m.buttons), after=mark)
    await telegram.press(chat, john, listing.message_id, button(listing, "Signals.mp4"))
    await telegram.wait_for(lambda: "Delete" in str(listing.buttons))
    await telegram.press(chat, john, listing.message_id, button(listing, "Delete"))
    await telegram.wait_for(lambda: "Yes, delete" in str(listing.buttons))
    await telegram.press(chat, john, listing.message_id, button(listing, "Yes, delete"))
    await telegram.wait_for(lambda: "is deleted" in seen(listing))

    mark = telegram.mark()
    await telegram.send_text(chat, john, "/find sampling")
    answer = await telegram.wait_for_message(2107, after=mark)
    assert seen(answer) == "🔎 Nothing found for “sampling” in this chat’s recordings."
    assert await rows(app.settings, search.Passage) == []
