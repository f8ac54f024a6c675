"""Sectors, areas, group binding, admission and members (issue 3).

This module wires the feature (services, commands, sweeps) and handles the catalogue and
the group registry; ``bot.routers.admission`` and ``bot.routers.members`` hold the rest.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict

from aiogram import Bot, F, Router
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import ChatMemberAdministrator, ChatMemberUpdated, Message

from bot.commands import CommandSpec
from bot.context import AppContext
from bot.groups_kit import Kit, split_text
from bot.i18n import Translator
from bot.routers import admission as admission_router
from bot.routers import members as members_router
from groups.catalog import parse_area_args
from groups.model import Area, GroupStatus
from groups.registry import REQUIRED_RIGHTS, missing_rights
from groups.roles import Permission, Principal
from kernel.audit import AuditEntry
from kernel.errors import InvalidInput

MANAGE = Permission.MANAGE_GROUPS
PLATFORM = Permission.MANAGE_PLATFORM

COMMANDS = (
    CommandSpec("sectors", MANAGE, "private"),
    CommandSpec("sector_add", PLATFORM, "private", "<code> <中文名> | <English name>"),
    CommandSpec("sector_rename", PLATFORM, "private", "<sector> <中文名> | <English name>"),
    CommandSpec("sector_retire", PLATFORM, "private", "<sector>"),
    CommandSpec("sector_restore", PLATFORM, "private", "<sector>"),
    CommandSpec("areas", MANAGE, "private"),
    CommandSpec("area_add", PLATFORM, "private", "<name> [lat,lon radius_km] [parent=<area>]"),
    CommandSpec(
        "area_edit", PLATFORM, "private", "<area> [name=..] [lat,lon radius_km] [parent=..]"
    ),
    CommandSpec("bind", MANAGE, "group", "<sector> [area]"),
    CommandSpec("unbind", MANAGE, "group"),
    CommandSpec("tipreplies", MANAGE, "group", "delete|keep"),
    CommandSpec("groups", MANAGE, "private"),
    CommandSpec("invite", MANAGE, "group"),
)

# /tipreplies: replies to notices are deleted once taken as tips (default) or kept public.
TIP_REPLY_CHOICES = {
    "delete": True,
    "on": True,
    "删除": True,
    "keep": False,
    "off": False,
    "保留": False,
}

GONE = (ChatMemberStatus.LEFT, ChatMemberStatus.KICKED)


def _names(args: str) -> tuple[str, str]:
    zh, sep, en = args.partition("|")
    if not sep or not zh.strip() or not en.strip():
        raise InvalidInput("catalog.names_usage")
    return zh.strip(), en.strip()


def area_line(t: Translator, a: Area, names: dict[str, str]) -> str:
    parts = [f"• {a.name} — {t('catalog.code')}: {a.code}"]
    if a.parent:
        parts.append(t("catalog.parent", parent=names.get(a.parent, a.parent)))
    if a.center is not None:
        parts.append(
            t(
                "catalog.center",
                lat=f"{a.center.lat:.5f}",
                lon=f"{a.center.lon:.5f}",
                radius=f"{a.radius_km or 0:g}",
            )
        )
    return ", ".join(parts)


def setup(ctx: AppContext) -> Router:
    router = Router(name="groups")
    kit = Kit.build(ctx)
    ctx.commands.add(*COMMANDS)

    # ------------------------------------------------------------------ sectors
    @router.message(Command("sectors"), flags={"chat": "private", "perm": MANAGE})
    async def sectors(message: Message, t: Translator, principal: Principal) -> None:
        lines = [t("catalog.sectors_header")]
        for s in await kit.catalog.sectors(include_retired=principal.is_superadmin):
            mark = t("catalog.retired_mark") if s.retired else ""
            lines.append(f"{s.number or '•'}. {s.name(t.locale)} — {s.code}{mark}")
        await message.answer("\n".join(lines))

    @router.message(Command("sector_add"), flags={"chat": "private", "perm": PLATFORM})
    async def sector_add(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        code, _, rest = (command.args or "").strip().partition(" ")
        if not code:
            raise InvalidInput("catalog.sector_add_usage")
        zh, en = _names(rest)
        s = await kit.catalog.add_sector(principal.user_id, code, zh, en)
        await message.answer(t("catalog.sector_added", code=s.code, name=s.name(t.locale)))

    @router.message(Command("sector_rename"), flags={"chat": "private", "perm": PLATFORM})
    async def sector_rename(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        token, _, rest = (command.args or "").strip().partition(" ")
        if not token:
            raise InvalidInput("catalog.sector_rename_usage")
        zh, en = _names(rest)
        s = await kit.catalog.rename_sector(principal.user_id, token, zh, en)
        await message.answer(t("catalog.sector_renamed", code=s.code, zh=s.name_zh, en=s.name_en))

    @router.message(Command("sector_retire"), flags={"chat": "private", "perm": PLATFORM})
    async def sector_retire(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        token = (command.args or "").strip()
        if not token:
            raise InvalidInput("catalog.sector_retire_usage")
        s = await kit.catalog.retire_sector(principal.user_id, token)
        await message.answer(t("catalog.sector_retired_done", code=s.code))

    @router.message(Command("sector_restore"), flags={"chat": "private", "perm": PLATFORM})
    async def sector_restore(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        token = (command.args or "").strip()
        if not token:
            raise InvalidInput("catalog.sector_retire_usage")
        s = await kit.catalog.retire_sector(principal.user_id, token, retired=False)
        await message.answer(t("catalog.sector_restored", code=s.code))

    # ------------------------------------------------------------------ areas
    @router.message(Command("areas"), flags={"chat": "private", "perm": MANAGE})
    async def areas(message: Message, t: Translator) -> None:
        all_areas = await kit.catalog.areas()
        if not all_areas:
            await message.answer(t("catalog.no_areas"))
            return
        names = {a.code: a.name for a in all_areas}
        lines = [t("catalog.areas_header")] + [area_line(t, a, names) for a in all_areas]
        for chunk in split_text(lines):
            await message.answer(chunk)

    @router.message(Command("area_add"), flags={"chat": "private", "perm": PLATFORM})
    async def area_add(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        tokens = (command.args or "").split()
        if not tokens:
            raise InvalidInput("catalog.area_add_usage")
        area = await kit.catalog.add_area(principal.user_id, parse_area_args(tokens))
        names = {a.code: a.name for a in await kit.catalog.areas()}
        await message.answer(t("catalog.area_added") + "\n" + area_line(t, area, names))

    @router.message(Command("area_edit"), flags={"chat": "private", "perm": PLATFORM})
    async def area_edit(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        tokens = (command.args or "").split()
        if len(tokens) < 2:
            raise InvalidInput("catalog.area_edit_usage")
        area = await kit.catalog.edit_area(
            principal.user_id, tokens[0], parse_area_args(tokens[1:])
        )
        names = {a.code: a.name for a in await kit.catalog.areas()}
        await message.answer(t("catalog.area_edited") + "\n" + area_line(t, area, names))

    # ------------------------------------------------------------------ binding
    @router.message(Command("bind"), flags={"chat": "group", "perm": MANAGE})
    async def bind(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        args = (command.args or "").split()
        if not args:
            raise InvalidInput("groups.bind_usage")
        chat_id = message.chat.id
        rights = await kit.gateway.bot_rights(chat_id)
        try:
            count = await ctx.bot.get_chat_member_count(chat_id)
        except TelegramAPIError:
            count = 0
        result = await kit.groups.bind(
            principal, chat_id, message.chat.title or str(chat_id), args, rights, count
        )
        label = await kit.group_label(result.group, t)
        await message.answer(t("groups.bound", label=label))

    @router.message(Command("unbind"), flags={"chat": "group", "perm": MANAGE})
    async def unbind(message: Message, t: Translator, principal: Principal) -> None:
        group = await kit.groups.unbind(principal, message.chat.id)
        await message.answer(t("groups.unbound", title=group.title))

    @router.message(Command("tipreplies"), flags={"chat": "group", "perm": MANAGE})
    async def tip_replies(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        choice = (command.args or "").strip().lower()
        if choice not in TIP_REPLY_CHOICES:
            raise InvalidInput("groups.tipreplies_usage")
        delete = TIP_REPLY_CHOICES[choice]
        await kit.groups.set_tip_replies(principal, message.chat.id, delete)
        await message.answer(t("groups.tipreplies_delete" if delete else "groups.tipreplies_keep"))

    @router.message(Command("groups"), flags={"chat": "private", "perm": MANAGE})
    async def list_groups(message: Message, t: Translator, principal: Principal) -> None:
        groups = await kit.groups.visible_to(principal)
        if not groups:
            await message.answer(t("groups.none"))
            return
        counts = await kit.members_repo.active_counts()
        by_sector: dict[str, dict[str | None, list[str]]] = defaultdict(lambda: defaultdict(list))
        totals: dict[str, int] = defaultdict(int)
        for g in groups:
            registered = counts.get(g.chat_id, 0)
            if g.status is GroupStatus.ACTIVE:
                totals[g.sector] += registered
            by_sector[g.sector][g.area].append(
                t(
                    "groups.line",
                    title=g.title,
                    chat_id=g.chat_id,
                    status=t(f"groups.status.{g.status.value}"),
                    registered=registered,
                    count=g.member_count,
                )
            )
        lines = [t("groups.list_header", n=len(groups))]
        for sector, by_area in by_sector.items():
            lines.append("")
            label = await kit.sector_label(sector, t.locale)
            lines.append(t("groups.sector_line", sector=label, members=totals[sector]))
            for area, entries in by_area.items():
                lines.append(f"  {await kit.area_label(area, t)}")
                lines.extend(f"    {e}" for e in entries)
        for chunk in split_text(lines):
            await message.answer(chunk)

    @router.message(Command("invite"), flags={"chat": "group", "perm": MANAGE})
    async def invite(message: Message, t: Translator, principal: Principal, bot: Bot) -> None:
        group = await kit.groups.require_manager(principal, message.chat.id)
        name = f"six-circles {principal.user_id}"[:32]
        link = await bot.create_chat_invite_link(
            group.chat_id, name=name, creates_join_request=True
        )
        await kit.invites.record(
            link.invite_link, group.chat_id, principal.user_id, ctx.clock.now(), name
        )
        await ctx.audit.record(
            AuditEntry(
                principal.user_id,
                "invite.create",
                "group",
                str(group.chat_id),
                ctx.clock.now(),
                {"link": link.invite_link},
            )
        )
        sent = await kit.send(
            principal.user_id, t("groups.invite_private", title=group.title, link=link.invite_link)
        )
        await message.answer(t("groups.invite_sent" if sent else "groups.invite_start_first"))
        with contextlib.suppress(TelegramAPIError):
            await message.delete()

    # ------------------------------------------------------------------ registry upkeep
    @router.message(F.migrate_to_chat_id)
    async def migrated_to(message: Message) -> None:
        assert message.migrate_to_chat_id is not None
        await kit.groups.migrate(message.chat.id, message.migrate_to_chat_id)

    @router.message(F.migrate_from_chat_id)
    async def migrated_from(message: Message) -> None:
        assert message.migrate_from_chat_id is not None
        await kit.groups.migrate(message.migrate_from_chat_id, message.chat.id)

    @router.message(F.new_chat_title)
    async def retitled(message: Message) -> None:
        assert message.new_chat_title is not None
        await kit.groups.retitle(message.chat.id, message.new_chat_title)

    @router.my_chat_member(F.chat.type.in_({"group", "supergroup"}))
    async def bot_membership(event: ChatMemberUpdated) -> None:
        new = event.new_chat_member
        if new.status in GONE:
            group = await kit.groups.bot_removed(event.chat.id, event.from_user.id)
            if group is not None:
                await kit.notify_managers(
                    group.sector, group.area, "groups.bot_removed", title=group.title
                )
            return
        group = await kit.groups.active(event.chat.id)
        if group is None:
            return
        rights = (
            frozenset(r for r in REQUIRED_RIGHTS if getattr(new, r, False))
            if isinstance(new, ChatMemberAdministrator)
            else None
        )
        if new.status == ChatMemberStatus.CREATOR:
            return
        missing = missing_rights(rights)
        if missing:
            await kit.notify_managers(
                group.sector,
                group.area,
                "groups.rights_lost",
                title=group.title,
                rights=", ".join(missing),
            )

    router.include_router(members_router.setup(kit))
    router.include_router(admission_router.setup(kit))
    return router
