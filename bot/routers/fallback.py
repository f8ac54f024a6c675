"""Last router: tell people in private chats when a command is unknown."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message

from bot.context import AppContext
from bot.i18n import Translator


def setup(ctx: AppContext) -> Router:
    router = Router(name="fallback")

    @router.message(F.chat.type == "private", F.text.startswith("/"))
    async def unknown_command(message: Message, t: Translator) -> None:
        await message.answer(t("core.unknown_command"))

    return router
