"""The presets editor says what each VK choice does for a video in the connected community."""

from __future__ import annotations

from pathlib import Path

import pytest

from leap.settings import Settings
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import SlowFilesTelegram, button, reviewable, seen
from tests.conftest import running

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram

WORDS = {
    "en": {
        "card": "Ready for review",
        "presets": "Presets",
        "note": "so either of those uploads the video hidden",
        "everyone": "VK: everyone",
        "friends": "VK: friends only (hidden in the community)",
        "only_me": "VK: only me (hidden in the community)",
    },
    "ru": {
        "card": "Готово к проверке",
        "presets": "Настройки публикации",
        "note": "любой из этих вариантов загружает видео скрытым",
        "everyone": "ВКонтакте: видно всем",
        "friends": "ВКонтакте: только друзьям (скрыто в сообществе)",
        "only_me": "ВКонтакте: только мне (скрыто в сообществе)",
    },
}


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_the_editor_says_a_private_vk_choice_hides_the_community_video(
    settings: Settings, telegram: SlowFilesTelegram, lecture_video: Path, lang: str
) -> None:
    words = WORDS[lang]
    base = 2871 if lang == "en" else 2881
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    async with running(settings, telegram):
        await reviewable(settings, telegram, chat, user, lecture_video, language=lang)
        card = await telegram.wait_for_message(base, lambda m: words["card"] in seen(m), after=0)
        mark = telegram.mark()
        query = await telegram.press(chat, user, card.message_id, button(card, words["presets"]))
        await telegram.wait_for_answer(query)
        editor = await telegram.wait_for_message(base, after=mark)
        assert words["note"] in seen(editor)
        for now, then in (("everyone", "friends"), ("friends", "only_me")):
            data = button(editor, words[now])
            query = await telegram.press(chat, user, editor.message_id, data)
            await telegram.wait_for_answer(query)
            await telegram.wait_for(lambda then=then: words[then] in str(editor.buttons))
        assert words["only_me"] in seen(editor)
