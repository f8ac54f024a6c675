"""Permission and chat-type checks, in one place, declared on handlers as flags.

    @router.message(Command("grant"), flags={"perm": Permission.MANAGE_ROLES})
    @router.message(Command("bind"), flags={"chat": "group", "perm": Permission.MANAGE_GROUPS})

``"perm"`` may also be a set of permissions: any one of them is enough.
A ``"deny"`` flag names the catalogue message of the refusal when it should say more than
"not allowed" (e.g. ``/reveal``: who may reveal tipsters).

A refusal answers politely, changes nothing and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.commands import allowed
from bot.i18n import Translator
from bot.replies import respond
from groups.roles import Permission, Principal

log = logging.getLogger("six_circles.access")

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
        if handler_obj is not None:
            data["handler_name"] = getattr(handler_obj.callback, "__qualname__", None)
        t: Translator = data["t"]
        principal: Principal = data["principal"]
        where = get_flag(data, "chat")
        chat_type = _chat_type(event)
        if where and chat_type:
            is_private = chat_type == "private"
            if where == "private" and not is_private:
                data["outcome"] = "refused:chat_type"
                await respond(event, t("core.private_only"))
                return None
            if where == "group" and is_private:
                data["outcome"] = "refused:chat_type"
                await respond(event, t("core.group_only"))
                return None
        perm: Permission | frozenset[Permission] | None = get_flag(data, "perm")
        if not allowed(principal, perm):
            data["outcome"] = "refused:permission"
            log.info(
                "refused user=%s perm=%s handler=%s",
                principal.user_id,
                perm.value if isinstance(perm, Permission) else "|".join(sorted(perm or ())),
                data.get("handler_name"),
            )
            await respond(event, t(get_flag(data, "deny") or "errors.permission_denied"))
            return None
        return await handler(event, data)
