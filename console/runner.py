"""``python -m console``: the console alone, without polling or the scheduler.

Several such processes may serve one deployment behind a load balancer: sessions, sign-in
links and change-stream positions are in MongoDB. It needs ``MONGODB_URI`` (the database
the bot uses; the embedded development database belongs to the bot's process). Its own
Bot is only for outgoing calls pages make; it is not checked against Telegram at start,
so the console also runs where Telegram cannot be reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer

from bot.config import Settings
from bot.sender import install_sender
from bot.session import TelegramSession
from broadcasts.ratelimit import Limits
from console.app import ConsoleServer
from console.pages import PAGES
from console.services import build_services
from kernel.clock import Clock
from storage.client import connect
from storage.schema import ensure_schema

ReadyCallback = Callable[[ConsoleServer], Awaitable[None] | None]


class ConsoleConfigError(RuntimeError):
    """The settings do not allow running the console alone (the message says why)."""


def make_bot(settings: Settings) -> Bot:
    """A Bot for the console's outgoing calls, paced by its own limiter."""
    bot = Bot(
        token=settings.bot_token.get_secret_value(),
        session=TelegramSession(api=TelegramAPIServer.from_base(settings.telegram_api_url)),
        default=DefaultBotProperties(parse_mode=None, link_preview_is_disabled=True),
    )
    install_sender(
        bot,
        Limits(
            settings.send_global_per_s,
            settings.send_group_per_min,
            settings.send_chat_per_s,
            private_burst=settings.send_private_burst,
        ),
        max_retries=settings.send_max_retries,
    )
    return bot


async def run(
    settings: Settings,
    stop: asyncio.Event,
    *,
    clock: Clock | None = None,
    on_ready: ReadyCallback | None = None,
    pages: Sequence[str] = PAGES,
) -> None:
    if settings.mongodb_uri is None:
        raise ConsoleConfigError(
            "python -m console needs MONGODB_URI (the database the bot uses); without it, "
            "run the bot (python -m bot), which serves the console itself"
        )
    client, db = await connect(settings.mongodb_uri.get_secret_value(), settings.mongodb_db)
    try:
        await ensure_schema(db)
        bot = make_bot(settings)
        try:
            server = ConsoleServer(build_services(settings, db, clock=clock, bot=bot), pages=pages)
            await server.start()
            try:
                if on_ready is not None:
                    result = on_ready(server)
                    if result is not None:
                        await result
                await stop.wait()
            finally:
                await server.stop()
        finally:
            await bot.session.close()
    finally:
        await client.close()
