"""Synchronous filters run on the event loop's thread, with the same results."""

from __future__ import annotations

import threading
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.types import Message, Update

from bot.inline_filters import inline_sync_filters

TOKEN = "42:" + "T" * 35


def update(text: str, chat_type: str = "private") -> Update:
    return Update.model_validate(
        {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": 5 if chat_type == "private" else -5, "type": chat_type},
                "from": {"id": 5, "is_bot": False, "first_name": "A"},
                "text": text,
            },
        }
    )


async def test_sync_filters_run_inline_and_still_decide() -> None:
    threads: list[int] = []
    handled: list[str] = []

    def plain(message: Message) -> bool | dict[str, Any]:
        threads.append(threading.get_ident())
        return {"word": (message.text or "").upper()} if message.text == "ping" else False

    child = Router()
    child.message.filter(F.chat.type == "private")  # router-level magic filter

    @child.message(plain)
    async def pong(message: Message, word: str) -> None:
        handled.append(word)

    @child.message(F.text.startswith("x"))
    async def ex(message: Message) -> None:
        handled.append("x")

    dp = Dispatcher()
    dp.include_router(Router()).include_router(child)  # nested: found through the tail
    assert inline_sync_filters(dp) == 3
    assert inline_sync_filters(dp) == 0  # idempotent

    bot = Bot(TOKEN)
    try:
        await dp.feed_update(bot, update("ping"))
        await dp.feed_update(bot, update("xyz"))
        await dp.feed_update(bot, update("ping", chat_type="group"))  # router filter says no
        await dp.feed_update(bot, update("nope"))
    finally:
        await bot.session.close()
    assert handled == ["PING", "x"]
    assert threads and set(threads) == {threading.get_ident()}
