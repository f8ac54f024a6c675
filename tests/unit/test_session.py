"""The bot's Bot API session keeps reply models alive across garbage collections."""

from __future__ import annotations

import gc
import json
import weakref

from aiogram import Bot
from aiogram.methods import GetChatMemberCount, Response, SendMessage

from bot.session import TelegramSession

TOKEN = "42:" + "T" * 35


def test_reply_models_survive_a_full_garbage_collection() -> None:
    session = TelegramSession()
    bot = Bot(TOKEN, session=session)
    message = {
        "message_id": 7,
        "date": 1_700_000_000,
        "chat": {"id": 5, "type": "private"},
        "text": "你好",
    }
    reply = session.check_response(
        bot, SendMessage(chat_id=5, text="你好"), 200, json.dumps({"ok": True, "result": message})
    )
    assert reply.result is not None and reply.result.message_id == 7
    session.check_response(
        bot, GetChatMemberCount(chat_id=-1), 200, json.dumps({"ok": True, "result": 3})
    )
    models = [weakref.ref(type(reply)), weakref.ref(Response[int])]
    del reply
    gc.collect()
    # Pydantic's cache of parametrized models is weak: without the session's references
    # these classes are freed here and rebuilt (~10 ms each) on the next reply.
    assert all(model() is not None for model in models)
    assert (
        type(
            session.check_response(
                bot,
                SendMessage(chat_id=5, text="x"),
                200,
                json.dumps({"ok": True, "result": message}),
            )
        )
        is models[0]()
    )
