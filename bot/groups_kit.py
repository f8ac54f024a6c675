"""The groups feature's bot-side pieces: Telegram gateway, services bundle, messaging helpers."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram.exceptions import (
    TelegramAPIError,
)
from aiogram.types import (
    ForceReply,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.context import AppContext
from bot.gateway import TelegramGateway
from bot.i18n import Translator, normalize_locale
from groups.admission import AdmissionService
from groups.catalog import Catalog
from groups.members import MemberService
from groups.model import Area, Group
from groups.registry import GroupService
from groups.sectors import Sector
from storage.admission import MongoInviteLinks
from storage.members import MongoMemberRepository

log = logging.getLogger("six_circles.groups")

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply
MAX_TEXT = 4096


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
        s = ctx.services
        return cls(
            ctx,
            s.catalog,
            s.group_service,
            s.member_service,
            s.admission,
            s.members_repo,
            s.invites,
            s.gateway,
        )

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
