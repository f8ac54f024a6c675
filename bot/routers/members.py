"""Member profiles, platform-wide removal and bans, the roster, and membership upkeep.

Nothing about a member is ever posted into a group: used in a group (by reply), these
commands answer the manager privately and delete the command message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable

from aiogram import F, Router
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, ChatMemberUpdated, Message

from bot.commands import CommandSpec
from bot.groups_kit import Kit, split_text
from bot.i18n import Translator
from bot.targets import resolve_target
from groups.members import Member, MemberStatus, Sweep, mask_phone, roster_counts, roster_csv
from groups.roles import Permission, Principal, Scope
from kernel.errors import DomainError, InvalidInput, NotFound

MANAGE = Permission.MANAGE_GROUPS

COMMANDS = (
    CommandSpec("member", MANAGE, "any", "<@user|id|reply>"),
    CommandSpec("remove", MANAGE, "any", "<@user|id|reply> <reason>"),
    CommandSpec("ban", MANAGE, "any", "<@user|id|reply> <reason>"),
    CommandSpec("unban", MANAGE, "any", "<@user|id>"),
    CommandSpec("roster", MANAGE, "private", "[sector] [area]"),
)

FIELD_KEYS = ("plate", "company", "property_address", "licence")
UNTOUCHED_LISTED = 10  # more groups left untouched than this are counted, not named
PRESENT = (
    ChatMemberStatus.MEMBER,
    ChatMemberStatus.ADMINISTRATOR,
    ChatMemberStatus.CREATOR,
    ChatMemberStatus.RESTRICTED,
)


async def profile_text(kit: Kit, t: Translator, m: Member, viewer_id: int) -> str:
    phone = m.phone if kit.is_superadmin(viewer_id) else mask_phone(m.phone)
    lines = [
        t("members.profile_header", name=m.name, user_id=m.user_id),
        t("members.username", username=f"@{m.username}" if m.username else "—"),
        t("members.phone", phone=phone or "—"),
        t("members.status_line", status=t(f"members.status.{m.status.value}")),
        t("members.workplace", workplace=m.workplace or "—"),
        t("members.address", address=m.address or "—"),
    ]
    lines += [t(f"admission.field.{k}") + f": {m.fields[k]}" for k in FIELD_KEYS if k in m.fields]
    lines.append(
        t(
            "members.admitted",
            by=await kit.name_of(m.admitted_by),
            at=kit.when(m.admitted_at),
            sector=await kit.sector_label(m.sector, t.locale),
        )
    )
    if m.status_reason and m.status in (MemberStatus.REMOVED, MemberStatus.BANNED):
        lines.append(
            t(
                "members.status_reason",
                reason=m.status_reason,
                by=await kit.name_of(m.status_by),
                at=kit.when(m.status_at),
            )
        )
    for b in m.bans:
        lines.append(
            t(
                "members.scoped_ban",
                scope=b.scope.label(),
                by=await kit.name_of(b.by),
                at=kit.when(b.at),
                reason=b.reason,
            )
        )
    lines.append(t("members.groups_header"))
    for g in m.groups:
        group = await kit.groups.get(g.chat_id)
        title = group.title if group else str(g.chat_id)
        lines.append(f"  • {title} — {t(f'members.status.{g.status.value}')}")
    return "\n".join(lines)


def setup(kit: Kit) -> Router:
    router = Router(name="members")
    ctx = kit.ctx
    ctx.commands.add(*COMMANDS)

    async def target(message: Message, command: CommandObject, usage: str) -> tuple[int, str, str]:
        args = (command.args or "").split()
        profile, asked, rest = await resolve_target(message, args, ctx.users)
        if asked is None:
            raise InvalidInput(usage)
        if profile is None and asked.startswith("@"):
            member = await kit.members_repo.by_username(asked)
            if member is not None:
                return member.user_id, asked, " ".join(rest)
        if profile is None:
            raise NotFound("members.unknown", who=asked)
        return profile.user_id, asked, " ".join(rest)

    async def reply(message: Message, principal: Principal, text: str) -> None:
        """In private: answer. In a group: tell the manager privately, delete the command."""
        if message.chat.type == "private":
            for chunk in split_text(text.split("\n")):
                await message.answer(chunk)
            return
        with contextlib.suppress(TelegramAPIError):
            await message.delete()
        if await kit.send(principal.user_id, text) is None:
            tt = await kit.t_for(principal.user_id)
            await message.answer(tt("members.start_first"))

    async def sweep_text(t: Translator, key: str, sweep: Sweep, principal: Principal) -> str:
        """What was done, where it failed, and (a scoped manager) what was left untouched."""
        params: dict[str, object] = {
            "name": sweep.member.name,
            "user_id": sweep.member.user_id,
            "n": len(sweep.done),
        }
        if sweep.scoped:
            key = f"{key}_in_scope"
            scopes = principal.scopes_for(MANAGE)
            params["scope"] = ", ".join(s.label() for s in scopes)
        text = t(key, **params)
        if sweep.failed:
            text += "\n" + t("members.some_failed", n=len(sweep.failed))
        if sweep.untouched:
            if len(sweep.untouched) <= UNTOUCHED_LISTED:
                titles = []
                for chat_id in sweep.untouched:
                    group = await kit.groups.get(chat_id)
                    titles.append(group.title if group else str(chat_id))
                text += "\n" + t("members.untouched", groups=", ".join(titles))
            else:
                text += "\n" + t("members.untouched_many", n=len(sweep.untouched))
        return text

    async def answer(
        message: Message, principal: Principal, t: Translator, work: Awaitable[str]
    ) -> None:
        """Run a member command; in a group even a refusal is told privately."""
        try:
            text = await work
        except DomainError as exc:
            if message.chat.type == "private":
                raise
            text = t(exc.key, **exc.params)
        await reply(message, principal, text)

    @router.message(Command("member"), flags={"perm": MANAGE})
    async def member(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        async def work() -> str:
            uid, asked, _ = await target(message, command, "members.member_usage")
            m = await kit.members.view(principal, uid, asked)
            return await profile_text(kit, t, m, principal.user_id)

        await answer(message, principal, t, work())

    @router.message(Command("remove"), flags={"perm": MANAGE})
    async def remove(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        async def work() -> str:
            uid, asked, reason = await target(message, command, "members.remove_usage")
            sweep = await kit.members.remove(principal, uid, asked, reason)
            return await sweep_text(t, "members.removed", sweep, principal)

        await answer(message, principal, t, work())

    @router.message(Command("ban"), flags={"perm": MANAGE})
    async def ban(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        async def work() -> str:
            uid, asked, reason = await target(message, command, "members.ban_usage")
            sweep = await kit.members.ban(principal, uid, asked, reason)
            return await sweep_text(t, "members.banned", sweep, principal)

        await answer(message, principal, t, work())

    @router.message(Command("unban"), flags={"perm": MANAGE})
    async def unban(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        async def work() -> str:
            uid, asked, _ = await target(message, command, "members.unban_usage")
            sweep = await kit.members.unban(principal, uid, asked)
            return await sweep_text(t, "members.unbanned", sweep, principal)

        await answer(message, principal, t, work())

    @router.message(Command("roster"), flags={"chat": "private", "perm": MANAGE})
    async def roster(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        args = (command.args or "").split()
        if len(args) > 2:
            raise InvalidInput("members.roster_usage")
        sector = (await kit.catalog.sector(args[0], allow_retired=True)).code if args else None
        area = (await kit.catalog.area(args[1])).code if len(args) > 1 else None
        members = await kit.members.roster(principal, sector, area)
        if not members:
            await message.answer(t("members.roster_empty"))
            return
        lines = [t("members.roster_header", n=len(members))]
        for (s, a), counts in sorted(roster_counts(members).items(), key=lambda kv: kv[0][0]):
            detail = ", ".join(f"{t(f'members.status.{k}')} {v}" for k, v in counts.items() if v)
            lines.append(
                f"• {await kit.sector_label(s, t.locale)} / {await kit.area_label(a, t)}: {detail}"
            )
        await message.answer("\n".join(lines)[:4096])
        data = roster_csv(members, show_phone=principal.is_superadmin)
        stamp = ctx.clock.now().astimezone(ctx.settings.tz).strftime("%Y%m%d-%H%M")
        name = f"roster-{sector or 'all'}-{area or 'all'}-{stamp}.csv"
        await message.answer_document(
            BufferedInputFile(data, filename=name), caption=t("members.roster_caption")
        )

    # ------------------------------------------------------------------ upkeep
    @router.chat_member(F.chat.type.in_({"group", "supergroup"}))
    async def membership_changed(event: ChatMemberUpdated) -> None:
        user = event.new_chat_member.user
        group = await kit.groups.get(event.chat.id)
        if group is None:
            return
        new, old = event.new_chat_member.status, event.old_chat_member.status
        if (new in PRESENT) != (old in PRESENT):  # the group's size changed
            with contextlib.suppress(TelegramAPIError):
                count = await ctx.bot.get_chat_member_count(event.chat.id)
                await kit.groups.member_count_changed(event.chat.id, count)
        if user.is_bot or event.from_user.id == ctx.bot.id:
            return  # our own approvals, removals and bans are recorded where they happen
        now = ctx.clock.now()
        if new in PRESENT and old not in PRESENT:
            m = await kit.members_repo.get(user.id)
            if m is not None and m.banned_in(Scope(group.sector, group.area)):
                await kit.gateway.ban(event.chat.id, user.id)  # banned stays out
                return
            await kit.members_repo.set_membership(user.id, event.chat.id, MemberStatus.ACTIVE, now)
        elif new == ChatMemberStatus.LEFT:
            await kit.members_repo.set_membership(user.id, event.chat.id, MemberStatus.LEFT, now)
        elif new == ChatMemberStatus.KICKED:
            await kit.members_repo.set_membership(user.id, event.chat.id, MemberStatus.REMOVED, now)

    return router
