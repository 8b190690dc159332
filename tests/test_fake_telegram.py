"""The fake Bot API server speaks the wire format the real aiogram Bot expects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.methods import GetStickerSet
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberOwner,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonCommands,
    Message,
)

from tests.fakes.telegram import CLOUD_DOWNLOAD_LIMIT, FakeTelegram


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(files_dir=tmp_path / "files") as server:
        yield server


class QuickSession(AiohttpSession):
    """Plain HTTP needs no grace period for TLS shutdown after closing."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(fake: FakeTelegram, *, is_local: bool = False) -> Bot:
    api = TelegramAPIServer.from_base(fake.base_url, is_local=is_local)
    return Bot(fake.token, session=QuickSession(api=api))


@contextlib.asynccontextmanager
async def polling(fake: FakeTelegram, router: Router) -> AsyncIterator[Bot]:
    bot = make_bot(fake)
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    task = asyncio.create_task(
        dispatcher.start_polling(bot, polling_timeout=10, handle_signals=False)
    )
    try:
        yield bot
    finally:
        await dispatcher.stop_polling()
        await task


async def test_get_me(fake: FakeTelegram) -> None:
    bot = make_bot(fake)
    async with bot.session:
        me = await bot.get_me()
    assert me.id == fake.bot_id
    assert me.username == "leap_test_bot"
    assert me.is_bot


async def test_polled_start_reaches_handler_and_answer_is_visible(fake: FakeTelegram) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(f"Hello, <b>{message.from_user.first_name}</b>", parse_mode="HTML")

    ann = fake.user(11, "Ann")
    chat = fake.private_chat(ann)
    async with polling(fake, router):
        await fake.send_text(chat, ann, "/start")
        reply = await fake.wait_for_message(chat["id"])
    assert reply.text == "Hello, <b>Ann</b>"
    assert fake.sent(chat["id"]) == [reply]
    assert reply.message_id == 2  # shares the chat's counter with the user's /start


async def test_editing_to_the_same_content_is_not_modified(fake: FakeTelegram) -> None:
    ann = fake.user(11)
    chat = fake.private_chat(ann)
    bot = make_bot(fake)
    async with bot.session:
        sent = await bot.send_message(chat["id"], "Progress: 10%")
        await bot.edit_message_text("Progress: 50%", chat_id=chat["id"], message_id=sent.message_id)
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_text(
                "Progress: 50%", chat_id=chat["id"], message_id=sent.message_id
            )
        with pytest.raises(TelegramBadRequest, match="message to edit not found"):
            await bot.edit_message_text("x", chat_id=chat["id"], message_id=999)
    message = fake.last(chat["id"])
    assert message.text == "Progress: 50%"
    assert message.texts == ["Progress: 10%", "Progress: 50%"]
    assert message.history[0].time <= message.history[1].time


async def test_injected_429_raises_retry_after(fake: FakeTelegram) -> None:
    chat = fake.private_chat(fake.user(11))
    fake.fail_next("sendMessage", retry_after=7)
    bot = make_bot(fake)
    async with bot.session:
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(chat["id"], "hello")
        assert caught.value.retry_after == 7
        await bot.send_message(chat["id"], "hello")  # only the next call failed
    assert [m.text for m in fake.sent(chat["id"])] == ["hello"]
    assert fake.calls_of("sendMessage")[0].error == "Too Many Requests: retry after 7"


async def test_download_in_cloud_mode(fake: FakeTelegram) -> None:
    ann = fake.user(11)
    chat = fake.private_chat(ann)
    message = await fake.send_document(
        chat, ann, b"lecture bytes", file_name="talk.mp4", mime_type="video/mp4"
    )
    file_id = message["document"]["file_id"]
    bot = make_bot(fake)
    async with bot.session:
        info = await bot.get_file(file_id)
        data = await bot.download(file_id)
    assert info.file_path == "documents/file_1.mp4"
    assert info.file_size == len(b"lecture bytes")
    assert data is not None and data.read() == b"lecture bytes"


