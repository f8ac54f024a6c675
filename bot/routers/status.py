"""/status for superadmins: this instance's roles and who holds each lease, cluster-wide.

With several instances behind one webhook (docs/deployment.md) the instance that answers
is whichever received the update; the lease table shows the others that hold a role.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.commands import CommandSpec
from bot.context import AppContext
from bot.i18n import Translator
from bot.status import app_version, format_uptime, uptime_s
from groups.roles import Permission

COMMANDS = (CommandSpec("status", Permission.MANAGE_PLATFORM, "private"),)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def setup(ctx: AppContext) -> Router:
    router = Router(name="status")
    ctx.commands.add(*COMMANDS)
    tz = ctx.settings.tz

    @router.message(
        Command("status"), flags={"chat": "private", "perm": Permission.MANAGE_PLATFORM}
    )
    async def status(message: Message, t: Translator) -> None:
        now = ctx.clock.now()
        me = ctx.jobs.holder_id
        held = [lease.name for lease in ctx.jobs.leases.held(now)]
        lines = [
            t("status.header"),
            t(
                "status.instance",
                instance=me,
                version=app_version(),
                mode=ctx.settings.bot_mode,
                uptime=format_uptime(uptime_s()),
            ),
            t("status.roles", leases=", ".join(held)) if held else t("status.no_roles"),
            "",
            t("status.holders_header"),
        ]
        leases = await ctx.jobs.leases.all()
        if not leases:
            lines.append(t("status.no_leases"))
        for lease in leases:
            notes = []
            if lease.holder == me:
                notes.append(t("status.mine"))
            if not lease.valid_at(now):
                notes.append(t("status.expired"))
            lines.append(
                t(
                    "status.holder",
                    lease=lease.name,
                    holder=lease.holder,
                    until=lease.until.astimezone(tz).strftime(TIME_FORMAT),
                    notes=" ".join(notes),
                ).rstrip()
            )
        await message.answer("\n".join(lines)[:4096])

    return router
