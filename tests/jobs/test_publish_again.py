"""After a failed publication an admin publishes again from /recordings, once the cause is fixed."""

from __future__ import annotations

import httpx

from storage.models import PublicationStatus, RecordingStatus
from tests.bot.chat_fixtures import button, seen
from tests.conftest import running
from tests.fakes.telegram import BotMessage
from tests.jobs.conftest import World


async def _reconnect_youtube(world: World) -> None:
    """/connect, YouTube, sign in with Google in the browser, confirm the channel in the chat."""
    telegram, chat, user = world.telegram, world.chat, world.user
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/connect")
    menu = await telegram.wait_for_message(chat["id"], lambda m: bool(m.buttons), after=mark)
    mark = telegram.mark()
    await telegram.press(chat, user, menu.message_id, button(menu, "YouTube"))
    prompt = await telegram.wait_for_message(chat["id"], lambda m: bool(m.buttons), after=mark)
    [(_label, link)] = prompt.buttons
    async with httpx.AsyncClient() as http:
        page = await http.get(world.google.approve(link))
    assert page.status_code == 200
    question = await telegram.wait_for_message(
        chat["id"], lambda m: "Connect the YouTube channel" in seen(m), after=mark
    )
    await telegram.press(chat, user, question.message_id, button(question, "Connect"))
    await telegram.wait_for(lambda: "YouTube connected" in seen(question))


async def _recording_card(world: World) -> BotMessage:
    telegram, chat, user = world.telegram, world.chat, world.user
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/recordings")
    listing = await telegram.wait_for_message(
        chat["id"], lambda m: "Recordings" in seen(m), after=mark
    )
    await telegram.press(chat, user, listing.message_id, button(listing, "lecture.mp4"))
    await telegram.wait_for(lambda: f"#{world.recording_id}" in seen(listing))
    return listing


async def test_a_publication_failed_on_a_revoked_grant_is_published_again_after_reconnecting(
    world: World,
) -> None:
    tokens = await world.connect_youtube()
    world.google.revoke(tokens["refresh_token"])  # removed at myaccount.google.com

    async with running(world.settings, world.telegram):
        await world.publish(["youtube"])
        failed = await world.links_message()
        assert "YouTube needs to be connected again" in seen(failed)
        assert (await world.recording()).status == RecordingStatus.FAILED

        await _reconnect_youtube(world)
        card = await _recording_card(world)
        assert "❌ YouTube" in seen(card)
        labels = [label for label, _ in card.buttons]
        assert any("Publish again" in label for label in labels), labels
        assert not any("Retry" in label for label in labels), labels

        query = await world.telegram.press(
            world.chat, world.user, card.message_id, button(card, "Publish again")
        )
        answer = await world.telegram.wait_for_answer(query)
        assert answer["text"] == "🚀 Publishing again to: YouTube"
        links = await world.telegram.wait_for_message(
            world.chat["id"], lambda m: seen(m).startswith("📺"), after=0, timeout=30
        )

    assert "✅ YouTube: https://" in seen(links)
    publication = (await world.publications())["youtube"]
    assert publication.status == PublicationStatus.DONE
    assert publication.url and publication.url in seen(links)
    assert len(world.google.videos) == 1
    recording = await world.recording()
    assert recording.status == RecordingStatus.READY
    assert recording.failure_code is None
    requests = [e for e in await world.audit() if e.action == "publish_requested"]
    assert [e.user_id for e in requests] == [world.user["id"], world.user["id"]]
