"""/cancel: whatever the bot is waiting for from this person in this chat, it stops waiting.

Seen before every other router, so no open prompt can take "/cancel" for its answer.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from redis.asyncio import Redis

from bot.conversation import Conversations
from locales import Translator


async def cancel(message: Message, arq: Redis, _: Translator) -> None:
    if message.from_user is None:
        return
    ended = await Conversations(arq).cancel(message.chat.id, message.from_user.id)
    await message.reply(_("common.cancelled") if ended else _("common.nothing_to_cancel"))


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(cancel, Command("cancel"))
    return router
