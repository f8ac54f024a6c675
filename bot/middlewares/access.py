"""Permission and chat-type checks, in one place, declared on handlers as flags.

    @router.message(Command("grant"), flags={"perm": Permission.MANAGE_ROLES})
    @router.message(Command("bind"), flags={"chat": "group", "perm": Permission.MANAGE_GROUPS})

``"perm"`` may also be a set of permissions: any one of them is enough.
A ``"deny"`` flag names the catalogue message of the refusal when it should say more than
"not allowed" (e.g. ``/reveal``: who may reveal tipsters). A ``"tipster"`` flag marks
tipster business (tip intake, threads, /forget...): its log line names nobody and carries
the time to the minute only (see ``bot.middlewares.context``).

A refusal answers politely, changes nothing and is logged (the update's log line says
``refused``, why, and which handler refused it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.commands import allowed
from bot.i18n import Translator
from bot.middlewares.context import refuse, update_record
from bot.replies import respond
from groups.roles import Permission, Principal


def handler_name(callback: Any) -> str | None:
    """``tips.collect`` for ``bot.routers.tips ... def collect``."""
    name = getattr(callback, "__name__", None)
    if name is None:
        return None
    module = str(getattr(callback, "__module__", "") or "").rsplit(".", 1)[-1]
    return f"{module}.{name}" if module else name


Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def _chat_type(event: TelegramObject) -> str | None:
    if isinstance(event, Message):
        return event.chat.type
    if isinstance(event, CallbackQuery) and event.message is not None:
        return event.message.chat.type
    return None


class AccessMiddleware(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        handler_obj = data.get("handler")
        record = update_record(data)
        if record is not None and handler_obj is not None:
            record.handler = handler_name(handler_obj.callback)
            record.tipster = record.tipster or bool(get_flag(data, "tipster"))
        t: Translator = data["t"]
        principal: Principal = data["principal"]
        where = get_flag(data, "chat")
        chat_type = _chat_type(event)
        if where and chat_type:
            is_private = chat_type == "private"
            if where == "private" and not is_private:
                refuse(data, "chat_type")
                await respond(event, t("core.private_only"))
                return None
            if where == "group" and is_private:
                refuse(data, "chat_type")
                await respond(event, t("core.group_only"))
                return None
        perm: Permission | frozenset[Permission] | None = get_flag(data, "perm")
        if not allowed(principal, perm):
            label = perm.value if isinstance(perm, Permission) else "|".join(sorted(perm or ()))
            refuse(data, f"permission:{label}")
            await respond(event, t(get_flag(data, "deny") or "errors.permission_denied"))
            return None
        try:
            return await handler(event, data)
        except SkipHandler:  # not this handler's after all: the next one may take it
            if record is not None:
                record.handler = None
            raise
