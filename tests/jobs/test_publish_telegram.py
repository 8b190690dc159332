"""Posting the video to a Telegram channel through the bot."""

from __future__ import annotations

from integrations.telegram_channel import caption
from pipeline.timecodes import Chapter
from storage.models import PublicationStatus
from tests.conftest import running
from tests.jobs.conftest import CHANNEL, World


async def test_video_is_posted_with_the_chapters_in_the_caption(world: World) -> None:
    await world.connect_channel()

    async with running(world.settings, world.telegram):
        assert await world.publish(["telegram"]) == ["telegram"]
        links = await world.links_message()

    [post] = world.telegram.sent(CHANNEL)
    assert post.video is not None
    assert post.video.data == (world.folder / "video.mp4").read_bytes()
    assert post.media_meta["duration"] == 6
    assert post.caption.startswith("<b>Signals, lecture 3: sampling</b>")
    assert "0:00 Introduction\n0:02 Sampling a signal\n0:04 Aliasing" in post.caption
    assert f"https://t.me/lectures_channel/{post.message_id}" in links.content
    publication = (await world.publications())["telegram"]
    assert publication.status == PublicationStatus.DONE.value
    assert publication.remote_id == str(post.message_id)


async def test_bot_that_is_no_longer_admin_gets_a_clear_reason(world: World) -> None:
    await world.connect_channel()
    world.telegram.set_admins(CHANNEL, [], bot_is_admin=False)

    async with running(world.settings, world.telegram):
        await world.publish(["telegram"])
        links = await world.links_message()

    assert world.telegram.sent(CHANNEL) == []
    assert "❌ Telegram channel: I can't post to the channel any more" in links.content
    assert (await world.publications())["telegram"].status == PublicationStatus.FAILED.value


async def test_video_over_the_upload_limit_is_explained(world: World) -> None:
    await world.connect_channel()
    small = world.settings.model_copy(update={"cloud_upload_limit_mb": 1})

    async with running(small, world.telegram):
        await world.publish(["telegram"])
        links = await world.links_message()

    assert world.telegram.sent(CHANNEL) == []
    assert "Telegram lets bots post at most 1 MB" in links.content
    assert "local Bot API server" in links.content


def test_caption_keeps_whole_chapter_lines_within_telegrams_limit() -> None:
    chapters = [Chapter(start=60.0 * i, title=f"Topic number {i} & more") for i in range(200)]

    text = caption("Linear algebra <3>", chapters)

    plain = text.replace("<b>", "").replace("</b>", "").replace("&amp;", "&")
    plain = plain.replace("&lt;", "<").replace("&gt;", ">")
    assert len(plain.encode("utf-16-le")) // 2 <= 1024
    assert plain.startswith("Linear algebra <3>\n\n0:00 Topic number 0 & more\n1:00 Topic")
    assert plain.endswith("\n…")
    lines = plain.split("\n")[2:-1]
    assert all(line.endswith("& more") for line in lines)
    assert caption("Short", chapters[:3]).endswith("2:00 Topic number 2 &amp; more")
