"""The share page from the chat's side: the card's button gives a link, the link opens the page
with its video and subtitles, the switch under the link turns it off for good, and no link (or
button) reaches a recording of another workspace.

Everything goes through the doors people use: button presses in the fake Telegram, and plain
HTTP requests to the running bot's web server.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from integrations import export
from jobs import share
from jobs.cards.callbacks import SHARE_OFF, SHARE_OPEN, ShareCb
from leap.settings import Settings
from storage import repo
from storage.db import create_engine, session_maker
from storage.models import AuditEvent, Publication, PublicationStatus
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, recording_row, reviewable, rows, seen
from tests.conftest import RunningBot, running
from tests.fakes.telegram import BotMessage, FakeTelegram

lecture_video = chat_fixtures.lecture_video

WORDS = {
    "en": {
        "card": "Ready for review",
        "share": "Share page",
        "off": "Turn the link off",
        "link": "The share page of",
        "is_off": "is off",
        "off_alert": "The link is off.",
        "already": "This link is off already.",
        "chapters": "Chapters",
        "transcript": "Transcript",
        "search": "Search the transcript",
        "no_link": "No link can be given",
    },
    "ru": {
        "card": "Готово к проверке",
        "share": "Страница по ссылке",
        "off": "Отключить ссылку",
        "link": "Страница записи",
        "is_off": "отключена",
        "off_alert": "Ссылка отключена.",
        "already": "Эта ссылка уже отключена.",
        "chapters": "Главы",
        "transcript": "Расшифровка",
        "search": "Поиск по расшифровке",
        "no_link": "Ссылку дать нельзя",
    },
}
NOT_FOUND = ("Page not found", "Страница не найдена")
LINK = re.compile(r"http://127\.0\.0\.1:\d+/share/[^\s<\"]+")


@pytest.fixture
def share_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{settings.web_port}"})


@pytest.fixture
async def site(share_settings: Settings, telegram: FakeTelegram) -> AsyncIterator[RunningBot]:
    async with running(share_settings, telegram) as bot:
        yield bot


async def _card(telegram: FakeTelegram, chat_id: int, marker: str) -> BotMessage:
    return await telegram.wait_for_message(chat_id, lambda m: marker in seen(m), after=0)


async def _ask_link(
    telegram: FakeTelegram, chat: dict, user: dict, card: BotMessage, label: str
) -> tuple[str, BotMessage]:
    mark = telegram.mark()
    query = await telegram.press(chat, user, card.message_id, button(card, label))
    await telegram.wait_for_answer(query)
    reply = await telegram.wait_for_message(chat["id"], lambda m: "/share/" in seen(m), after=mark)
    assert reply.reply_to_message_id == card.message_id
    [url] = LINK.findall(seen(reply))
    return url, reply


async def _get(url: str, **headers: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as answer:
        body = await answer.read()
        text = body.decode("utf-8", "replace") if not headers.get("Range") else ""
        return (
            answer.status,
            text,
            {k: v for k, v in answer.headers.items()} | {"length": str(len(body))},
        )


def _assert_gone(status: int, page: str) -> None:
    assert status == 404
    assert all(title in page for title in NOT_FOUND), page


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_the_card_gives_a_share_link_that_plays_and_the_switch_turns_it_off(
    site: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    words = WORDS[lang]
    base = 4101 if lang == "en" else 4111
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(site.settings, telegram, chat, user, lecture_video, language=lang)
    card = await _card(telegram, base, words["card"])

    url, reply = await _ask_link(telegram, chat, user, card, words["share"])
    assert words["link"] in seen(reply)
    # The link names the recording and nothing of where its files are kept.
    assert str(made.folder) not in seen(reply) and "storage" not in url

    status, page, headers = await _get(url)
    assert status == 200, page
    assert f'<html lang="{lang}">' in page
    assert words["chapters"] in page and words["transcript"] in page and words["search"] in page
    for start, title in chat_fixtures.TOPICS:
        assert f'data-t="{start:.2f}"' in page and title in page
    assert "Now sampling." in page
    assert "A lecture on signals." in page
    assert f'src="/share/{url.rsplit("/", 1)[1]}/video"' in page
    assert '<track kind="subtitles"' in page
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "private, no-store"
    assert str(made.folder) not in page and "/workspaces/" not in page

    # The player can seek: the video answers ranges; the subtitles are the recording's own.
    status, _, headers = await _get(url + "/video", Range="bytes=100-199")
    assert status == 206 and headers["length"] == "100"
    assert headers["Content-Range"].startswith("bytes 100-199/")
    status, vtt, headers = await _get(url + "/subtitles.vtt")
    assert (
        status == 200
        and vtt.startswith("WEBVTT")
        and headers["Content-Type"].startswith("text/vtt")
    )
    status, srt, headers = await _get(url + "/subtitles.srt")
    assert status == 200 and "Good morning everyone." in srt
    assert "attachment" in headers["Content-Disposition"]
    status, page, _ = await _get(url + "/transcript.json")
    _assert_gone(status, page)

    # Asking again gives the same link while it is on.
    again, _reply = await _ask_link(telegram, chat, user, card, words["share"])
    assert again == url

    # The switch under the link turns it off: page, video and subtitles are gone at once.
    off = button(reply, words["off"])
    query = await telegram.press(chat, user, reply.message_id, off)
    assert (await telegram.wait_for_answer(query))["text"] == words["off_alert"]
    await telegram.wait_for(lambda: words["is_off"] in seen(reply))
    assert reply.buttons == []
    for address in (url, url + "/video", url + "/subtitles.vtt"):
        status, page, _ = await _get(address)
        _assert_gone(status, page)
    # The older message's switch cannot turn anything off twice.
    query = await telegram.press(chat, user, _reply.message_id, button(_reply, words["off"]))
    assert (await telegram.wait_for_answer(query))["text"] == words["already"]

    # A new link is a new address; the old one stays dead.
    fresh, fresh_reply = await _ask_link(telegram, chat, user, card, words["share"])
    assert fresh != url
    assert (await _get(fresh))[0] == 200
    _assert_gone(*(await _get(url))[:2])
    # The first message's switch does not turn off the newer link.
    query = await telegram.press(chat, user, reply.message_id, off, force=True)
    assert (await telegram.wait_for_answer(query))["text"] == words["already"]
    assert (await _get(fresh))[0] == 200

    actions = [e.action for e in await rows(site.settings, AuditEvent) if "share" in e.action]
    assert actions == ["share_created", "share_revoked", "share_created"]
    assert fresh_reply.buttons


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_without_a_public_address_the_button_says_why_there_is_no_link(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    words = WORDS[lang]
    base = 4121 if lang == "en" else 4131
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    card = await _card(telegram, base, words["card"])
    query = await telegram.press(chat, user, card.message_id, button(card, words["share"]))
    answer = await telegram.wait_for_answer(query)
    assert answer["show_alert"] is True and words["no_link"] in answer["text"]
    assert "share" not in (await recording_row(app.settings, made.recording_id)).options


async def test_no_token_or_button_reaches_another_workspaces_recording(
    site: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    ann = telegram.user(4141, "Ann", language_code="en")
    bob = telegram.user(4142, "Боб", language_code="ru")
    ann_chat, bob_chat = telegram.private_chat(ann), telegram.private_chat(bob)
    mine = await reviewable(site.settings, telegram, ann_chat, ann, lecture_video)
    theirs = await reviewable(site.settings, telegram, bob_chat, bob, lecture_video, language="ru")
    ann_card = await _card(telegram, ann["id"], WORDS["en"]["card"])
    bob_card = await _card(telegram, bob["id"], WORDS["ru"]["card"])
    url, _reply = await _ask_link(telegram, ann_chat, ann, ann_card, WORDS["en"]["share"])
    bob_url, _bob_reply = await _ask_link(telegram, bob_chat, bob, bob_card, WORDS["ru"]["share"])
    prefix, token = url.rsplit("/", 1)
    ws, rec, sid, mac = token.split(".")
    bob_ws, bob_rec, bob_sid, bob_mac = bob_url.rsplit("/", 1)[1].split(".")
    assert (int(ws), int(rec)) == (mine.workspace_id, mine.recording_id)

    # Any part of Ann's token changed, or Bob's and Ann's mixed, opens nothing.
    forged = [
        f"{ws}.{theirs.recording_id}.{sid}.{mac}",
        f"{bob_ws}.{rec}.{sid}.{mac}",
        f"{ws}.{rec}.{bob_sid}.{mac}",
        f"{ws}.{rec}.{sid}.{bob_mac}",
        f"{bob_ws}.{bob_rec}.{sid}.{mac}",
        f"{ws}.{rec}.{sid}",
        f"{ws}.{rec}.{sid}.{mac}x",
        f"٤.١.{sid}.{mac}",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    ]
    # Even tokens signed with the real key: Bob's recording in Ann's workspace does not exist,
    # and Ann's share id is not Bob's recording's.
    keys = export.link_key(site.settings.secret_key.get_secret_value())
    forged += [
        share.sign(keys, mine.workspace_id, theirs.recording_id, sid),
        share.sign(keys, theirs.workspace_id, theirs.recording_id, sid),
        share.sign(keys, theirs.workspace_id, mine.recording_id, bob_sid),
    ]
    for token_ in forged:
        for tail in ("", "/video", "/subtitles.vtt"):
            status, page, _ = await _get(f"{prefix}/{token_}{tail}")
            _assert_gone(status, page)

    # Bob presses forged buttons naming Ann's recording in his own chat: refused in his
    # language, and Ann's page stays on.
    for action, sid_ in ((SHARE_OPEN, ""), (SHARE_OFF, sid)):
        data = ShareCb(action=action, rec=mine.recording_id, sid=sid_).pack()
        query = await telegram.press(bob_chat, bob, bob_card.message_id, data, force=True)
        answer = await telegram.wait_for_answer(query)
        assert answer["show_alert"] is True and re.search("[а-яА-Я]", answer["text"])
    assert (await _get(url))[0] == 200
    assert (await recording_row(site.settings, mine.recording_id)).options["share"] == sid
    assert (await _get(bob_url))[0] == 200


async def test_a_group_member_is_told_only_admins_share(
    site: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    group = telegram.group(-1004151, "Signals course")
    owner = telegram.user(4151, "Olga", language_code="en")
    student = telegram.user(4152, "Саша", language_code="ru")
    telegram.set_admins(group["id"], [], creator=owner["id"])
    made = await reviewable(site.settings, telegram, group, owner, lecture_video)
    card = await _card(telegram, group["id"], WORDS["en"]["card"])
    query = await telegram.press(group, student, card.message_id, button(card, "Share page"))
    answer = await telegram.wait_for_answer(query)
    assert answer["show_alert"] is True and "администратор" in answer["text"]
    assert "share" not in (await recording_row(site.settings, made.recording_id)).options


async def test_what_the_recording_says_is_escaped_and_a_youtube_video_is_embedded(
    site: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    user = telegram.user(4161, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    made = await reviewable(site.settings, telegram, chat, user, lecture_video)
    card = await _card(telegram, user["id"], WORDS["en"]["card"])
    hostile = '<img src=x onerror="alert(1)"> & </script><script>alert(2)</script>'
    segments = [{"start": 5.0, "end": 7.0, "text": hostile}]
    (made.folder / "transcript.json").write_text(
        json.dumps({"language": "en", "segments": segments})
    )
    url, _reply = await _ask_link(telegram, chat, user, card, WORDS["en"]["share"])

    status, page, _headers = await _get(url)
    assert status == 200
    assert hostile not in page and "<img" not in page and "alert(2)</script>" not in page
    assert html.escape(hostile) in page

    # Once published to YouTube the page embeds that video, with the API that lets it seek.
    engine = create_engine(site.settings.database_url)
    try:
        async with session_maker(engine)() as session:
            session.add(
                Publication(
                    workspace_id=made.workspace_id,
                    recording_id=made.recording_id,
                    platform="youtube",
                    status=PublicationStatus.DONE,
                    remote_id="abcDEF12345",
                    url="https://youtu.be/abcDEF12345",
                )
            )
            await session.commit()
            assert len(await repo.publications(session, made.workspace_id, made.recording_id)) == 1
    finally:
        await engine.dispose()
    status, page, headers = await _get(url)
    assert status == 200
    assert 'src="https://www.youtube.com/embed/abcDEF12345?enablejsapi=1' in page
    assert "https://www.youtube.com/iframe_api" in page and 'id="video"' not in page
    assert "frame-src https://www.youtube.com" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "strict-origin"


PUBLISHED = {
    "en": {"publish": "🚀 Publish", "file": "✅ Archive:", "again": "🚀 Publish again"},
    "ru": {"publish": "🚀 Опубликовать", "file": "✅ Архив:", "again": "🚀 Опубликовать снова"},
}


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_after_publishing_the_card_keeps_a_live_share_page_until_it_is_turned_off(
    site: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    words, done = WORDS[lang], PUBLISHED[lang]
    base = 4171 if lang == "en" else 4181
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    await reviewable(site.settings, telegram, chat, user, lecture_video, language=lang)
    card = await _card(telegram, base, words["card"])
    url, reply = await _ask_link(telegram, chat, user, card, words["share"])

    await telegram.press(chat, user, card.message_id, button(card, done["publish"]))
    await telegram.wait_for(lambda: done["file"] in seen(card), timeout=30)
    labels = lambda: [label for label, _ in card.buttons]  # noqa: E731
    await telegram.wait_for(lambda: done["again"] in labels())
    assert labels()[-1] == f"🔗 {words['share']}"
    assert (await _get(url))[0] == 200

    # The card's button gives the same link; turning it off takes the button off the card.
    again, _reply = await _ask_link(telegram, chat, user, card, words["share"])
    assert again == url
    await telegram.press(chat, user, reply.message_id, button(reply, words["off"]))
    await telegram.wait_for(lambda: not any(words["share"] in label for label in labels()))
    assert done["again"] in labels()
    _assert_gone(*(await _get(url))[:2])


async def test_a_discarded_recording_is_shared_no_more(
    site: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    user = telegram.user(4191, "Саша", language_code="ru")
    chat = telegram.private_chat(user)
    await reviewable(site.settings, telegram, chat, user, lecture_video, language="ru")
    card = await _card(telegram, user["id"], WORDS["ru"]["card"])
    url, _reply = await _ask_link(telegram, chat, user, card, WORDS["ru"]["share"])
    assert (await _get(url))[0] == 200

    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, "🗑 Отклонить"))
    question = await telegram.wait_for_message(user["id"], lambda m: bool(m.buttons), after=mark)
    await telegram.press(chat, user, question.message_id, button(question, "🗑 Да, отклонить"))
    await telegram.wait_for(lambda: not card.buttons)
    _assert_gone(*(await _get(url))[:2])
