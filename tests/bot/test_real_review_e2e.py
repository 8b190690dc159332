"""A real recording through the whole review flow, as a lecturer meets it, in both languages.

`tests/data/real/ae_example.mp4` is 42.5 s of a real voice over a synthetic picture with a
22 s pause in the middle (see tests/data/real/NOTICE.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.bot.chat_fixtures import button, seen
from tests.bot.test_foundation_e2e import wait_for_rest
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "ae_example.mp4"

SAYS = {
    "en": {
        "card": "Ready for review",
        "language": "🗣 Language: English",
        "trimmed": "after trimming",
        "publish": "Publish",
        "done": "Published",
    },
    "ru": {
        "card": "Готово к проверке",
        "language": "🗣 Язык: английский",
        "trimmed": "после обрезки",
        "publish": "Опубликовать",
        "done": "Опубликовано",
    },
}


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_real_recording_reads_well_from_upload_to_the_published_file(
    app: RunningBot, telegram: FakeTelegram, lang: str
) -> None:
    says = SAYS[lang]
    user_id = 1601 if lang == "en" else 1602
    user = telegram.user(user_id, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    caption = "Commentary on the example video" if lang == "en" else "Комментарий к примеру"
    await telegram.send_video(chat, user, REAL, file_name="example.mp4", caption=caption)
    progress = await telegram.wait_for_message(user_id, after=0)
    card = await telegram.wait_for_message(
        user_id, lambda m: says["card"] in seen(m), after=0, timeout=240
    )
    text = seen(card)
    assert caption in text
    assert says["language"] in text
    assert says["trimmed"] in text or "0:4" in text
    # The last word after the 22 s pause is its own subtitle, not text over the silence.
    assert "⚠️" not in text, text
    # 0.06 s of silence came off: said as nothing to trim, never "0:42 → 0:42".
    nothing = "nothing to trim" if lang == "en" else "обрезать было нечего"
    assert nothing in seen(progress) and "0:42 → 0:42" not in seen(progress), seen(progress)
    # The progress message counts the topics the card shows as chapters.
    counted = re.search(r"🧭 \D*(\d+)", seen(progress))
    assert counted is not None, seen(progress)
    assert int(counted.group(1)) == len(re.findall(r"^\d+:\d\d ", text, re.M)), (
        seen(progress),
        text,
    )
    # The progress message is settled: every stage done, nothing half-way.
    assert "…" not in seen(progress) and "%" not in seen(progress), seen(progress)

    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, says["publish"]))
    archive = await telegram.wait_for_message(
        user_id,
        lambda m: m.document is not None and m.document.file_name.endswith(".zip"),
        after=mark,
        timeout=120,
    )
    assert archive.document.size > 100_000
    # The card ends with the outcome and what can still be done.
    await telegram.wait_for(lambda: says["done"] in seen(card) and len(card.buttons) == 2, 60)


async def test_a_real_russian_voice_note_reads_as_russian_on_the_card(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    """A real Russian speaker (tests/data/real/tcpp_ru.wav), sent as a sound file by a
    Russian-speaking lecturer with the lecture language left on Auto."""
    user = telegram.user(1603, "Ольга", language_code="ru")
    chat = telegram.private_chat(user)
    clip = REAL.parent / "tcpp_ru.wav"
    await telegram.send_audio(chat, user, clip, file_name="ru.wav", mime_type="audio/wav")
    card = await telegram.wait_for_message(
        1603, lambda m: "Готово к проверке" in seen(m), after=0, timeout=240
    )
    text = seen(card)
    assert "🗣 Язык: русский" in text, text
    assert "⚠️" not in text, text
    subtitles = await telegram.wait_for_message(
        1603, lambda m: m.document is not None and m.document.file_name.endswith(".srt"), after=0
    )
    srt = subtitles.document.data.decode("utf-8").lower()
    # "Важно различать глаголы и дополнения." as the recogniser heard it.
    assert "различать глаголы" in srt, srt

    # What she said is found in another word form, with the moment it is said at.
    await wait_for_rest(app.settings.database_url, timeout=120)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/find глагол")
    found = await telegram.wait_for_message(1603, lambda m: "🔎" in seen(m), after=mark)
    text = seen(found)
    assert "«глагол»: 1 запись" in text, text
    assert "1. ru.wav · 1 совпадение" in text, text
    assert "<b>глаголы</b>" in (found.content or ""), found.content
    assert re.search(r"▶️ 0:0\d — ", text), text
