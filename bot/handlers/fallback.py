"""Whatever no other router took."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message

from locales import Translator

log = logging.getLogger(__name__)


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


async def unknown_button(query: CallbackQuery, _: Translator) -> None:
    # A button of an older version, or data no button of ours carries: answer, do nothing.
    log.info("button %r matched nothing", (query.data or "")[:64])
    await query.answer(_("card.stale_button"))


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(private_unknown, F.chat.type == "private")
    router.message.register(group_unknown)
    router.callback_query.register(unknown_button)
    return router
