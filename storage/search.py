"""Full-text search over a workspace's transcripts: what /find asks and `leap search` rebuilds.

A transcript is cut into passages of a few segments (20–40 s of speech each) that remember
where each of their segments starts on the published timeline. A passage keeps the spoken
text and, beside it, the same text as word stems, one line per segment: the stems are what
the database's own full-text search indexes, so word forms meet ("регуляризация" finds
"регуляризацию", "networks" finds "network").

Rules this module keeps:
- Every read and write takes the workspace: no query here can reach another workspace's rows.
- Stemming is Snowball's, by the language of the segment and the script of the word (a Latin
  word in a Russian lecture is stemmed as English, a Cyrillic one in an English lecture as
  Russian); a language without a Snowball stemmer keeps its lower-cased words. Common
  function words of English and Russian are left out, in the index and in a query.
- The index lives where the rows live: on SQLite an external-content FTS5 table
  (`search_passages_fts`, kept by triggers, ranked by bm25); on PostgreSQL
  ``to_tsvector('simple', stems)`` (the stems are made here, so 'simple' only splits them) in
  the generated column `stems_tsv` with a GIN index, ranked by ts_rank on the stored vector.
  The migration makes whichever the database needs; the model maps neither.
- A recording's passages are replaced whole when its transcript is saved, and go with it
  (the foreign key cascades) when it is deleted. Media retention keeps them: the row, its
  title and its published links stay, so its words may still be found.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import snowballstemmer
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.transcript import Transcript
from storage.files import MediaStore
from storage.models import Base, Publication, PublicationStatus, Recording

log = logging.getLogger(__name__)

FTS_TABLE = "search_passages_fts"
PASSAGE_MIN_SECONDS = 20.0
PASSAGE_MAX_SECONDS = 40.0
MAX_QUERY_WORDS = 8
SNIPPET_CHARS = 45

# ISO 639-1 codes of the transcripts to Snowball's algorithm names.
SNOWBALL = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech",
    "da": "danish", "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian",
    "fi": "finnish", "fr": "french", "de": "german", "el": "greek", "hi": "hindi",
    "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian",
    "ne": "nepali", "no": "norwegian", "nb": "norwegian", "nn": "norwegian", "fa": "persian",
    "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "st": "sesotho", "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish",
    "yi": "yiddish",
}  # fmt: skip
# Stemmers whose words are written in another alphabet than Latin or Cyrillic: a Latin word
# in such a lecture is an English term, a Cyrillic one Russian.
_OTHER_SCRIPTS = frozenset({"ar", "hy", "el", "hi", "ne", "fa", "ta", "yi"})
_CYRILLIC_STEMMERS = frozenset({"ru", "sr"})

STOP_WORDS = {
    "en": frozenset(
        """
        a about above after again all also am an and any are as at be because been before
        being below between both but by can could did do does doing down during each few for
        from further had has have having he her here hers herself him himself his how if in
        into is it its itself just me more most my myself no nor not now of off on once only
        or other our ours ourselves out over own same she should so some such than that the
        their theirs them themselves then there these they this those through to too under
        until up very was we were what when where which while who whom why will with would
        you your yours yourself yourselves
        """.split()
    ),
    "ru": frozenset(
        """
        а без бы был была были было быть в вам вас весь во вот все всего всех вы где да даже
        для до его ее если есть еще же за здесь и из или им их к как ко когда кто ли либо мне
        может мы на над надо наш не него нее нет ни них но ну о об однако он она они оно от
        очень по под при про с сам себе себя со так такой там те тем то того тоже той только
        том ты у уже хотя чего чем что чтобы чье чья эта эти это этого этой этом этот эту я
        """.split()
    ),
}
_TOKEN = re.compile(r"[^\W_]+")
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
_STEMMERS = threading.local()


class Passage(Base):
    """A few consecutive segments of one recording's transcript, as text and as stems."""

    __tablename__ = "search_passages"
    __table_args__ = (
        sa.Index("ix_search_passages_recording", "recording_id"),
        sa.Index("ix_search_passages_workspace_language", "workspace_id", "language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    recording_id: Mapped[int] = mapped_column(sa.ForeignKey("recordings.id", ondelete="CASCADE"))
    start: Mapped[float] = mapped_column(sa.Float)
    language: Mapped[str] = mapped_column(sa.String(8))
    # One line per segment in `text` and `stems`, one start per line in `starts`.
    starts: Mapped[list[Any]] = mapped_column(default=list)
    text: Mapped[str] = mapped_column(sa.Text)
    stems: Mapped[str] = mapped_column(sa.Text)


# --- words and stems ----------------------------------------------------------------------


def _stemmer(algorithm: str) -> Any:
    # A Snowball stemmer keeps the word it works on in the object: one per thread.
    found = getattr(_STEMMERS, algorithm, None)
    if found is None:
        found = snowballstemmer.stemmer(algorithm)
        setattr(_STEMMERS, algorithm, found)
    return found


def _stemming_language(word: str, language: str) -> str:
    """The language whose rules stem ``word`` heard in a passage in ``language``."""
    if _CYRILLIC.search(word):
        return language if language in _CYRILLIC_STEMMERS else "ru"
    if _LATIN.search(word) and (language in _OTHER_SCRIPTS or language in _CYRILLIC_STEMMERS):
        return "en"
    return language


@lru_cache(maxsize=131072)
def stem(word: str, language: str) -> str | None:
    """The word's stem, lower-cased; None for a function word or a lone letter."""
    word = word.lower().replace("ё", "е")
    if len(word) < 2 and not word.isdigit():
        return None
    lang = _stemming_language(word, language)
    if word in STOP_WORDS.get(lang, ()):
        return None
    algorithm = SNOWBALL.get(lang)
    if algorithm is None or algorithm not in _algorithms():
        return word
    return str(_stemmer(algorithm).stemWord(word)) or word


@lru_cache(maxsize=1)
def _algorithms() -> frozenset[str]:
    return frozenset(snowballstemmer.algorithms())


def stems_line(text: str, language: str) -> str:
    return " ".join(s for w in _TOKEN.findall(text) if (s := stem(w, language)))


@dataclass(frozen=True, slots=True)
class PassageText:
    start: float
    language: str
    starts: list[float]
    lines: list[str]
    stems: list[str]


def passages(transcript: Transcript) -> list[PassageText]:
    """The transcript in passages of 20–40 s (a longer segment is a passage of its own)."""
    made: list[PassageText] = []
    group: list[Any] = []

    def close() -> None:
        if group:
            langs = [s.language or transcript.language for s in group]
            made.append(
                PassageText(
                    start=round(group[0].start, 2),
                    language=max(set(langs), key=langs.count)[:8],
                    starts=[round(s.start, 2) for s in group],
                    lines=[s.text.replace("\n", " ") for s in group],
                    stems=[stems_line(s.text, lang) for s, lang in zip(group, langs, strict=True)],
                )
            )
            group.clear()

    for segment in transcript.segments:
        if not segment.text:
            continue
        if group and (
            segment.end - group[0].start > PASSAGE_MAX_SECONDS
            or group[-1].end - group[0].start >= PASSAGE_MIN_SECONDS
        ):
            close()
        group.append(segment)
    close()
    return made


# --- writing ------------------------------------------------------------------------------


async def replace(
    session: AsyncSession, workspace_id: int, recording_id: int, transcript: Transcript
) -> int:
    """The recording's passages made afresh from ``transcript``; the caller commits."""
    made = await asyncio.to_thread(passages, transcript)
    await forget(session, workspace_id, recording_id)
    session.add_all(
        Passage(
            workspace_id=workspace_id,
            recording_id=recording_id,
            start=p.start,
            language=p.language,
            starts=p.starts,
            text="\n".join(p.lines),
            stems="\n".join(p.stems),
        )
        for p in made
    )
    await session.flush()
    return len(made)


async def index(
    sessions: async_sessionmaker[AsyncSession],
    workspace_id: int,
    recording_id: int,
    transcript: Transcript,
) -> int:
    """Index a transcript just saved, in a session of its own; 0 if the recording is gone."""
    async with sessions() as session:
        try:
            count = await replace(session, workspace_id, recording_id, transcript)
            await session.commit()
        except IntegrityError:
            # Deleted while it was being transcribed: its passages would belong to nothing.
            await session.rollback()
            log.info("recording %s is gone; its transcript is not indexed", recording_id)
            return 0
    return count


async def forget(session: AsyncSession, workspace_id: int, recording_id: int) -> None:
    await session.execute(
        sa.delete(Passage).where(
            Passage.workspace_id == workspace_id, Passage.recording_id == recording_id
        )
    )


async def reindex(
    sessions: async_sessionmaker[AsyncSession], store: MediaStore, transcript_name: str
) -> tuple[int, int]:
    """Index every recording whose transcript is still kept: (recordings, passages)."""
    async with sessions() as session:
        found = (
            await session.execute(
                sa.select(Recording.workspace_id, Recording.id, Recording.media).order_by(
                    Recording.id
                )
            )
        ).all()
    recordings = total = 0
    for workspace_id, recording_id, media in found:
        if not (media or {}).get("transcript"):
            continue
        path = await store.fetch(workspace_id, recording_id, transcript_name)
        if not path.is_file():
            continue  # its media has expired: the passages indexed before stay
        try:
            transcript = Transcript.load_json(path)
        except (OSError, ValueError) as exc:
            log.warning("recording %s: transcript not readable: %s", recording_id, exc)
            continue
        total += await index(sessions, workspace_id, recording_id, transcript)
        recordings += 1
    return recordings, total


# --- searching ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    """Where a passage says it: the start of the segment, and the words around the match."""

    start: float
    before: str
    word: str
    after: str


@dataclass(frozen=True, slots=True)
class Found:
    recording_id: int
    score: float
    count: int
    hits: list[Hit]


@dataclass(frozen=True, slots=True)
class Results:
    recordings: list[Found]
    total: int
    # False when no passage held every word and these hold some of them.
    all_words: bool = True


def query_terms(text: str, languages: Sequence[str]) -> list[frozenset[str]]:
    """Per searched word, the stems it may have in the workspace's languages."""
    terms: list[frozenset[str]] = []
    for word in _TOKEN.findall(text)[: MAX_QUERY_WORDS * 2]:
        found = frozenset(s for lang in languages if (s := stem(word, lang)))
        if found and found not in terms:
            terms.append(found)
    return terms[:MAX_QUERY_WORDS]


async def languages(session: AsyncSession, workspace_id: int) -> list[str]:
    """The languages of the workspace's passages, and always English and Russian."""
    # One index step per language (a loose index scan): DISTINCT would read every passage's
    # entry, ten milliseconds in 500 hours of lectures.
    rows = await session.scalars(
        sa.text("""
            WITH RECURSIVE found(language) AS (
                SELECT min(language) FROM search_passages WHERE workspace_id = :ws
                UNION ALL
                SELECT (SELECT min(language) FROM search_passages
                        WHERE workspace_id = :ws AND language > found.language)
                FROM found WHERE found.language IS NOT NULL
            )
            SELECT language FROM found WHERE language IS NOT NULL
        """),
        {"ws": workspace_id},
    )
    return sorted({*rows.all(), "en", "ru"})


async def find(
    session: AsyncSession,
    workspace_id: int,
    text: str,
    *,
    limit: int = 10,
    per_recording: int = 3,
) -> Results | None:
    """The workspace's recordings that say ``text``, best first; None if nothing is searchable.

    A passage must hold every word; when none does, one holding any of them will do.
    Recordings are ranked by their best passage, then by how many passages match.
    """
    langs = await languages(session, workspace_id)
    terms = query_terms(text, langs)
    if not terms:
        return None
    all_words = True
    rows = await _ranked(session, workspace_id, terms, all_words=True, limit=limit, k=per_recording)
    if not rows and len(terms) > 1:
        all_words = False
        rows = await _ranked(
            session, workspace_id, terms, all_words=False, limit=limit, k=per_recording
        )
    if not rows:
        return Results([], 0)
    wanted = frozenset().union(*terms)
    by_recording: dict[int, Found] = {}
    for row in rows:
        found = by_recording.get(row.recording_id)
        if found is None:
            if len(by_recording) == limit:
                continue
            found = by_recording[row.recording_id] = Found(
                row.recording_id, float(row.best), int(row.n), []
            )
        found.hits.append(_hit(row, wanted, langs))
    for found in by_recording.values():
        found.hits.sort(key=lambda hit: hit.start)
    return Results(list(by_recording.values()), int(rows[0].total), all_words)


async def shown(
    session: AsyncSession, workspace_id: int, recording_ids: Sequence[int]
) -> tuple[dict[int, Recording], dict[int, list[Publication]]]:
    """The found recordings of the workspace and the publications of each that have a link."""
    recordings = await session.scalars(
        sa.select(Recording).where(
            Recording.workspace_id == workspace_id, Recording.id.in_(recording_ids)
        )
    )
    published = await session.scalars(
        sa.select(Publication)
        .where(
            Publication.workspace_id == workspace_id,
            Publication.recording_id.in_(recording_ids),
            Publication.status == PublicationStatus.DONE,
            Publication.url.is_not(None),
        )
        .order_by(Publication.id)
    )
    links: dict[int, list[Publication]] = {}
    for publication in published:
        links.setdefault(publication.recording_id, []).append(publication)
    return {r.id: r for r in recordings}, links


async def _ranked(
    session: AsyncSession,
    workspace_id: int,
    terms: list[frozenset[str]],
    *,
    all_words: bool,
    limit: int,
    k: int,
) -> list[Any]:
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        joiner = " & " if all_words else " | "
        query = joiner.join("(" + " | ".join(sorted(t)) + ")" for t in terms)
        hits = """
            SELECT p.recording_id, p.id, ts_rank(p.stems_tsv, q.q) AS score
            FROM search_passages p, to_tsquery('simple', :query) AS q(q)
            WHERE p.workspace_id = :ws AND p.stems_tsv @@ q.q
        """
    else:
        joiner = " AND " if all_words else " OR "
        query = joiner.join("(" + " OR ".join(f'"{s}"' for s in sorted(t)) + ")" for t in terms)
        # The full-text match comes first, on its own: joined in one step, SQLite would rather
        # walk the workspace's rows and test each against the match.
        hits = f"""
            SELECT p.recording_id, p.id, m.score
            FROM (SELECT rowid AS id, -bm25({FTS_TABLE}) AS score
                  FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :query LIMIT -1) AS m
            CROSS JOIN search_passages p ON p.id = m.id
            WHERE p.workspace_id = :ws
        """
    # Each recording's best `k` passages, recordings ordered by their best one, then by how
    # many passages match; `total` counts every recording that matched. Only the rows shown
    # are read whole.
    statement = f"""
        WITH hits AS MATERIALIZED ({hits}),
        ranked AS (
            SELECT recording_id, id, score, max(score) OVER w AS best, count(*) OVER w AS n,
                   row_number() OVER (PARTITION BY recording_id ORDER BY score DESC, id) AS k
            FROM hits WINDOW w AS (PARTITION BY recording_id)
        )
        SELECT r.recording_id, r.best, r.n, p.starts, p.text, p.stems,
               (SELECT count(DISTINCT recording_id) FROM hits) AS total
        FROM ranked r JOIN search_passages p ON p.id = r.id
        WHERE r.k <= :k
        ORDER BY r.best DESC, r.n DESC, r.recording_id DESC, r.score DESC
        LIMIT :rows
    """
    result = await session.execute(
        sa.text(statement), {"query": query, "ws": workspace_id, "k": k, "rows": limit * k}
    )
    return list(result.all())


def _hit(row: Any, wanted: frozenset[str], langs: Sequence[str]) -> Hit:
    starts = row.starts if isinstance(row.starts, list) else json.loads(row.starts)
    lines, stems = row.text.split("\n"), row.stems.split("\n")
    for number, line_stems in enumerate(stems):
        if wanted & set(line_stems.split()):
            return _snippet(float(starts[number]), lines[number], wanted, langs)
    return _snippet(float(starts[0]), lines[0], wanted, langs)


def _snippet(start: float, line: str, wanted: frozenset[str], langs: Sequence[str]) -> Hit:
    for match in _TOKEN.finditer(line):
        if any(stem(match.group(), lang) in wanted for lang in langs):
            before = line[: match.start()]
            after = line[match.end() :]
            if len(before) > SNIPPET_CHARS:
                before = "…" + before[-SNIPPET_CHARS:].split(" ", 1)[-1]
            if len(after) > SNIPPET_CHARS:
                after = after[:SNIPPET_CHARS].rsplit(" ", 1)[0] + "…"
            return Hit(start, before, match.group(), after)
    clipped = line if len(line) <= 2 * SNIPPET_CHARS else line[: 2 * SNIPPET_CHARS] + "…"
    return Hit(start, clipped, "", "")
