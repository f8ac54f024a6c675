"""Outer middlewares: duplicate-update guard, structured logging, who/locale resolution.

The log policy (README, "Logs"): one line per update, with its outcome (``handled``,
``unhandled``, ``refused`` with a ``reason``, ``error``, ``duplicate``) and the handler's
name. Who sent it is logged only for public activity in a group: a private chat gets a
per-process alias instead of the user id (a random key, never written anywhere, so it
links a person's lines within one process and nothing else); tipster business (tip intake,
threads, /forget, /mytips, reward questions: handlers flagged ``tipster``), replies in
groups (which may be tips) and duplicate updates carry no one at all, and tipster
business is time-stamped to the minute only, so no line can be joined to a tip's stored
time to single out its tipster.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update, User

from bot.i18n import Translator, normalize_locale
from groups.access import RoleService
from groups.roles import Principal
from groups.users import UserProfile, UserRepository
from kernel.clock import Clock
from kernel.errors import DomainError
from storage.updates import MongoUpdateLedger

log = logging.getLogger("six_circles.updates")

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def update_kind(update: Update) -> str:
    return update.event_type or "unknown"


@dataclass(slots=True)
class UpdateRecord:
    """What became of one update, filled in on its way down (aiogram copies the data dict
    for every observer, so the middlewares below share this object, not keys of it)."""

    handler: str | None = None  # "<feature>.<function>" of the handler that took it
    refused: str | None = None  # why it was refused (chat_type, permission:..., throttled)
    tipster: bool = False  # tipster business: logged without who, time to the minute


def update_record(data: dict[str, Any]) -> UpdateRecord | None:
    record = data.get("update_record")
    return record if isinstance(record, UpdateRecord) else None


def refuse(data: dict[str, Any], reason: str) -> None:
    """Record that the update was refused (politely answered, nothing changed)."""
    record = update_record(data)
    if record is not None:
        record.refused = reason


_ALIAS_KEY = secrets.token_bytes(32)  # per process, never stored: aliases die with it


def alias(user_id: int) -> str:
    """A per-process stand-in for a user id in logs (see the module's log policy)."""
    return hmac.new(_ALIAS_KEY, str(user_id).encode(), hashlib.sha256).hexdigest()[:10]


def who(update: Update, user: User | None, chat: Any, record: UpdateRecord) -> dict[str, Any]:
    """Who an update's log line may name (the module's log policy)."""
    if record.tipster or (user is None and chat is None):
        return {}
    message = update.message or update.edited_message
    if chat is None or chat.type == "private":
        return {"actor": alias(user.id)} if user is not None else {}
    if message is not None and message.reply_to_message is not None:
        return {}  # a reply in a group may be a tip
    return {"user_id": user.id if user else None, "chat_id": chat.id}


class UpdateGuardMiddleware(BaseMiddleware):
    """Log one line per update; run an update id once even if Telegram delivers it again."""

    def __init__(self, ledger: MongoUpdateLedger, bot_id: int, clock: Clock) -> None:
        self._ledger = ledger
        self._bot_id = bot_id
        self._clock = clock

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        started = time.perf_counter()
        record = UpdateRecord()
        data["update_record"] = record
        if not await self._ledger.claim(self._bot_id, event.update_id, self._clock.now()):
            self._log(event, data, record, started, "duplicate", anonymous=True)
            return UNHANDLED
        try:
            result = await handler(event, data)
        except DomainError as exc:  # answered politely by the error handler
            await self._ledger.release(self._bot_id, event.update_id)
            record.refused = f"invalid:{exc.key}"
            self._log(event, data, record, started, "refused")
            raise
        except BaseException:
            await self._ledger.release(self._bot_id, event.update_id)
            self._log(event, data, record, started, "error")
            raise
        await self._ledger.done(self._bot_id, event.update_id)
        if record.refused is not None:
            outcome = "refused"
        else:
            outcome = "unhandled" if result is UNHANDLED else "handled"
        self._log(event, data, record, started, outcome)
        return result

    @staticmethod
    def _log(
        event: Update,
        data: dict[str, Any],
        record: UpdateRecord,
        started: float,
        outcome: str,
        *,
        anonymous: bool = False,
    ) -> None:
        line: dict[str, Any] = {"update_id": event.update_id, "type": update_kind(event)}
        if not anonymous:
            line.update(who(event, data.get("event_from_user"), data.get("event_chat"), record))
        line["outcome"] = outcome
        if record.refused is not None and outcome == "refused":
            line["reason"] = record.refused
        if record.handler is not None:
            line["handler"] = record.handler
        line["ms"] = round((time.perf_counter() - started) * 1e3, 1)
        log.info(json.dumps(line, ensure_ascii=False), extra={"coarse_time": record.tipster})


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
                    # To the day only: an exact time of someone's activity could be
                    # joined with a tip's stored time to single out its tipster.
                    last_seen=self._clock.now().replace(hour=0, minute=0, second=0, microsecond=0),
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
