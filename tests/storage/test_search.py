"""Transcript search: word forms meet, the best recordings come first, workspaces stay apart."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.transcript import Segment, Transcript
from storage import repo, search
from storage.files import MediaStore
from storage.models import Recording, SourceKind, WorkspaceKind


def _transcript(language: str, *lines: tuple[float, str]) -> Transcript:
    return Transcript(
        language=language,
        segments=[Segment(start=start, end=start + 4.0, text=text) for start, text in lines],
    )


async def _recording(session: AsyncSession, chat_id: int, name: str) -> Recording:
    workspace, _ = await repo.ensure_workspace(session, chat_id, WorkspaceKind.PERSONAL, "Ann")
    return await repo.create_recording(
        session,
        workspace.id,
        source_kind=SourceKind.TELEGRAM,
        source_ref="file",
        source_name=name,
    )


RUSSIAN = _transcript(
    "ru",
    (0.0, "Добрый день. Сегодня мы говорим о переобучении."),
    (30.0, "Чтобы модель не переобучалась, применяют регуляризацию."),
    (65.0, "Нейронные сети учатся градиентным спуском."),
    (130.0, "И ещё раз про регуляризации: это штраф за сложность."),
)
ENGLISH = _transcript(
    "en",
    (0.0, "Good morning, today we look at neural networks."),
    (45.0, "A network is layers of weights."),
    (100.0, "Training a network means gradient descent."),
    (160.0, "Regularization keeps the weights small."),
)


async def test_word_forms_find_the_recording_and_the_moment(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        russian = await _recording(session, 1, "ml-ru.mp4")
        english = await _recording(session, 1, "ml-en.mp4")
        await search.replace(session, russian.workspace_id, russian.id, RUSSIAN)
        await search.replace(session, english.workspace_id, english.id, ENGLISH)
        await session.commit()
        workspace = russian.workspace_id

        found = await search.find(session, workspace, "регуляризация")
        assert found is not None and found.total == 1
        [hit] = found.recordings
        assert hit.recording_id == russian.id and hit.count == 2
        assert [h.start for h in hit.hits] == [30.0, 130.0]
        assert hit.hits[0].word == "регуляризацию"
        assert hit.hits[0].before.endswith("применяют ")

        found = await search.find(session, workspace, "Networks")
        assert found is not None
        [hit] = found.recordings
        assert hit.recording_id == english.id
        assert [h.start for h in hit.hits] == [0.0, 45.0, 100.0]
        assert [h.word for h in hit.hits] == ["networks", "network", "network"]

        # A word only one lecture says, with one both say: every word in one passage first.
        found = await search.find(session, workspace, "нейронная сеть")
        assert found is not None
        assert [r.recording_id for r in found.recordings] == [russian.id]
        assert found.recordings[0].hits[0].start == 65.0


async def test_the_recording_that_says_it_best_and_most_comes_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        once = await _recording(session, 2, "once.mp4")
        often = await _recording(session, 2, "often.mp4")
        quiet = await _recording(session, 2, "quiet.mp4")
        await search.replace(
            session,
            once.workspace_id,
            once.id,
            _transcript("en", (0.0, "Entropy appears once in a talk about other things.")),
        )
        await search.replace(
            session,
            often.workspace_id,
            often.id,
            _transcript(
                "en",
                *[(i * 45.0, f"Entropy, entropy again: part {i} on entropy.") for i in range(6)],
            ),
        )
        await search.replace(
            session, quiet.workspace_id, quiet.id, _transcript("en", (0.0, "Nothing of it."))
        )
        await session.commit()

        found = await search.find(session, once.workspace_id, "entropy")
        assert found is not None and found.total == 2
        first, second = found.recordings
        assert (first.recording_id, second.recording_id) == (often.id, once.id)
        assert first.count == 6 and len(first.hits) == 3
        assert [h.start for h in first.hits] == sorted(h.start for h in first.hits)

        limited = await search.find(session, once.workspace_id, "entropy", limit=1)
        assert limited is not None and limited.total == 2
        assert [r.recording_id for r in limited.recordings] == [often.id]


async def test_another_workspace_never_sees_the_words(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        ours = await _recording(session, 3, "ours.mp4")
        theirs = await _recording(session, 4, "theirs.mp4")
        await search.replace(session, ours.workspace_id, ours.id, RUSSIAN)
        await search.replace(session, theirs.workspace_id, theirs.id, ENGLISH)
        await session.commit()

        found = await search.find(session, ours.workspace_id, "network")
        assert found is not None and found.recordings == [] and found.total == 0
        found = await search.find(session, theirs.workspace_id, "регуляризация")
        assert found is not None and found.recordings == []


async def test_function_words_alone_are_no_search(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        recording = await _recording(session, 5, "a.mp4")
        await search.replace(session, recording.workspace_id, recording.id, ENGLISH)
        await session.commit()
        for text in ("the of and", "и в на", "", "!!! ?", "a"):
            assert await search.find(session, recording.workspace_id, text) is None
        # Quotes and operators a person types are words or nothing, never query syntax.
        found = await search.find(session, recording.workspace_id, 'weights" OR "x* NEAR(')
        assert found is not None and [r.recording_id for r in found.recordings] == [recording.id]


async def test_a_new_transcript_replaces_the_old_and_deleting_forgets_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        recording = await _recording(session, 6, "a.mp4")
        workspace = recording.workspace_id
        await search.replace(session, workspace, recording.id, ENGLISH)
        await search.replace(session, workspace, recording.id, RUSSIAN)
        await session.commit()
        assert (await search.find(session, workspace, "network")).recordings == []  # type: ignore[union-attr]
        found = await search.find(session, workspace, "градиентный")
        assert found is not None and len(found.recordings) == 1

        await session.execute(sa.delete(Recording).where(Recording.id == recording.id))
        await session.commit()
        assert await session.scalar(sa.select(sa.func.count()).select_from(search.Passage)) == 0
        found = await search.find(session, workspace, "градиентный")
        assert found is not None and found.recordings == []


def test_passages_hold_20_to_40_seconds_and_where_each_segment_starts() -> None:
    transcript = Transcript(
        language="ru",
        segments=[
            Segment(start=i * 6.0, end=i * 6.0 + 5.0, text=f"Фраза номер {i} про networks")
            for i in range(20)
        ],
    )
    made = search.passages(transcript)
    assert [p.start for p in made] == [0.0, 24.0, 48.0, 72.0, 96.0]
    assert all(20.0 <= p.starts[-1] + 5.0 - p.start <= 40.0 for p in made)
    assert made[0].starts == [0.0, 6.0, 12.0, 18.0]
    assert made[0].stems[0] == "фраз номер 0 network"
    assert search.stem("Регуляризацию", "ru") == search.stem("регуляризация", "en")
    assert search.stem("Netzwerke", "de") == "netzwerk"
    assert search.stem("東京", "ja") == "東京"


async def test_reindex_indexes_every_kept_transcript_for_an_upgraded_installation(
    any_database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    store = MediaStore(tmp_path / "storage")
    async with sessions() as session:
        kept = await _recording(session, 7, "kept.mp4")
        expired = await _recording(session, 7, "expired.mp4")
        untranscribed = await _recording(session, 7, "new.mp4")
        for recording in (kept, expired):
            recording.media = {"transcript": {"language": "ru", "words": 30}}
        await search.replace(session, expired.workspace_id, expired.id, ENGLISH)
        await session.commit()
    folder = store.recording_dir(kept.workspace_id, kept.id)
    (folder / "transcript.json").write_text(RUSSIAN.dump_json())
    store.recording_dir(untranscribed.workspace_id, untranscribed.id)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "STORAGE_"))}
    env.update(DATABASE_URL=any_database_url, STORAGE_DIR=str(store.root))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "leap.cli", "search", "reindex",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "indexed 3 passages of 1 recordings"

    async with sessions() as session:
        found = await search.find(session, kept.workspace_id, "регуляризация")
        assert found is not None and [r.recording_id for r in found.recordings] == [kept.id]
        # A recording whose media expired keeps what was indexed while it had a transcript.
        found = await search.find(session, kept.workspace_id, "weights")
        assert found is not None and [r.recording_id for r in found.recordings] == [expired.id]
