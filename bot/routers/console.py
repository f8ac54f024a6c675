"""``/console`` and ``/console_logout``: signing in to the officer web console (console/).

``/console`` answers an officer with a single-use sign-in link, valid for 60 seconds, to
``CONSOLE_URL`` (the console itself, no other host: it works offline and behind a
firewall); members get a polite refusal. ``/console_logout`` ends every console session
of the officer. Both are audited (``console.link``, ``console.sign_out_all``).
"""

from __future__ import annotations

from datetime import timedelta

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.commands import CommandSpec
from bot.context import AppContext
from bot.i18n import Translator
from console.links import signin_url
from groups.roles import Principal
from groups.signin import OFFICER_PERMISSIONS, SignInService
from storage.console import MongoConsoleSessions, MongoSignInLinks

COMMANDS = (
    CommandSpec("console", OFFICER_PERMISSIONS, "private"),
    CommandSpec("console_logout", OFFICER_PERMISSIONS, "private"),
)
FLAGS = {"chat": "private", "perm": OFFICER_PERMISSIONS, "deny": "console.not_officer"}


def setup(ctx: AppContext) -> Router:
    router = Router(name="console")
    ctx.commands.add(*COMMANDS)
    signin = SignInService(
        MongoSignInLinks(ctx.db),
        MongoConsoleSessions(ctx.db),
        ctx.roles,
        ctx.audit,
        ctx.clock,
        session_lifetime=timedelta(hours=ctx.settings.console_session_hours),
    )
    base_url = ctx.settings.console_base_url

    @router.message(Command("console"), flags=FLAGS)
    async def console(message: Message, t: Translator, principal: Principal) -> None:
        token = await signin.issue_link(principal)
        # protect_content: the link cannot be forwarded or saved from the chat.
        await message.answer(
            t("console.link", url=signin_url(base_url, token)), protect_content=True
        )

    @router.message(Command("console_logout"), flags=FLAGS)
    async def console_logout(message: Message, t: Translator, principal: Principal) -> None:
        ended = await signin.end_sessions_of(principal.user_id, reason="bot")
        await message.answer(t("console.logout_done", count=ended))

    return router
