"""What the workers post in the chat: the progress message and the review card.

The bot imports the cards from here (README's table), and re-renders the same cards after a
person acts on them. One module per part, each opening with the rules it keeps:

- `callbacks`: the callback data of every button the workers post;
- `text`: the HTML the cards are written in, kept inside what Telegram accepts;
- `progress_card`: the progress message's text, and its last word when a stage fails;
- `platforms`: which platforms a card offers and has chosen, and the review state;
- `review_text`: the review card's text and buttons;
- `review_card`: posting and redrawing the review card, before Publish and after.

Every edit of a message that workers keep up to date goes through jobs.progress, which paces
the edits (one place keeps the pace and spells its Redis key); the cards only write the text.
A card is written in its recording's language, whoever pressed the button.
"""

from jobs.cards.callbacks import (
    AGAIN,
    DELETE,
    DELETE_KEEP,
    DELETE_SURE,
    DESCRIPTION,
    DISCARD,
    DISCARD_KEEP,
    DISCARD_SURE,
    PREVIEW,
    PUBLISH,
    REVIEW_ACTIONS,
    TITLE,
    TOPICS,
    OutcomeCb,
    PlatformCb,
    RetryCb,
    ReviewCb,
)
from jobs.cards.platforms import (
    connected_platforms,
    offered_platforms,
    platform_name,
    review_state,
    selected_platforms,
    set_review_state,
)
from jobs.cards.progress_card import (
    final_text,
    render,
    retry_keyboard,
    shown_stages,
    stage_failed,
)
from jobs.cards.review_card import (
    pipeline_finished,
    publishing_ended,
    refresh_review_card,
    send_review_card,
    show_publish_started,
    show_publishing,
)
from jobs.cards.review_text import (
    fetch_metadata,
    metadata_chapters,
    recording_title,
    trimmed_line,
)
from jobs.cards.text import MAX_TEXT, clip, fit, safe
from jobs.publish.metadata import display_name

__all__ = [
    "AGAIN",
    "DELETE",
    "DELETE_KEEP",
    "DELETE_SURE",
    "DESCRIPTION",
    "DISCARD",
    "DISCARD_KEEP",
    "DISCARD_SURE",
    "MAX_TEXT",
    "PREVIEW",
    "PUBLISH",
    "REVIEW_ACTIONS",
    "TITLE",
    "TOPICS",
    "OutcomeCb",
    "PlatformCb",
    "RetryCb",
    "ReviewCb",
    "clip",
    "connected_platforms",
    "display_name",
    "fetch_metadata",
    "final_text",
    "fit",
    "metadata_chapters",
    "offered_platforms",
    "pipeline_finished",
    "platform_name",
    "publishing_ended",
    "recording_title",
    "refresh_review_card",
    "render",
    "retry_keyboard",
    "review_state",
    "safe",
    "selected_platforms",
    "send_review_card",
    "set_review_state",
    "show_publish_started",
    "show_publishing",
    "shown_stages",
    "stage_failed",
    "trimmed_line",
]
