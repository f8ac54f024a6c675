"""Start, help, identity, language and role management."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from bot.commands import CommandSpec
from bot.context import AppContext
from bot.i18n import LOCALES, Translator, locale_of
from bot.targets import resolve_target
from groups.access import RoleService
from groups.roles import UNRESTRICTED, Permission, Principal, Role, Scope
from kernel.errors import InvalidInput
from storage.users import MongoUserRepository

log = logging.getLogger(__name__)

COMMANDS = (
    CommandSpec("start", where="private"),
    CommandSpec("help", where="any"),
    CommandSpec("whoami", where="private"),
    CommandSpec("lang", where="private", usage="zh|en"),
    CommandSpec("grant", Permission.MANAGE_ROLES, "private", "<role> <@user|id> [sector] [area]"),
    CommandSpec("revoke", Permission.MANAGE_ROLES, "private", "<role> <@user|id> [sector] [area]"),
    CommandSpec("roles", Permission.MANAGE_ROLES, "private", "[role]"),
)

ROLE_ALIASES = {
    "manager": Role.MANAGER,
    "管理员": Role.MANAGER,
    "行业管理员": Role.MANAGER,
    "investigator": Role.INVESTIGATOR,
    "侦查员": Role.INVESTIGATOR,
    "operator": Role.OPERATOR,
    "值班员": Role.OPERATOR,
    "approver": Role.APPROVER,
    "审批员": Role.APPROVER,
    "member": Role.MEMBER,
    "成员": Role.MEMBER,
}


def role_name(t: Translator, role: Role) -> str:
    return t(f"roles.names.{role.value}")


def scope_label(t: Translator, scope: Scope) -> str:
    return scope.label() if scope != UNRESTRICTED else t("roles.scope_all")


def describe_roles(t: Translator, principal: Principal) -> str:
    if not principal.roles:
        return t("core.no_roles")
    parts = []
    if principal.is_superadmin:
        parts.append(role_name(t, Role.SUPERADMIN))
    for g in principal.grants:
        parts.append(f"{role_name(t, g.role)} ({scope_label(t, g.scope)})")
    return ", ".join(parts)


def parse_role_command(args: list[str]) -> tuple[Role, Scope | None]:
    if not args:
        raise InvalidInput("roles.grant_usage")
    role = ROLE_ALIASES.get(args[0].lower())
    if role is None:
        if args[0].lower() == Role.SUPERADMIN.value:
            raise InvalidInput("roles.superadmin_from_config")
        raise InvalidInput("roles.unknown_role", role=args[0][:32])
    rest = args[1:]
    if len(rest) > 2:
        raise InvalidInput("roles.grant_usage")
    if not rest:
        return role, None
    return role, Scope(rest[0].lower(), rest[1] if len(rest) > 1 else None)


def setup(ctx: AppContext) -> Router:
    router = Router(name="core")
    ctx.commands.add(*COMMANDS)
    registry = ctx.commands
    default_locale = ctx.settings.default_locale

    @router.message(CommandStart(), flags={"chat": "private"})
    async def start(message: Message, t: Translator) -> None:
        name = message.from_user.first_name if message.from_user else ""
        await message.answer(t("core.welcome", name=name))

    @router.message(Command("help"))
    async def help_(message: Message, t: Translator, principal: Principal) -> None:
        lines = [t("core.help_header")]
        for spec in registry.visible_to(principal, message.chat.type):
            usage = f" {spec.usage}" if spec.usage else ""
            lines.append(f"/{spec.name}{usage} — {t(spec.description_key)}")
        lines.append("")
        lines.append(t("core.help_footer"))
        await message.answer("\n".join(lines))

    @router.message(Command("whoami"), flags={"chat": "private"})
    async def whoami(message: Message, t: Translator, principal: Principal, locale: str) -> None:
        user = message.from_user
        assert user is not None
        await message.answer(
            t(
                "core.whoami",
                user_id=user.id,
                name=user.full_name,
                locale=locale,
                roles=describe_roles(t, principal),
            )
        )

    @router.message(Command("lang"), flags={"chat": "private"})
    async def lang(
        message: Message,
        command: CommandObject,
        t: Translator,
        users: MongoUserRepository,
        principal: Principal,
        bot: Bot,
    ) -> None:
        arg = (command.args or "").strip().lower()
        choice = {"zh": "zh-CN", "zh-cn": "zh-CN", "中文": "zh-CN", "en": "en"}.get(arg)
        if choice is None or choice not in LOCALES:
            await message.answer(t("core.lang_usage"))
            return
        await users.set_locale(principal.user_id, choice)
        await message.answer(Translator(choice)("core.lang_set"))
        await registry.publish_for(bot, principal, choice)

    async def _target_and_role(
        message: Message, command: CommandObject, users: MongoUserRepository, usage_key: str
    ) -> tuple[int, str, Role, Scope | None]:
        args = (command.args or "").split()
        profile, asked, rest = await resolve_target(message, args, users)
        if asked is None:
            raise InvalidInput(usage_key)
        if profile is None:
            raise InvalidInput("roles.unknown_user", who=asked)
        role, scope = parse_role_command(rest)
        return profile.user_id, profile.display_name, role, scope

    async def _notify(bot: Bot, user_id: int, text_key: str, **params: str) -> None:
        target = await ctx.users.get(user_id)
        loc = locale_of(target, default_locale)
        tt = Translator(loc)
        if "role" in params:
            params["role"] = role_name(tt, Role(params["role"]))
        try:
            await bot.send_message(user_id, tt(text_key, **params))
        except TelegramAPIError:  # e.g. they never started the bot: nobody to tell
            log.info("could not notify user %s", user_id)
            return
        await registry.publish_for(bot, await ctx.roles.principal(user_id), loc)

    @router.message(Command("grant"), flags={"chat": "private", "perm": Permission.MANAGE_ROLES})
    async def grant(
        message: Message,
        command: CommandObject,
        t: Translator,
        principal: Principal,
        users: MongoUserRepository,
        roles: RoleService,
        bot: Bot,
    ) -> None:
        uid, name, role, scope = await _target_and_role(
            message, command, users, "roles.grant_usage"
        )
        granted = await roles.grant(principal, uid, role, scope or UNRESTRICTED)
        await message.answer(
            t(
                "roles.granted",
                name=name,
                user_id=uid,
                role=role_name(t, role),
                scope=scope_label(t, granted.scope),
            )
        )
        await _notify(
            bot, uid, "roles.you_were_granted", role=role.value, scope=granted.scope.label()
        )

    @router.message(Command("revoke"), flags={"chat": "private", "perm": Permission.MANAGE_ROLES})
    async def revoke(
        message: Message,
        command: CommandObject,
        t: Translator,
        principal: Principal,
        users: MongoUserRepository,
        roles: RoleService,
        bot: Bot,
    ) -> None:
        uid, name, role, scope = await _target_and_role(
            message, command, users, "roles.revoke_usage"
        )
        await roles.revoke(principal, uid, role, scope)
        await message.answer(t("roles.revoked", name=name, user_id=uid, role=role_name(t, role)))
        await _notify(bot, uid, "roles.you_were_revoked", role=role.value)

    @router.message(Command("roles"), flags={"chat": "private", "perm": Permission.MANAGE_ROLES})
    async def list_roles(
        message: Message, command: CommandObject, t: Translator, roles: RoleService
    ) -> None:
        wanted = ROLE_ALIASES.get((command.args or "").strip().lower())
        holders = await roles.holders(wanted)
        if not holders:
            await message.answer(t("roles.list_empty"))
            return
        lines = [t("roles.list_header")]
        for g in holders:
            who = await ctx.users.get(g.user_id)
            label = f"{who.display_name} " if who else ""
            lines.append(
                f"• {label}({g.user_id}) — {role_name(t, g.role)} [{scope_label(t, g.scope)}]"
            )
        await message.answer("\n".join(lines)[:4096])

    return router
