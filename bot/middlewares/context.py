"""Outer middlewares: duplicate-update guard, structured logging, who/locale resolution."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update, User

from bot.i18n import Translator, normalize_locale
from groups.access import RoleService
from groups.clock import Clock
from groups.roles import Principal
from groups.users import UserProfile, UserRepository
from storage.updates import MongoUpdateLedger

log = logging.getLogger("six_circles.updates")

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def update_kind(update: Update) -> str:
    return update.event_type or "unknown"


class UpdateGuardMiddleware(BaseMiddleware):
    """Log one line per update; run an update id once even if Telegram delivers it again."""

    def __init__(self, ledger: MongoUpdateLedger, bot_id: int, clock: Clock) -> None:
        self._ledger = ledger
        self._bot_id = bot_id
        self._clock = clock

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        started = time.perf_counter()
        user: User | None = data.get("event_from_user")
        chat = data.get("event_chat")
        record: dict[str, Any] = {
            "update_id": event.update_id,
            "type": update_kind(event),
            "user_id": user.id if user else None,
            "chat_id": chat.id if chat else None,
        }
        if not await self._ledger.claim(self._bot_id, event.update_id, self._clock.now()):
            record.update(outcome="duplicate", ms=round((time.perf_counter() - started) * 1e3, 1))
            log.info(json.dumps(record, ensure_ascii=False))
            return UNHANDLED
        try:
            result = await handler(event, data)
        except BaseException:
            await self._ledger.release(self._bot_id, event.update_id)
            record.update(outcome="error", ms=round((time.perf_counter() - started) * 1e3, 1))
            log.info(json.dumps(record, ensure_ascii=False))
            raise
        await self._ledger.done(self._bot_id, event.update_id)
        outcome = data.get("outcome") or ("unhandled" if result is UNHANDLED else "handled")
        record.update(outcome=outcome, ms=round((time.perf_counter() - started) * 1e3, 1))
        if data.get("handler_name"):
            record["handler"] = data["handler_name"]
        log.info(json.dumps(record, ensure_ascii=False))
        return result


class IdentityMiddleware(BaseMiddleware):
    """Record the user, resolve their roles (``principal``) and language (``t``, ``locale``)."""

    def __init__(
        self, users: UserRepository, roles: RoleService, clock: Clock, default_locale: str
    ) -> None:
        self._users = users
        self._roles = roles
        self._clock = clock
        self._default = default_locale

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        locale = self._default
        if user is not None and not user.is_bot:
            stored = await self._users.seen(
                UserProfile(
                    user_id=user.id,
                    first_name=user.first_name,
                    last_name=user.last_name,
                    username=user.username,
                    language_code=user.language_code,
                    last_seen=self._clock.now(),
                )
            )
            locale = stored.locale or normalize_locale(user.language_code, self._default)
            chat = data.get("event_chat")
            if not stored.started and chat is not None and chat.type == "private":
                await self._users.mark_started(user.id)
            data["principal"] = await self._roles.principal(user.id)
        else:
            data["principal"] = Principal(0)
        data["locale"] = locale
        data["t"] = Translator(locale)
        return await handler(event, data)
