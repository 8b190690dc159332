"""A Russian lecture from a Russian-speaking person: Russian speech, Russian words everywhere.

The lecture is espeak-ng's Russian voice in three sections on unrelated subjects (plants,
castles, programming) that start at known times, transcribed by the default (multilingual)
local model. The synthetic voice is too far from human speech for language detection (Whisper
base takes it for Polish or Mongolian), so the operator's lecture language is Russian here; real
Russian recordings are detected by themselves (tests/real/).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import snowballstemmer

from leap.settings import Settings
from storage.files import MediaStore
from tests import synth
from tests.bot.chat_fixtures import seen
from tests.bot.test_foundation_e2e import wait_for_rest
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

SECTIONS = {
    "растения": [
        "Сегодня мы говорим о растениях и фотосинтезе.",
        "Растения получают энергию от солнечного света.",
        "Зелёные листья растений поглощают солнечный свет.",
        "В листьях есть хлорофилл, он делает листья зелёными.",
        "Растения берут из воздуха углекислый газ.",
        "Из углекислого газа и воды растения делают сахар.",
        "При фотосинтезе растения выделяют кислород.",
        "Кислород нужен людям и животным для дыхания.",
        "Корни растений берут воду из почвы.",
        "Вода поднимается от корней к листьям.",
        "Без солнечного света растения не могут расти.",
        "Поэтому растения тянутся к солнечному свету.",
    ],
    "замки": [
        "Теперь поговорим о средневековых замках.",
        "Замки строили короли и рыцари.",
        "Каменные стены защищали замок от врагов.",
        "Вокруг замка копали глубокий ров с водой.",
        "Рыцари охраняли ворота замка.",
        "Над воротами замка стояли высокие каменные башни.",
        "Во время осады враги штурмовали стены замка.",
        "Защитники замка стреляли из луков с башен.",
        "Король жил в главной башне замка.",
        "В замке хранили оружие и зерно.",
        "Осада замка могла длиться много месяцев.",
        "Крепкие каменные стены делали замок неприступным.",
    ],
    "программы": [
        "В последней части поговорим о программировании.",
        "Программа это список команд для компьютера.",
        "Программист пишет код программы на языке программирования.",
        "Компьютер выполняет команды программы по порядку.",
        "Функция это часть программы, которая решает одну задачу.",
        "Переменная в программе хранит число или текст.",
        "Цикл повторяет команды программы много раз.",
        "Ошибки в коде программы называют багами.",
        "Программист ищет ошибки и исправляет код.",
        "Тесты проверяют, что программа работает правильно.",
        "Хороший код программы легко читать и менять.",
        "На этом лекция о программах закончена.",
    ],
}
LEAD = 1.0
SECTION_SECONDS = 125.0
PAUSE = 4.5
STARTS = {name: LEAD + i * SECTION_SECONDS for i, name in enumerate(SECTIONS)}
_STEM = snowballstemmer.stemmer("russian")


def _stems(text: str) -> set[str]:
    return {
        _STEM.stemWord(w.replace("ё", "е"))
        for w in re.findall(r"[а-яё]+", text.casefold())
        if len(w) > 3
    }


def _russian_form(n: int, one: str, few: str, many: str) -> str:
    """The Russian plural form of a whole number, spelled out here rather than from Babel."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"transcribe_language": "ru"})


