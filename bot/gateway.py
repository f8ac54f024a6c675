"""The groups feature's Telegram adapter: join-request decisions and moderation calls
(groups' ``JoinGateway``/moderation ports); failures are logged and reported as False."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner

from groups.registry import REQUIRED_RIGHTS, GroupService

log = logging.getLogger("six_circles.groups")


class TelegramGateway:
    """Moderation and join-request calls; failures are logged and reported as False."""

    def __init__(self, bot: Bot, groups: GroupService | None = None) -> None:
        self._bot = bot
        self.groups = groups

    async def _call(self, what: str, chat_id: int, user_id: int, call: Any) -> bool:
        for attempt in range(2):
            try:
                await call(chat_id)
                return True
            except TelegramRetryAfter as exc:
                if attempt:
                    break
                await asyncio.sleep(min(exc.retry_after, 30))
            except TelegramMigrateToChat as exc:
                if self.groups is not None:
                    await self.groups.migrate(chat_id, exc.migrate_to_chat_id)
                chat_id = exc.migrate_to_chat_id
            except TelegramBadRequest as exc:
                if "USER_ALREADY_PARTICIPANT" in exc.message:
                    return True
                log.warning("%s chat=%s user=%s failed: %s", what, chat_id, user_id, exc.message)
                return False
            except TelegramAPIError as exc:
                log.warning("%s chat=%s user=%s failed: %s", what, chat_id, user_id, exc.message)
                return False
        return False

    async def approve_join(self, chat_id: int, user_id: int) -> bool:
        return await self._call(
            "approve", chat_id, user_id, lambda c: self._bot.approve_chat_join_request(c, user_id)
        )

    async def decline_join(self, chat_id: int, user_id: int) -> bool:
        return await self._call(
            "decline", chat_id, user_id, lambda c: self._bot.decline_chat_join_request(c, user_id)
        )

    async def ban(self, chat_id: int, user_id: int) -> bool:
        return await self._call(
            "ban",
            chat_id,
            user_id,
            lambda c: self._bot.ban_chat_member(c, user_id, revoke_messages=False),
        )

    async def unban(self, chat_id: int, user_id: int) -> bool:
        return await self._call(
            "unban",
            chat_id,
            user_id,
            lambda c: self._bot.unban_chat_member(c, user_id, only_if_banned=True),
        )

    async def kick(self, chat_id: int, user_id: int) -> bool:
        """Ban then unban at once: out of the group, free to be admitted again later."""
        return await self.ban(chat_id, user_id) and await self.unban(chat_id, user_id)

    async def bot_rights(self, chat_id: int) -> frozenset[str] | None:
        """The bot's admin rights in a chat (None: not an administrator)."""
        me = await self._bot.get_chat_member(chat_id, self._bot.id)
        if isinstance(me, ChatMemberOwner):
            return frozenset(REQUIRED_RIGHTS)
        if isinstance(me, ChatMemberAdministrator):
            return frozenset(r for r in REQUIRED_RIGHTS if getattr(me, r, False))
        return None
