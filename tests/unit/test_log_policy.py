"""The per-update log line's policy on who and when (README, "Logs")."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiogram.types import Chat, Update, User

from bot.logs import JsonFormatter
from bot.middlewares.context import UpdateRecord, alias, who

USER = User(id=987_650_001, is_bot=False, first_name="Xiaoling")
PRIVATE = Chat(id=USER.id, type="private")
GROUP = Chat(id=-100123, type="supergroup", title="城关司机群")


def update(chat: Chat, *, reply: bool = False) -> Update:
    message: dict[str, Any] = {
        "message_id": 5,
        "date": 0,
        "chat": chat.model_dump(),
        "from": USER.model_dump(),
        "text": "hello",
    }
    if reply:
        message["reply_to_message"] = dict(message, message_id=4)
    return Update.model_validate({"update_id": 1, "message": message})


def test_who_a_line_names() -> None:
    plain = UpdateRecord()
    # A private chat: a per-process alias, never the id.
    assert who(update(PRIVATE), USER, PRIVATE, plain) == {"actor": alias(USER.id)}
    assert alias(USER.id) == alias(USER.id) != alias(USER.id + 1)
    assert str(USER.id) not in alias(USER.id)
    # Public activity in a group keeps who and where; a reply may be a tip: nobody.
    assert who(update(GROUP), USER, GROUP, plain) == {"user_id": USER.id, "chat_id": GROUP.id}
    assert who(update(GROUP, reply=True), USER, GROUP, plain) == {}
    # Tipster business: nobody, wherever it happens.
    tipster = UpdateRecord(tipster=True)
    assert who(update(PRIVATE), USER, PRIVATE, tipster) == {}
    assert who(update(GROUP), USER, GROUP, tipster) == {}


def test_tipster_lines_are_stamped_to_the_minute() -> None:
    fmt = JsonFormatter()
    record = logging.LogRecord("six_circles.updates", logging.INFO, "", 0, "{}", None, None)
    assert len(json.loads(fmt.format(record))["ts"]) == len("2026-11-23T09:00:00")
    record.coarse_time = True
    assert len(json.loads(fmt.format(record))["ts"]) == len("2026-11-23T09:00")