async def test_download_in_local_mode_reads_from_disk(fake: FakeTelegram, tmp_path: Path) -> None:
    fake.local_mode = True
    source = tmp_path / "big.mp4"
    source.write_bytes(b"\0" * 1000)
    ann = fake.user(11)
    chat = fake.private_chat(ann)
    message = await fake.send_document(
        chat, ann, source, file_name="big.mp4", mime_type="video/mp4", file_size=3_000_000_000
    )
    bot = make_bot(fake, is_local=True)
    async with bot.session:
        info = await bot.get_file(message["document"]["file_id"])
        target = tmp_path / "copy.mp4"
        await bot.download(message["document"]["file_id"], destination=target)
    assert info.file_path is not None
    assert Path(info.file_path).is_absolute()
    assert Path(info.file_path).is_relative_to(fake.files_dir.resolve())
    assert target.read_bytes() == source.read_bytes()
    assert not any(c.method == "getFile" and c.error for c in fake.calls)


async def test_cloud_mode_refuses_files_over_20_mb(fake: FakeTelegram) -> None:
    ann = fake.user(11)
    chat = fake.private_chat(ann)
    message = await fake.send_video(
        chat, ann, b"\0" * (CLOUD_DOWNLOAD_LIMIT + 1), duration=60, width=1280, height=720
    )
    bot = make_bot(fake)
    async with bot.session:
        with pytest.raises(TelegramBadRequest, match="file is too big"):
            await bot.get_file(message["video"]["file_id"])


async def test_pressed_button_reaches_handler_and_answer_is_recorded(fake: FakeTelegram) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Publish", callback_data="rv1:pub:5")]]
        )
        await message.answer("Ready to publish", reply_markup=keyboard)

    @router.callback_query(F.data.startswith("rv1:pub:"))
    async def publish(query: CallbackQuery) -> None:
        await query.answer("Only admins can publish", show_alert=True)
        assert query.message is not None
        await query.message.edit_text("Publishing…")

    ann = fake.user(11)
    chat = fake.private_chat(ann)
    async with polling(fake, router):
        await fake.send_text(chat, ann, "/start")
        offer = await fake.wait_for_message(chat["id"])
        assert fake.buttons(offer) == [("Publish", "rv1:pub:5")]
        query_id = await fake.press(chat, ann, offer.message_id, "rv1:pub:5")
        answer = await fake.wait_for_answer(query_id)
        await fake.wait_for(lambda: offer.text == "Publishing…")
    assert answer == {
        "text": "Only admins can publish",
        "show_alert": True,
    }
    assert offer.reply_markup is None  # an edit without markup drops the keyboard


async def test_members_and_admins_validate_in_aiogram_models(fake: FakeTelegram) -> None:
    group = fake.group(-1001, "Physics")
    owner, admin, member = fake.user(1, "Olga"), fake.user(2, "Ivan"), fake.user(3, "Petr")
    fake.set_admins(group["id"], [admin["id"]], creator=owner["id"])
    await fake.send_text(group, member, "hi")
    bot = make_bot(fake)
    async with bot.session:
        admins = await bot.get_chat_administrators(group["id"])
        as_owner = await bot.get_chat_member(group["id"], owner["id"])
        as_admin = await bot.get_chat_member(group["id"], admin["id"])
        as_member = await bot.get_chat_member(group["id"], member["id"])
        as_bot = await bot.get_chat_member(group["id"], fake.bot_id)
        chat = await bot.get_chat(group["id"])
    assert isinstance(as_owner, ChatMemberOwner)
    assert isinstance(as_admin, ChatMemberAdministrator)
    assert as_admin.can_send_welcome_messages
    assert as_member.status == "member"
    assert isinstance(as_bot, ChatMemberAdministrator)
    assert {a.user.id for a in admins} == {owner["id"], admin["id"], fake.bot_id}
    assert chat.title == "Physics"


async def test_uploaded_document_is_stored_and_served_again(fake: FakeTelegram) -> None:
    chat = fake.private_chat(fake.user(11))
    bot = make_bot(fake)
    payload = b"1\n00:00:00,000 --> 00:00:01,000\nHello\n"
    async with bot.session:
        sent = await bot.send_document(
            chat["id"], BufferedInputFile(payload, "subtitles.srt"), caption="Subtitles"
        )
        assert sent.document is not None
        again = await bot.download(sent.document.file_id)
    stored = fake.last(chat["id"])
    assert stored.caption == "Subtitles"
    assert stored.document is not None
    assert stored.document.file_name == "subtitles.srt"
    assert stored.document.size == len(payload)
    assert stored.document.data == payload
    assert again is not None and again.read() == payload


