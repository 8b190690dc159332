"""The topics stage: chapters with timecodes, by an LLM when a key is set, offline otherwise.

Whichever method found them, the topics written are the chapters a person will see: each
starts on its first words (never in a pause or a break), and topics too close to make a
chapter of their own are folded away here, so the progress message counts what the card
shows.

How finely a lecture is cut (granularity: "fewer", "normal", "more") is the recording's own
choice from its review card (``options["granularity"]``), else its template's. The language
model spells names by the key terms the transcript was made with (`jobs.terms`).

The summary found is kept in the recording's media with where it came from (``summary``:
"llm", "opening" for the offline method's opening sentences, "missing" when the model's
stayed unusable, "none" when a recording is too short for one); a summary a person wrote on
the card ("person") outlives its chapters being made again.

Whether a language model is set up is kept with the topics (``topics["llm"]``, true also when
its request failed and the offline method stepped in), for the card's subtitle translation, and
for the self-check questions
(``questions["llm"]``, `jobs.quiz`): they are offered on the card only then, and questions
already made outlive the chapters being made again. When the channel quiz is chosen (on the
card, else by the template) and there are none yet, the questions are made here too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from integrations import llm
from jobs import control, files, quiz
from jobs import terms as key_terms
from jobs.facts import recording_facts
from jobs.review_actions import PERSON
from jobs.runner import StageJob, stage
from leap.settings import Settings
from pipeline import offline_topics
from pipeline.templates.models import GRANULARITIES
from pipeline.topics import Topics, chapter_spaced, normalize, on_first_words
from pipeline.transcript import Transcript
from storage.models import Recording

log = logging.getLogger(__name__)


@stage("topics")
async def topics(job: StageJob) -> None:
    recording = job.recording
    folder = job.deps.store.recording_dir(recording.workspace_id, recording.id)
    transcript = Transcript.load_json(folder / files.TRANSCRIPT)
    duration = float(recording.media.get("trim", {}).get("duration") or transcript.duration)
    job.report(job._("progress.topics"))

    async with job.deps.sessions() as session:
        granularity = await recording_granularity(session, recording)
        quiz_wanted = await channel_quiz_wanted(session, recording)
    terms = key_terms.used_terms(recording)
    found, method = await find_topics(
        job.deps.settings, transcript, duration, granularity, terms=terms
    )
    summary = summary_state(recording, found, method)
    found = found.model_copy(update={"summary": summary["text"]})
    files.write_text(folder / files.TOPICS, found.dump_json())
    job.save(
        media={
            "topics": {
                "count": len(found.topics),
                "method": method,
                "granularity": granularity,
                # Whether a model was set up, whichever method found the chapters: the card's
                # translation offer and its reason go by this, not by a failed request.
                "llm": job.deps.settings.llm_api_key is not None,
            },
            "summary": summary,
            "questions": await quiz.stage_questions(
                job.deps.settings, recording, transcript, found, wanted=quiz_wanted
            ),
        }
    )
    job.summarize(job._("progress.topics_done", count=len(found.topics)))


def summary_state(recording: Recording, found: Topics, method: str) -> dict[str, str]:
    """The summary to keep and where it came from."""
    earlier = recording.media.get("summary") or {}
    if earlier.get("source") == PERSON and earlier.get("text"):
        return {"text": str(earlier["text"]), "source": PERSON}
    text = found.summary.strip()
    if text:
        return {"text": text, "source": "llm" if method == "llm" else "opening"}
    return {"text": "", "source": "missing" if method == "llm" else "none"}


async def channel_quiz_wanted(session: AsyncSession, recording: Recording) -> bool:
    """The channel quiz, as chosen on the card, else by the template."""
    chosen = recording.options.get("quiz_channel")
    if isinstance(chosen, bool):
        return chosen
    template = await control.matched_template(session, recording, recording_facts(recording))
    return template.quiz_channel


async def recording_granularity(session: AsyncSession, recording: Recording) -> str:
    """The recording's own granularity when it chose one, else its template's."""
    chosen = recording.options.get("granularity")
    if chosen in GRANULARITIES:
        return str(chosen)
    template = await control.matched_template(session, recording, recording_facts(recording))
    return template.granularity


async def find_topics(
    settings: Settings,
    transcript: Transcript,
    duration: float,
    granularity: str = "normal",
    terms: Sequence[str] = (),
) -> tuple[Topics, str]:
    """Topics and the method that found them: "llm" when a key is set, else "offline"."""
    found = await _with_llm(settings, transcript, duration, granularity, terms)
    method = "llm"
    if found is None:
        found = await asyncio.to_thread(
            offline_topics.extract_topics, transcript, duration, granularity=granularity
        )
        method = "offline"
    found = on_first_words(normalize(found, duration), transcript.words())
    return chapter_spaced(found, duration), method


async def _with_llm(
    settings: Settings,
    transcript: Transcript,
    duration: float,
    granularity: str,
    terms: Sequence[str] = (),
) -> Topics | None:
    if settings.llm_api_key is None:
        return None
    try:
        return await llm.extract_topics(
            transcript,
            duration,
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value(),
            model=settings.llm_model,
            language=transcript.language,
            granularity=granularity,
            terms=terms,
        )
    except llm.TopicsError as exc:
        # The offline method still gives usable chapters; a person reviews them anyway.
        log.warning("LLM topics failed (%s); the offline method is used", exc.code)
        return None
