"""Key terms as the speech engine's prompt, and the gate against the prompt said back.

Rules it keeps:

- **Short.** Whisper reads a prompt of at most half its 448-token context, and a long one
  makes it more likely to write the prompt instead of the speech; the prompt is cut at
  :data:`PROMPT_TOKENS` tokens, whole terms only, the first terms first. What did not fit is
  named (:attr:`Prompt.dropped`), so the stage can say so; a workspace's terms come before
  its template's, so they are the last to go.
- **Counted honestly.** The local engine counts with its model's own tokenizer; elsewhere
  (an API, the chat) :func:`estimate_tokens` counts at least as many tokens as Whisper's
  tokenizer makes of English or Cyrillic text, so an estimate never lets a prompt overflow.
- **One shape.** ``Glossary: A, B, C.`` — a list with a lead word, not a bare list: measured
  on synthetic speech, a bare list came back as a segment of its own after the last
  sentence, the lead word stopped that (see README, Performance). The lead word is in the
  script most of the terms are written in (``Глоссарий:`` for Cyrillic ones), so the prompt
  reads as one language; on a synthesised Russian lecture that found more of the names.
- **Local engine.** The prompt goes in as faster-whisper's ``hotwords``, which is put before
  every 30-second window; ``initial_prompt`` reaches only the first window when conditioning
  on earlier text is off (as it is here, see :mod:`integrations.stt.local`).
- **API engine.** The prompt goes in the request's ``prompt`` field, for every chunk.
- **The gate.** A segment made mostly of the vocabulary (:func:`pipeline.terms.echo_share`)
  is kept only when the voice-activity model calls at least :data:`ECHO_MIN_SPEECH` of its
  frames speech; any other segment needs only the engine's usual evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pipeline.terms import ECHO_SHARE, echo_share, term_words
from pipeline.transcript import Segment

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = [
    "ECHO_MIN_SPEECH",
    "PROMPT_TOKENS",
    "Prompt",
    "api_prompt",
    "echoed",
    "estimate_tokens",
    "fit",
    "hotwords",
]

PROMPT_TOKENS = 200
"""The longest prompt, in tokens: under the 223 faster-whisper keeps (and the 224 OpenAI
reads), with room for the space and the lead word's neighbours."""
LEAD = "Glossary:"
LEAD_CYRILLIC = "Глоссарий:"
ECHO_MIN_SPEECH = 0.5
"""Share of a vocabulary-made segment's frames that must be speech for it to stay."""

Counter = Callable[[str], int]


@dataclass(frozen=True)
class Prompt:
    """The prompt text ("" for none), the terms in it and the terms left out."""

    text: str
    kept: tuple[str, ...]
    dropped: tuple[str, ...]


def estimate_tokens(text: str) -> int:
    """A ceiling on the Whisper tokens of ``text``: one per two UTF-8 bytes (measured: English
    averages about one per 2.4 bytes, Russian one per 4)."""
    return (len(text.encode("utf-8")) + 1) // 2


def _lead(terms: Sequence[str]) -> str:
    letters = [c for term in terms for c in term if c.isalpha()]
    cyrillic = sum(1 for c in letters if "\u0400" <= c <= "\u04ff")
    return LEAD_CYRILLIC if letters and cyrillic * 2 > len(letters) else LEAD


def _shape(terms: Sequence[str]) -> str:
    return f"{_lead(terms)} {', '.join(terms)}." if terms else ""


def fit(
    terms: Sequence[str], count: Counter = estimate_tokens, budget: int = PROMPT_TOKENS
) -> Prompt:
    """The prompt for ``terms``: as many of them, in order, as ``budget`` tokens hold."""
    kept: list[str] = []
    dropped: list[str] = []
    for term in terms:
        if not dropped and count(" " + _shape([*kept, term])) <= budget:
            kept.append(term)
        else:
            # Order is priority: once one term does not fit, the rest stay out too.
            dropped.append(term)
    return Prompt(_shape(kept), tuple(kept), tuple(dropped))


def hotwords(model: WhisperModel, terms: Sequence[str]) -> dict[str, Any]:
    """faster-whisper's keyword arguments for ``terms``: ``{"hotwords": ...}`` or nothing."""
    if not terms:
        return {}
    tokenizer = model.hf_tokenizer

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    prompt = fit(terms, count)
    return {"hotwords": prompt.text} if prompt.text else {}


def api_prompt(terms: Sequence[str]) -> dict[str, Any]:
    """A transcription request's fields for ``terms``: ``{"prompt": ...}`` or nothing."""
    prompt = fit(terms)
    return {"prompt": prompt.text} if prompt.text else {}


def echoed(
    segment: Segment,
    terms: Sequence[str],
    probabilities: npt.NDArray[np.float32],
    hop: float,
    speech: float,
) -> bool:
    """True when ``segment`` is mostly the vocabulary over audio that is mostly not speech:
    the prompt said back. ``probabilities`` are the voice-activity model's, one per ``hop``
    seconds; a frame at or above ``speech`` is speech."""
    if not terms or echo_share(segment.text, term_words(terms)) < ECHO_SHARE:
        return False
    a = max(0, int(segment.start / hop))
    b = min(probabilities.size, max(a + 1, int(np.ceil(segment.end / hop))))
    if b <= a:
        return True
    return float(np.mean(probabilities[a:b] >= speech)) < ECHO_MIN_SPEECH