async def test_wrong_token_and_unknown_method(fake: FakeTelegram) -> None:
    stranger = Bot("999:WRONG", session=QuickSession(api=fake.api()))
    bot = make_bot(fake)
    async with stranger.session, bot.session:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
        with pytest.raises(TelegramNotFound):
            await bot(GetStickerSet(name="anything"))


async def test_long_poll_wakes_on_update_and_confirms_offsets(fake: FakeTelegram) -> None:
    ann = fake.user(11)
    chat = fake.private_chat(ann)
    bot = make_bot(fake)
    async with bot.session:
        poll = asyncio.create_task(bot.get_updates(timeout=600, request_timeout=700))
        await fake.wait_for(lambda: fake.calls_of("getUpdates"))
        await fake.send_text(chat, ann, "one")
        await fake.send_text(chat, ann, "two")
        first = await asyncio.wait_for(poll, 10)
        # send_text queues without yielding, so both were waiting when the poll woke.
        assert [u.message.text for u in first if u.message] == ["one", "two"]
        everything = await bot.get_updates(timeout=0)  # nothing confirmed yet
        assert [u.update_id for u in everything] == [u.update_id for u in first]
        rest = await bot.get_updates(offset=everything[0].update_id + 1, timeout=0)
        assert [u.message.text for u in rest if u.message] == ["two"]
        assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == []


async def test_stop_answers_a_pending_long_poll(tmp_path: Path) -> None:
    fake = FakeTelegram(files_dir=tmp_path)
    await fake.start()
    bot = make_bot(fake)
    async with bot.session:
        poll = asyncio.create_task(bot.get_updates(timeout=600, request_timeout=700))
        await fake.wait_for(lambda: fake.calls_of("getUpdates"))
        await asyncio.wait_for(fake.stop(), 10)
        assert await asyncio.wait_for(poll, 10) == []


async def test_second_poller_conflicts_with_the_first(fake: FakeTelegram) -> None:
    bot = make_bot(fake)
    async with bot.session:
        first = asyncio.create_task(bot.get_updates(timeout=600, request_timeout=700))
        await fake.wait_for(lambda: fake.calls_of("getUpdates"))
        second = asyncio.create_task(bot.get_updates(timeout=0))
        with pytest.raises(TelegramConflictError):
            await asyncio.wait_for(first, 10)
        assert await second == []


