"""Offline chapter titles on real voices: the key phrase each recording says, as it was heard.

Real Russian and English speakers (tests/data/real, see NOTICE.md) are heard by the default
local engine, as the transcribe stage hears them; each recording is one chapter, and its
title must be two to six words it said one after another, in the form it said them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from integrations.stt import AUTO, make_engine
from integrations.stt.local import bundled_model_path
from pipeline.offline_titles import MAX_TITLE_CHARS, chapter_titles
from pipeline.offline_topics import extract_topics
from pipeline.transcript import Transcript
from tests.pipeline.test_offline_titles import _said_in, _stems, _words

pytestmark = pytest.mark.skipif(
    bundled_model_path() is None, reason="the multilingual Whisper packages are not installed"
)

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
# Each clip, and words one of which its title must hold (by stem): what the speaker talks about.
CLIPS = {
    "ru": {
        "tcpp_ru.wav": "глаголы дополнения",
        "pisets_test_sound_ru.wav": "нейронные сети",
        "tinkoff_sample_1.mp3": "инвестиции дивиденды акции",
    },
    "en": {
        "whisper_jfk.flac": "fellow americans country",
        "pisets_test_sound_en.wav": "neural networks",
        "ae_aac.m4a": "commentary video volume",
    },
}


async def _hear(clip: str) -> Transcript:
    return await make_engine("local").transcribe([(REAL / clip, 0.0)], language=AUTO)


def _check(title: str, said: list[str]) -> None:
    assert 2 <= len(_words(title)) <= 6, title
    assert len(title) <= MAX_TITLE_CHARS, title
    assert title[:1].isupper(), title
    assert _said_in(title, said), (title, said)


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_real_speakers_get_a_phrase_they_said_as_each_chapters_title(language: str) -> None:
    heard = [await _hear(clip) for clip in CLIPS[language]]
    chapters = [[segment.text for segment in transcript.segments] for transcript in heard]
    titles = chapter_titles(chapters, [transcript.text() for transcript in heard])

    assert len({title.casefold() for title in titles}) == len(titles), titles
    for title, said, about in zip(titles, chapters, CLIPS[language].values(), strict=True):
        _check(title, said)
        assert _stems(title) & _stems(about), (title, said)


async def test_a_name_said_inside_a_sentence_keeps_its_capital() -> None:
    heard = await _hear("whisper_jfk.flac")
    topics = extract_topics(heard)
    assert [topic.title for topic in topics.topics] == ["Fellow Americans"], heard.text()


async def test_a_real_clip_with_a_long_pause_is_one_chapter_named_by_a_phrase() -> None:
    heard = await _hear("ae_example.mp4")
    topics = extract_topics(heard)
    assert len(topics.topics) == 1, topics.topics
    _check(topics.topics[0].title, [segment.text for segment in heard.segments])
