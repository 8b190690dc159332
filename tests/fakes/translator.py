"""A subtitle-translating model for the fake OpenAI server: checks each request, then answers.

`SubtitleModel.check` is the server's ``chat_check``: a request must carry a system and a
user message, ask for JSON, name the two languages as expected (in the system prompt and in
the user's JSON), and send at most ``max_batch`` cues with consecutive ids and at most
``max_context`` cues of context either side. `SubtitleModel.answer` is the server's ``chat``:
it translates each cue from ``glossary`` (unknown text comes back marked, in the target's
script). ``batches`` records the ids of every request, repairs included::

    model = SubtitleModel("Russian", "English", glossary, max_batch=40)
    api.chat_check, api.chat = model.check, model.answer
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# What a text the glossary lacks becomes, so it is still in the target's script.
_UNKNOWN = {"English": "Something said", "Russian": "Что-то сказано"}


def user_request(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON object at the start of the request's user message (a repair adds text after)."""
    user = [m for m in body.get("messages", []) if m.get("role") == "user"][-1]
    data, _ = json.JSONDecoder().raw_decode(str(user["content"]))
    return data


@dataclass
class SubtitleModel:
    source: str
    target: str
    glossary: dict[str, str]
    max_batch: int = 40
    max_context: int = 3
    batches: list[list[int]] = field(default_factory=list)
    repairs: int = 0

    def check(self, body: dict[str, Any]) -> str | None:
        messages = body.get("messages")
        if not isinstance(messages, list) or [m.get("role") for m in messages] != [
            "system",
            "user",
        ]:
            return "expected a system and a user message"
        fmt = body.get("response_format")
        if fmt is not None and fmt != {"type": "json_object"}:
            return f"unexpected response_format {fmt!r}"
        system = str(messages[0].get("content"))
        if self.source not in system or self.target not in system:
            return f"the system prompt does not name {self.source} and {self.target}"
        try:
            data = user_request(body)
        except ValueError:
            return "the user message does not start with a JSON object"
        if set(data) != {"from", "to", "context_before", "cues", "context_after"}:
            return f"unexpected request keys {sorted(data)}"
        if (data["from"], data["to"]) != (self.source, self.target):
            return f"languages {data['from']!r} -> {data['to']!r}"
        cues = data["cues"]
        if not isinstance(cues, list) or not 1 <= len(cues) <= self.max_batch:
            return f"a batch of {len(cues) if isinstance(cues, list) else cues!r} cues"
        ids = [c.get("id") for c in cues if isinstance(c, dict)]
        if len(ids) != len(cues) or ids != list(range(ids[0], ids[0] + len(ids))):
            return f"cue ids are not consecutive: {ids}"
        if not all(isinstance(c.get("text"), str) and c["text"] for c in cues):
            return "a cue without text"
        for key in ("context_before", "context_after"):
            context = data[key]
            if not isinstance(context, list) or len(context) > self.max_context:
                return f"{key} is not a list of at most {self.max_context} cues"
            if not all(isinstance(t, str) for t in context):
                return f"{key} holds something other than text"
        if "cannot be used" in str(messages[1].get("content")):
            self.repairs += 1
        self.batches.append(ids)
        return None

    def translate(self, text: str) -> str:
        return self.glossary.get(text, f"{_UNKNOWN.get(self.target, 'Said')} {len(text)}")

    def answer(self, body: dict[str, Any]) -> str:
        cues = user_request(body)["cues"]
        return json.dumps(
            {"cues": [{"id": c["id"], "text": self.translate(c["text"])} for c in cues]},
            ensure_ascii=False,
        )