@pytest.fixture(scope="session")
def russian_lecture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three sections of espeak-ng Russian at known starts, a picture, AAC sound, in an MP4."""
    folder = tmp_path_factory.mktemp("russian-lecture")
    total = LEAD + len(SECTIONS) * SECTION_SECONDS + 2.0
    audio = np.zeros(round(total * synth.RATE), dtype=np.float32)
    for name, start in STARTS.items():
        at = start
        for index, sentence in enumerate(SECTIONS[name]):
            clip = synth.speak(sentence, folder / f"{name}-{index}.wav", voice="ru", speed=130)
            first, last = synth.audible_span(clip)
            clip = clip[first:last] * 0.3
            begin = round(at * synth.RATE)
            audio[begin : begin + len(clip)] += clip
            at += len(clip) / synth.RATE + PAUSE
        assert at - PAUSE < start + SECTION_SECONDS - 2.0, (name, at)
    wav = folder / "lecture.wav"
    synth.write_wav(wav, audio)
    out = folder / "лекция.mp4"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"color=c=navy:s=320x240:r=10:d={total}",
            "-i", str(wav), "-map", "0:v", "-map", "1:a", "-shortest",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k", str(out),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return out


async def test_a_russian_lecture_comes_back_in_russian_with_the_right_word_forms(
    app: RunningBot, telegram: FakeTelegram, russian_lecture: Path
) -> None:
    user = telegram.user(1401, "Ольга", language_code="ru")
    chat = telegram.private_chat(user)
    await telegram.send_document(
        chat, user, russian_lecture, file_name="лекция.mp4", mime_type="video/mp4"
    )
    progress = await telegram.wait_for_message(1401, after=0)
    recording = await wait_for_rest(app.settings.database_url, timeout=600)
    folder = MediaStore(app.settings.storage_dir).recording_dir(1, recording.id, create=False)

    # The speech was heard as Russian and written in Cyrillic.
    transcript = json.loads((folder / "transcript.json").read_text())
    assert transcript["language"] == "ru"
    spoken = " ".join(s["text"] for s in transcript["segments"])
    letters = re.findall(r"[^\W\d_]", spoken)
    assert sum(bool(re.match(r"[а-яё]", c, re.I)) for c in letters) >= 0.95 * len(letters)
    # espeak-ng's Russian is hard to hear (castles come out as "намки"); programs come through.
    assert "программ" in _stems(spoken), spoken

    # The progress message speaks Russian, every count with the form its number takes.
    await telegram.wait_for(lambda: "Субтитры:" in (progress.content or ""), timeout=30)
    text = progress.content or ""
    words = re.search(r"Расшифровано: (\d+) (\w+)", text)
    assert words, text
    n = int(words.group(1))
    assert words.group(2) == _russian_form(n, "слово", "слова", "слов"), text
    topics = re.search(r"(Найден[аоы]) (\d+) (\w+)", text)
    assert topics, text
    n = int(topics.group(2))
    assert topics.group(3) == _russian_form(n, "тема", "темы", "тем"), text
    assert topics.group(1) == _russian_form(n, "Найдена", "Найдены", "Найдено"), text
    cues = re.search(r"Субтитры: (\d+) (\w+)", text)
    assert cues, text
    assert cues.group(2) == _russian_form(int(cues.group(1)), "фраза", "фразы", "фраз"), text
    assert not re.search(r"Transcribed|Topics|Subtitles", text)

    # The review card is Russian, and so are the chapters: one per section, near its start.
    card = await telegram.wait_for_message(
        1401, lambda m: "Готово к проверке" in seen(m), after=0, timeout=30
    )
    shown = seen(card)
    assert "Главы" in shown and "Publish" not in shown
    found = re.findall(r"^(\d+):(\d\d) (.+)$", shown, re.M)
    assert len(found) >= 3, shown
    chapters = [(int(m) * 60 + int(s), title) for m, s, title in found]
    for title in (t for _, t in chapters):
        assert re.search(r"[а-яё]", title, re.I) and not re.search(r"[a-z]", title, re.I), title
    # Where the vocabulary changes, a chapter starts; the programming part is named by its words.
    for name, start in list(STARTS.items())[1:]:
        # A part begins after a long silence: its chapter starts on its first words.
        assert min(abs(at - (start - LEAD)) for at, _ in chapters) <= 2, (name, chapters)
    # The programming part is named by words heard in it (espeak's Russian is misheard often
    # enough that the script's own words are not always what the recogniser wrote).
    at, title = min(chapters, key=lambda c: abs(c[0] - (STARTS["программы"] - LEAD)))
    heard = " ".join(
        s["text"] for s in transcript["segments"] if s["start"] >= at - 1 and s["text"]
    )
    assert _stems(title) & _stems(heard), (title, chapters)

    # The subtitles are the Russian text, in lines that keep one-letter prepositions attached.
    srt = (folder / "subtitles.srt").read_text(encoding="utf-8")
    lines = [line for line in srt.splitlines() if re.search(r"[^\W\d_]", line)]
    assert lines and all(re.search(r"[а-яё]", line, re.I) for line in lines)
    assert all(len(line) <= 42 for line in lines)
    # Within a cue no line ends on a one-letter preposition (a cue may, when the engine
    # placed the next word more than a cue's length later).
    blocks = [block.splitlines()[2:] for block in srt.strip().split("\n\n")]
    firsts = [block[0] for block in blocks if len(block) == 2]
    assert not [line for line in firsts if line.split()[-1].casefold() in set("вксоиау")], srt