async def test_html_is_stored_as_sent_and_returned_as_entities(fake: FakeTelegram) -> None:
    chat = fake.private_chat(fake.user(11))
    bot = make_bot(fake)
    async with bot.session:
        sent = await bot.send_message(chat["id"], "<b>Topic</b> &lt;1&gt; ✓", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(chat["id"], "Energy < mass", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(chat["id"], "x" * 4097)
    assert sent.text == "Topic <1> ✓"
    assert sent.entities is not None
    assert (sent.entities[0].type, sent.entities[0].length) == ("bold", 5)
    assert sent.html_text == "<b>Topic</b> &lt;1&gt; ✓"
    assert [m.text for m in fake.sent(chat["id"])] == ["<b>Topic</b> &lt;1&gt; ✓"]


async def test_forum_topic_reply_stays_in_its_thread(fake: FakeTelegram) -> None:
    router = Router()

    @router.message(F.text == "hello")
    async def hello(message: Message) -> None:
        await message.answer("hi there")

    group = fake.group(-1002, forum=True)
    topic = fake.create_topic(group)
    ann = fake.user(11)
    async with polling(fake, router):
        await fake.send_text(group, ann, "hello", thread_id=topic)
        reply = await fake.wait_for_message(group["id"])
    assert reply.thread_id == topic
    assert fake.sent(group["id"], thread_id=topic) == [reply]
    bot = make_bot(fake)
    async with bot.session:
        with pytest.raises(TelegramBadRequest, match="message thread not found"):
            await bot.send_message(group["id"], "lost", message_thread_id=topic + 100)


async def test_membership_updates_reach_handlers(fake: FakeTelegram) -> None:
    router = Router()
    seen: list[tuple[str, str, str]] = []

    @router.my_chat_member()
    async def bot_added(event: ChatMemberUpdated) -> None:
        seen.append(("bot", event.old_chat_member.status, event.new_chat_member.status))

    @router.chat_member()
    async def member_changed(event: ChatMemberUpdated) -> None:
        seen.append(("user", event.old_chat_member.status, event.new_chat_member.status))

    group = fake.group(-1003)
    olga, petr = fake.user(1, "Olga"), fake.user(3, "Petr")
    fake.set_admins(group["id"], [], creator=olga["id"])
    async with polling(fake, router):
        await fake.add_bot_to_group(group, olga)
        await fake.chat_member_changed(group, petr, old="member", new="administrator", by=olga)
        await fake.wait_for(lambda: len(seen) == 2)
    assert seen == [("bot", "left", "administrator"), ("user", "member", "administrator")]
    assert fake.member_status(group["id"], petr["id"]) == "administrator"


async def test_bot_deletes_a_message_that_carried_a_secret(fake: FakeTelegram) -> None:
    ann = fake.user(11)
    chat = fake.private_chat(ann)
    secret = await fake.send_text(chat, ann, "sk-live-123")
    bot = make_bot(fake)
    async with bot.session:
        assert await bot.delete_message(chat["id"], secret["message_id"])
        with pytest.raises(TelegramBadRequest, match="message to delete not found"):
            await bot.delete_message(chat["id"], secret["message_id"])
    assert fake.deleted_user_messages == {(chat["id"], secret["message_id"])}


async def test_commands_and_menu_button_are_recorded(fake: FakeTelegram) -> None:
    bot = make_bot(fake)
    commands = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="help", description="Help"),
    ]
    async with bot.session:
        await bot.set_my_commands(commands, language_code="ru")
        await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
        listed = await bot.get_my_commands(language_code="ru")
        assert [(c.command, c.description) for c in listed] == [
            ("start", "Start"),
            ("help", "Help"),
        ]
        assert await bot.get_my_commands() == []
        assert await bot.delete_my_commands(language_code="ru")
    assert fake.my_commands() == []
    assert fake.menu_buttons[None] == {"type": "commands"}


async def test_uploaded_video_keeps_its_metadata(fake: FakeTelegram) -> None:
    group = fake.group(-1004)
    bot = make_bot(fake)
    async with bot.session:
        sent = await bot.send_video(
            group["id"],
            BufferedInputFile(b"\0\0\0\x18ftypmp42", "lecture.mp4"),
            duration=90,
            width=1280,
            height=720,
            caption="<b>Lecture 1</b>",
            parse_mode="HTML",
        )
    assert sent.video is not None
    assert (sent.video.duration, sent.video.width, sent.video.height) == (90, 1280, 720)
    assert sent.caption == "Lecture 1"
    stored = fake.last(group["id"])
    assert stored.caption == "<b>Lecture 1</b>"
    assert stored.video is not None and stored.video.data == b"\0\0\0\x18ftypmp42"


async def test_rate_limit_answers_429_with_retry_after(fake: FakeTelegram) -> None:
    chat = fake.private_chat(fake.user(11))
    fake.limit_rate(2, 60)
    bot = make_bot(fake)
    async with bot.session:
        await bot.send_message(chat["id"], "one")
        await bot.send_message(chat["id"], "two")
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(chat["id"], "three")
    assert 1 <= caught.value.retry_after <= 60
    assert len(fake.sent(chat["id"])) == 2


async def test_blocked_user_answers_forbidden(fake: FakeTelegram) -> None:
    ann = fake.user(11)
    chat = fake.private_chat(ann)
    fake.block_bot(ann)
    bot = make_bot(fake)
    async with bot.session:
        with pytest.raises(TelegramForbiddenError, match="blocked"):
            await bot.send_message(chat["id"], "are you there?")


async def test_upload_over_the_limit_is_entity_too_large(fake: FakeTelegram) -> None:
    chat = fake.private_chat(fake.user(11))
    fake.upload_limit = 1000
    bot = make_bot(fake)
    async with bot.session:
        with pytest.raises(TelegramEntityTooLarge):
            await bot.send_video(chat["id"], BufferedInputFile(b"\0" * 2000, "big.mp4"))
        fake.local_mode = True  # a local server takes up to 2000 MB
        await bot.send_video(chat["id"], BufferedInputFile(b"\0" * 2000, "big.mp4"))
    assert len(fake.sent(chat["id"])) == 1


async def test_bot_cannot_write_first_to_a_user(fake: FakeTelegram) -> None:
    ann = fake.user(11)
    bot = make_bot(fake)
    async with bot.session:
        with pytest.raises(TelegramForbiddenError, match="initiate conversation"):
            await bot.send_message(ann["id"], "hello")
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(424242, "hello")


async def test_copy_of_a_user_video_to_a_channel(fake: FakeTelegram) -> None:
    ann = fake.user(11)
    chat = fake.private_chat(ann)
    channel = fake.channel(-1005, username="leap_lectures")
    original = await fake.send_video(chat, ann, b"video", duration=30, width=640, height=360)
    bot = make_bot(fake)
    async with bot.session:
        copied = await bot.copy_message(
            "@leap_lectures", chat["id"], original["message_id"], caption="Lecture 2"
        )
        forwarded = await bot.forward_message(chat["id"], channel["id"], copied.message_id)
    posted = fake.message(channel["id"], copied.message_id)
    assert posted.caption == "Lecture 2"
    assert posted.video is not None and posted.video.data == b"video"
    assert posted.media_meta["duration"] == 30
    assert forwarded.forward_origin is not None
    assert forwarded.video is not None


async def test_edited_user_text_arrives_as_edited_message(fake: FakeTelegram) -> None:
    router = Router()
    edits: list[str] = []

    @router.edited_message()
    async def edited(message: Message) -> None:
        edits.append(message.text or "")

    ann = fake.user(11)
    chat = fake.private_chat(ann)
    sent = await fake.send_text(chat, ann, "Topic 1")
    async with polling(fake, router):
        await fake.edit_text(chat, ann, sent["message_id"], "Topic one")
        await fake.wait_for(lambda: edits)
    assert edits == ["Topic one"]


async def test_webhook_blocks_polling_until_deleted(fake: FakeTelegram) -> None:
    bot = make_bot(fake)
    async with bot.session:
        await bot.set_webhook("https://leap.example/webhook", secret_token="s3cret")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates(timeout=0)
        info = await bot.get_webhook_info()
        await bot.delete_webhook(drop_pending_updates=True)
        assert await bot.get_updates(timeout=0) == []
    assert info.url == "https://leap.example/webhook"
    assert fake.webhook is None
    assert fake.calls_of("setWebhook")[0].params["secret_token"] == "s3cret"


async def test_same_keyboard_is_not_modified_and_server_errors_surface(
    fake: FakeTelegram,
) -> None:
    chat = fake.private_chat(fake.user(11))
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Open", url="https://leap.example/r/1")]]
    )
    bot = make_bot(fake)
    async with bot.session:
        sent = await bot.send_message(chat["id"], "Published", reply_markup=keyboard)
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_reply_markup(
                chat_id=chat["id"], message_id=sent.message_id, reply_markup=keyboard
            )
        fake.fail_next("editMessageReplyMarkup", error_code=502, description="Bad Gateway")
        with pytest.raises(TelegramServerError):
            await bot.edit_message_reply_markup(chat_id=chat["id"], message_id=sent.message_id)
        await bot.edit_message_reply_markup(chat_id=chat["id"], message_id=sent.message_id)
    message = fake.last(chat["id"])
    assert message.reply_markup is None
    assert fake.calls_of("sendMessage")[0].params["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Open",
        "url": "https://leap.example/r/1",
    }


async def test_long_callback_data_is_refused(fake: FakeTelegram) -> None:
    chat = fake.private_chat(fake.user(11))
    keyboard = {"inline_keyboard": [[{"text": "x", "callback_data": "y" * 65}]]}
    bot = make_bot(fake)
    async with bot.session:
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(
                chat["id"], "x", reply_markup=InlineKeyboardMarkup.model_validate(keyboard)
            )


async def test_pre_code_block_keeps_its_language(fake: FakeTelegram) -> None:
    chat = fake.private_chat(fake.user(11))
    bot = make_bot(fake)
    async with bot.session:
        sent = await bot.send_message(
            chat["id"],
            '<pre><code class="language-json">{"a": 1}</code></pre>',
            parse_mode="HTML",
        )
    assert sent.text == '{"a": 1}'
    assert sent.entities is not None
    assert [(e.type, e.language) for e in sent.entities] == [("pre", "json")]
