"""A fake Telegram Bot API server for end-to-end tests of the aiogram bot.

Usage::

    async with FakeTelegram() as tg:
        tg.add_user(1001, "Ann")
        # tg.make_bot() == Bot("42:TEST", session=AiohttpSession(
        #     api=TelegramAPIServer.from_base(tg.base_url))) minus the 250 ms close() sleep
        bot = tg.make_bot()
        await tg.send_message(1001, text="/start")
        reply = await tg.wait_for_message(1001, text_contains="Welcome")
"""

from __future__ import annotations

from .builders import chat_member_json, detect_entities, tiny_png, utf16_len
from .client import FakeServerSession, make_bot
from .errors import TgError
from .limits import FloodLimits, LimitHit
from .params import Upload
from .server import FakeTelegram
from .state import Call, ChatRec, FileRec, MessageRec, Stats, UserRec, WebhookDelivery

__all__ = [
    "Call",
    "ChatRec",
    "FakeServerSession",
    "FakeTelegram",
    "FileRec",
    "FloodLimits",
    "LimitHit",
    "MessageRec",
    "Stats",
    "TgError",
    "Upload",
    "UserRec",
    "WebhookDelivery",
    "chat_member_json",
    "detect_entities",
    "make_bot",
    "tiny_png",
    "utf16_len",
]
