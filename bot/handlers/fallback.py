"""Whatever no other router took."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import Message

from locales import Translator


async def private_unknown(message: Message, _: Translator) -> None:
    await message.answer(_("intake.unknown"))


async def group_unknown(message: Message, bot: Bot, _: Translator) -> None:
    # In a group only what is addressed to the bot deserves an answer; the rest is conversation.
    me = await bot.me()
    replied = message.reply_to_message
    addressed = (
        replied is not None and replied.from_user is not None and replied.from_user.id == me.id
    ) or (bool(message.text) and f"@{me.username}".lower() in (message.text or "").lower())
    if addressed:
        await message.reply(_("intake.unknown"))


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(private_unknown, F.chat.type == "private")
    router.message.register(group_unknown)
    return router
