"""Keyboards of /connect and /connections."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks.connections import ConnectCb, DisconnectCb, SignInCb
from locales import Translator
from storage.models import Credential

PROVIDERS = ("youtube", "vk", "yandex", "telegram")


def connect_menu(_: Translator, providers: tuple[str, ...] = PROVIDERS) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for provider in providers:
        builder.button(
            text=_(f"connect.button.{provider}"), callback_data=ConnectCb(provider=provider)
        )
    builder.adjust(2, 1)
    return builder.as_markup()


def authorize(_: Translator, provider: str, url: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_(f"connect.open.{provider}"), url=url)
    return builder.as_markup()


def confirm_sign_in(_: Translator, key: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("connect.answer.confirm"), callback_data=SignInCb(action="ok", key=key))
    builder.button(text=_("connect.answer.cancel"), callback_data=SignInCb(action="no", key=key))
    return builder.as_markup()


def open_private(_: Translator, url: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("connect.open_bot"), url=url)
    return builder.as_markup()


def connections(_: Translator, rows: Sequence[Credential]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    builder = InlineKeyboardBuilder()
    for row in rows:
        builder.button(
            text=_(
                "connections.disconnect",
                provider=_(f"connect.provider.{row.provider}"),
                name=row.account_name or "—",
            ),
            callback_data=DisconnectCb(credential_id=row.id),
        )
    builder.adjust(1)
    return builder.as_markup()
