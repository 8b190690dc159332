"""/recordings Downloads hands out the translated subtitles too: after the card's translation,
the recording's files come with `<name>.<lang>.srt` and `.vtt`, each captioned with its
language. In English and Russian, both directions."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from locales.format import language_name
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, seen
from tests.bot.test_granularity_e2e import _say
from tests.bot.test_recordings_downloads_e2e import _documents, _open_downloads
from tests.bot.test_translation_e2e import _choose, _model, _review, openai_api, settings
from tests.conftest import RunningBot
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram
__all__ = ["openai_api", "settings"]


@pytest.mark.parametrize(("lang", "source"), [("en", "ru"), ("ru", "en")])
async def test_downloads_list_the_translated_subtitles(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
    source: str,
) -> None:
    model = _model(source)
    openai_api.chat_check, openai_api.chat = model.check, model.answer
    target = "en" if source == "ru" else "ru"
    user_id = 2681 if lang == "en" else 2682
    made, chat, user, card = await _review(app, telegram, lecture_video, lang, source, user_id)
    chooser = await _choose(telegram, chat, user, card, lang)
    mark = telegram.mark()
    await telegram.press(chat, user, chooser.message_id, button(chooser, "★"))
    await telegram.wait_for_message(
        chat["id"], lambda m: m.document is not None, after=mark, timeout=30
    )

    mark = await _open_downloads(telegram, chat, user, _say(lang, "recs.button_downloads"))
    await telegram.wait_for(lambda: len(_documents(telegram, user_id, mark)) == 7, timeout=30)
    files = _documents(telegram, user_id, mark)
    named = language_name(lang, target)
    srt, vtt = f"signals-lecture.{target}.srt", f"signals-lecture.{target}.vtt"
    assert {srt, vtt, "signals-lecture.srt", "signals-lecture.vtt"} <= set(files), sorted(files)
    assert seen(files[srt]) == _say(lang, "translate.download_srt", language=named)
    assert seen(files[vtt]) == _say(lang, "translate.download_vtt", language=named)
    for name, kind in ((srt, "srt"), (vtt, "vtt")):
        written = (made.folder / f"subtitles.{target}.{kind}").read_bytes()
        assert files[name].document.data == written  # type: ignore[union-attr]
    # The archive among them holds the translation too.
    archive = zipfile.ZipFile(io.BytesIO(files["signals-lecture.zip"].document.data))  # type: ignore[union-attr]
    assert {f"subtitles.{target}.srt", f"subtitles.{target}.vtt"} <= set(archive.namelist())
