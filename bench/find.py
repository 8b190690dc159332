"""How long /find's search takes in a workspace with 500 hours of transcripts.

Run from the repository root::

    .venv/bin/python -m bench.find [--hours 500] [--queries 300]
    DATABASE_URL=postgresql+asyncpg://user@host/db .venv/bin/python -m bench.find

Fills a fresh SQLite database (and, when DATABASE_URL names a PostgreSQL server, a fresh
database made on that server and dropped afterwards) through the same indexing code the
transcribe stage runs: lectures of 90 minutes, about 9,000 spoken words an hour in segments
of five seconds, half in Russian and half in English. The words come from a generated word
list (Cyrillic and Latin pseudo-words with Russian and English endings) with Zipf-like
frequencies, and four in ten spoken words are function words, as in speech. Two more
workspaces hold other lectures, so every query is scoped as in production.

Then times `storage.search.find` (a whole /find answer's queries) over a few hundred queries:
topic words (any word of the list, as often as any other), frequent words (drawn by how often
they are said: the slowest case), two-word queries, and words nobody said. Prints p50/p99 in
milliseconds per kind and overall.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.transcript import Segment, Transcript
from storage import db, repo, search
from storage.models import SourceKind, WorkspaceKind

LECTURE_MINUTES = 90
WORDS_PER_HOUR = 9000
SEGMENT_SECONDS = 5.0
STOP_SHARE = 0.4
VOCABULARY = 20000
OTHER_WORKSPACE_HOURS = 50

_RU_SYLLABLES = (
    "ба ве ги до жу за ки ло му на по ре си ту фа хо це чи ша ще ю я ер ос ал ин ум".split()
)
_EN_SYLLABLES = (
    "ba ce di fo gu ha je ki lo mu ne pi qua ro si tu ve wa xe yo zi er al in on".split()
)
_RU_ENDINGS = ("", "а", "ы", "у", "ой", "ами", "ость", "ение", "ции", "ировать", "ные")
_EN_ENDINGS = ("", "s", "ing", "ed", "ation", "ly", "ness", "er", "ize")


def word_list(rng: random.Random, syllables: Sequence[str], size: int) -> list[str]:
    """`size` distinct pseudo-words of two to four syllables."""
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Speaker:
    """Speech in one language: content words by a Zipf-like law, and function words."""

    def __init__(self, rng: random.Random, language: str) -> None:
        self.rng = rng
        self.language = language
        syllables, self.endings = (
            (_RU_SYLLABLES, _RU_ENDINGS) if language == "ru" else (_EN_SYLLABLES, _EN_ENDINGS)
        )
        self.words = word_list(rng, syllables, VOCABULARY)
        rng.shuffle(self.words)
        self.weights = [1.0 / (rank + 10) for rank in range(len(self.words))]
        self.stop = sorted(search.STOP_WORDS[language])

    def say(self, count: int) -> str:
        content = self.rng.choices(self.words, self.weights, k=count)
        spoken = [
            self.rng.choice(self.stop)
            if self.rng.random() < STOP_SHARE
            else word + self.rng.choice(self.endings)
            for word in content
        ]
        return " ".join(spoken).capitalize() + "."

    def lecture(self) -> Transcript:
        seconds = LECTURE_MINUTES * 60
        per_segment = round(WORDS_PER_HOUR * SEGMENT_SECONDS / 3600)
        segments = [
            Segment(start=start, end=start + SEGMENT_SECONDS - 0.3, text=self.say(per_segment))
            for start in (i * SEGMENT_SECONDS for i in range(int(seconds / SEGMENT_SECONDS)))
        ]
        return Transcript(language=self.language, segments=segments)


async def fill(
    sessions: async_sessionmaker[AsyncSession],
    chat_id: int,
    hours: float,
    speakers: Sequence[Speaker],
) -> int:
    """A workspace with `hours` of lectures, indexed as the transcribe stage indexes them."""
    async with sessions() as session:
        workspace, _ = await repo.ensure_workspace(session, chat_id, WorkspaceKind.GROUP, "Bench")
        await session.commit()
    for number in range(round(hours * 60 / LECTURE_MINUTES)):
        speaker = speakers[number % len(speakers)]
        async with sessions() as session:
            recording = await repo.create_recording(
                session,
                workspace.id,
                source_kind=SourceKind.LOCAL,
                source_ref="bench",
                source_name=f"lecture {number}",
                language=speaker.language,
            )
            await session.commit()
        await search.index(sessions, workspace.id, recording.id, speaker.lecture())
    return workspace.id


def queries(rng: random.Random, speakers: Sequence[Speaker], count: int) -> list[tuple[str, str]]:
    made: list[tuple[str, str]] = []
    for number in range(count):
        speaker = speakers[number % len(speakers)]
        kind = ("topic word", "frequent word", "two words", "word nobody said")[number % 4]
        if kind == "topic word":
            text = rng.choice(speaker.words) + rng.choice(speaker.endings)
        elif kind == "frequent word":
            text = rng.choices(speaker.words, speaker.weights)[0] + rng.choice(speaker.endings)
        elif kind == "two words":
            text = " ".join(rng.choices(speaker.words, speaker.weights, k=2))
        else:
            text = "zzq" + "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(6))
        made.append((kind, text))
    return made


async def measure(
    url: str, hours: float, count: int, seed: int, *, filled: bool = False
) -> dict[str, list[float]]:
    """Fill the database at `url` (unless `filled` already) and time the queries."""
    rng = random.Random(seed)
    speakers = [Speaker(rng, "ru"), Speaker(rng, "en")]
    await asyncio.to_thread(db.upgrade, url)
    engine = db.create_engine(url)
    sessions = db.session_maker(engine)
    try:
        workspace_id = 1
        if not filled:
            started = time.perf_counter()
            workspace_id = await fill(sessions, 1, hours, speakers)
            for chat_id in (2, 3):
                await fill(sessions, chat_id, OTHER_WORKSPACE_HOURS, speakers)
            print(f"  filled in {time.perf_counter() - started:.0f} s")
        asked = queries(rng, speakers, count)
        timings: dict[str, list[float]] = {}
        async with sessions() as session:
            for _kind, text in asked[:20]:  # warm the caches, as a running bot has them
                await search.find(session, workspace_id, text)
            for kind, text in asked:
                started = time.perf_counter()
                await search.find(session, workspace_id, text)
                timings.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        return timings
    finally:
        await engine.dispose()


def report(name: str, timings: dict[str, list[float]]) -> None:
    everything = [t for values in timings.values() for t in values]
    print(f"\n{name}")
    print("| queries | n | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for kind, values in [*timings.items(), ("all", everything)]:
        print(f"| {kind} | {len(values)} | {_percentile(values, 50):.1f} | "
              f"{_percentile(values, 99):.1f} |")  # fmt: skip


def _percentile(values: list[float], share: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[share - 1]


async def _postgres(url: str, hours: float, count: int, seed: int) -> dict[str, list[float]]:
    import asyncpg

    server = make_url(url).set(drivername="postgresql")
    admin = server.render_as_string(hide_password=False)
    name = f"leap_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        target = make_url(url).set(database=name).render_as_string(hide_password=False)
        return await measure(target, hours, count, seed)
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=500.0)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep", type=Path, metavar="FILE", help="SQLite file to fill once and measure again"
    )
    args = parser.parse_args()
    print(
        f"bench.find {datetime.date.today()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores; {args.hours:g} h in the workspace searched, "
        f"{2 * OTHER_WORKSPACE_HOURS} h in two others"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = args.keep or Path(folder) / "bench.db"
        filled = path.exists()
        print("SQLite" + (f" (filled before: {path})" if filled else ""))
        url = f"sqlite+aiosqlite:///{path.resolve()}"
        timings = asyncio.run(measure(url, args.hours, args.queries, args.seed, filled=filled))
        report("SQLite (FTS5, bm25)", timings)
    postgres = os.environ.get("DATABASE_URL", "")
    if postgres.startswith("postgresql"):
        print("\nPostgreSQL")
        timings = asyncio.run(_postgres(postgres, args.hours, args.queries, args.seed))
        report("PostgreSQL (GIN, ts_rank)", timings)


if __name__ == "__main__":
    main()
