"""The command registry: one place that knows every command, who may use it and where.

/help and the bot's command menus (per scope and language) are both derived from it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)

from bot.i18n import LOCALES, Translator
from groups.roles import Permission, Principal

log = logging.getLogger(__name__)

Where = Literal["private", "group", "any"]


def allowed(principal: Principal, permission: Permission | frozenset[Permission] | None) -> bool:
    """A handler's or command's permission: one, any of a set, or None (anyone)."""
    if permission is None:
        return True
    if isinstance(permission, Permission):
        return principal.can(permission)
    return any(principal.can(p) for p in permission)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    # None: anyone; a set: holders of any of them (e.g. groups.signin.OFFICER_PERMISSIONS)
    permission: Permission | frozenset[Permission] | None = None
    where: Where = "private"
    usage: str = ""  # argument synopsis shown by /help, e.g. "<role> <user>"

    @property
    def description_key(self) -> str:
        return f"commands.{self.name}"

    def allows(self, principal: Principal) -> bool:
        return allowed(principal, self.permission)

    def usable_in(self, chat_type: str) -> bool:
        if self.where == "any":
            return True
        is_private = chat_type == "private"
        return is_private if self.where == "private" else not is_private


class CommandRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, CommandSpec] = {}

    def add(self, *specs: CommandSpec) -> None:
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"command /{spec.name} registered twice")
            self._specs[spec.name] = spec

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self._specs.values())

    def all(self) -> list[CommandSpec]:
        return list(self._specs.values())

    def get(self, name: str) -> CommandSpec | None:
        return self._specs.get(name)

    def visible_to(self, principal: Principal, chat_type: str) -> list[CommandSpec]:
        return [s for s in self._specs.values() if s.usable_in(chat_type) and s.allows(principal)]

    def _menu(self, specs: Iterable[CommandSpec], t: Translator) -> list[BotCommand]:
        return [BotCommand(command=s.name, description=t(s.description_key)[:256]) for s in specs]

    async def publish(self, bot: Bot, default_locale: str) -> None:
        """Set the public menus: private chats, groups and group administrators."""
        anyone = Principal(0)
        private = [s for s in self.visible_to(anyone, "private")]
        group_all = [s for s in self.visible_to(anyone, "group")]
        group_admin = [s for s in self._specs.values() if s.usable_in("group")]
        scopes = (
            (BotCommandScopeAllPrivateChats(), private),
            (BotCommandScopeAllGroupChats(), group_all),
            (BotCommandScopeAllChatAdministrators(), group_admin),
        )
        for scope, specs in scopes:
            for loc in LOCALES:
                lang = "zh" if loc == "zh-CN" else "en"
                await bot.set_my_commands(self._menu(specs, Translator(loc)), scope, lang)
            await bot.set_my_commands(self._menu(specs, Translator(default_locale)), scope)

    async def publish_for(self, bot: Bot, principal: Principal, locale: str) -> None:
        """A personal menu in the private chat of someone holding roles."""
        scope = BotCommandScopeChat(chat_id=principal.user_id)
        with contextlib.suppress(TelegramAPIError):
            if not principal.roles:
                await bot.delete_my_commands(scope)
                return
            specs = self.visible_to(principal, "private")
            await bot.set_my_commands(self._menu(specs, Translator(locale)), scope)
