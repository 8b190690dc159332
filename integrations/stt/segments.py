"""faster-whisper's segments as the transcript's own: times rounded to the millisecond, word
probabilities to four places, a segment without text left out."""

from __future__ import annotations

from typing import Any

from pipeline.transcript import Segment, Word

__all__ = ["whisper_segment"]


def whisper_segment(piece: Any) -> Segment | None:
    """One faster-whisper segment (with its words when it has them), or None when empty."""
    text = piece.text.strip()
    if not text:
        return None
    words = None
    if piece.words:
        words = [
            Word(
                start=round(w.start, 3),
                end=round(w.end, 3),
                word=w.word,
                probability=round(w.probability, 4),
            )
            for w in piece.words
        ]
    return Segment(start=round(piece.start, 3), end=round(piece.end, 3), text=text, words=words)
