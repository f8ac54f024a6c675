"""The groups feature's bot-side pieces: Telegram gateway, services bundle, messaging helpers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiogram.types import (
    ChatMemberAdministrator,
    ChatMemberOwner,
    ForceReply,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.context import AppContext
from bot.i18n import Translator, normalize_locale
from groups.admission import AdmissionService
from groups.catalog import Catalog
from groups.members import MemberService
from groups.model import Area, Group
from groups.registry import REQUIRED_RIGHTS, GroupService
from groups.sectors import Sector
from storage.admission import MongoApplicationRepository, MongoInviteLinks
from storage.groups import MongoSectorRepository
from storage.members import MongoMemberGrants, MongoMemberRepository

log = logging.getLogger("six_circles.groups")

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply
MAX_TEXT = 4096


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


@dataclass
class Kit:
    """Everything the groups routers share."""

    ctx: AppContext
    catalog: Catalog
    groups: GroupService
    members: MemberService
    admission: AdmissionService
    members_repo: MongoMemberRepository
    invites: MongoInviteLinks
    gateway: TelegramGateway

    @classmethod
    def build(cls, ctx: AppContext) -> Kit:
        catalog = Catalog(MongoSectorRepository(ctx.db), ctx.areas, ctx.audit, ctx.clock)
        members_repo = MongoMemberRepository(ctx.db)
        apps = MongoApplicationRepository(ctx.db)
        invites = MongoInviteLinks(ctx.db)
        grants = MongoMemberGrants(ctx.db)
        gateway = TelegramGateway(ctx.bot)
        groups = GroupService(
            ctx.groups, catalog, ctx.roles, (members_repo, apps, invites), ctx.audit, ctx.clock
        )
        gateway.groups = groups
        members = MemberService(members_repo, ctx.groups, gateway, grants, ctx.audit, ctx.clock)
        admission = AdmissionService(
            apps,
            members_repo,
            gateway,
            grants,
            ctx.audit,
            ctx.clock,
            timedelta(hours=ctx.settings.join_request_timeout_h),
        )
        return cls(ctx, catalog, groups, members, admission, members_repo, invites, gateway)

    # ------------------------------------------------------------------ people
    async def locale_of(self, user_id: int) -> str:
        default = self.ctx.settings.default_locale
        user = await self.ctx.users.get(user_id)
        if user is None:
            return default
        return user.locale or normalize_locale(user.language_code, default)

    async def t_for(self, user_id: int) -> Translator:
        return Translator(await self.locale_of(user_id))

    def is_superadmin(self, user_id: int) -> bool:
        return user_id in self.ctx.roles.superadmin_ids

    async def name_of(self, user_id: int | None) -> str:
        if user_id is None:
            return "—"
        user = await self.ctx.users.get(user_id)
        return f"{user.display_name} ({user_id})" if user else str(user_id)

    async def send(self, chat_id: int, text: str, markup: Markup | None = None) -> Message | None:
        """Send privately; None when Telegram refuses (not started, blocked...)."""
        try:
            return await self.ctx.bot.send_message(chat_id, text[:MAX_TEXT], reply_markup=markup)
        except TelegramAPIError as exc:
            log.info("send to %s failed: %s", chat_id, exc.message)
            return None

    async def edit(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        with contextlib.suppress(TelegramAPIError):
            await self.ctx.bot.edit_message_text(
                text=text[:MAX_TEXT], chat_id=chat_id, message_id=message_id, reply_markup=markup
            )

    # ------------------------------------------------------------------ labels
    def when(self, at: datetime | None) -> str:
        if at is None:
            return "—"
        return at.astimezone(self.ctx.settings.tz).strftime("%Y-%m-%d %H:%M")

    async def sector_label(self, code: str, locale: str) -> str:
        sector: Sector | None = await self.catalog.sector_or_none(code)
        return f"{sector.name(locale)} ({code})" if sector else code

    async def area_label(self, code: str | None, t: Translator) -> str:
        if code is None:
            return t("groups.whole_territory")
        area: Area | None = await self.catalog.area_or_none(code)
        return f"{area.name} ({code})" if area else code

    async def group_label(self, group: Group, t: Translator) -> str:
        sector = await self.sector_label(group.sector, t.locale)
        area = await self.area_label(group.area, t)
        return t("groups.label", title=group.title, sector=sector, area=area)

    async def notify_managers(self, sector: str, area: str | None, key: str, **params: Any) -> None:
        for uid in await self.groups.managers_for(sector, area):
            tt = await self.t_for(uid)
            await self.send(uid, tt(key, **params))


def split_text(lines: list[str], limit: int = MAX_TEXT) -> list[str]:
    """Join lines into as few messages as fit Telegram's length limit."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = line[:limit]
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks
