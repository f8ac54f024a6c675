"""The services console pages use: the same domain classes and rules as the bot's.

Built from the settings and the database (``build_services``), either inside the bot's
process (``python -m bot`` passes its own Bot, clock, role service, users and audit log)
or alone (``python -m console``). Pages reach them as ``ctx.services`` in ``setup`` and as
``request.app[SERVICES]`` in handlers. Add a domain service here as a typed field, built
the way the bot builds it, never a copy of its rules.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from aiogram import Bot

from bot.config import Settings
from console.config import ConsoleConfig
from groups.access import RoleService
from groups.signin import SignInService
from kernel.audit import AuditLog
from kernel.clock import Clock, SystemClock
from storage.audit import MongoAuditLog
from storage.catalog import MongoScopeCatalog
from storage.client import Database
from storage.console import MongoConsoleSessions, MongoSignInLinks
from storage.roles import MongoRoleRepository
from storage.users import MongoUserRepository


@dataclass
class ConsoleServices:
    settings: Settings
    config: ConsoleConfig
    db: Database
    clock: Clock
    roles: RoleService
    users: MongoUserRepository
    audit: AuditLog
    signin: SignInService
    # For outgoing Telegram calls (None in tests that need none). Inside the bot's
    # process it is the bot's own (one rate limiter); alone, the console's.
    bot: Bot | None = None
    # This process's name for its change-stream position (host:port by default).
    instance: str = ""

    def __post_init__(self) -> None:
        if not self.instance:
            self.instance = f"{socket.gethostname()}:{self.config.port}"


def make_signin(
    db: Database, roles: RoleService, audit: AuditLog, clock: Clock, config: ConsoleConfig
) -> SignInService:
    return SignInService(
        MongoSignInLinks(db),
        MongoConsoleSessions(db),
        roles,
        audit,
        clock,
        session_lifetime=config.session_lifetime,
    )


def build_services(
    settings: Settings,
    db: Database,
    *,
    clock: Clock | None = None,
    bot: Bot | None = None,
    roles: RoleService | None = None,
    users: MongoUserRepository | None = None,
    audit: AuditLog | None = None,
) -> ConsoleServices:
    clock = clock or SystemClock()
    config = ConsoleConfig.from_settings(settings)
    audit = audit or MongoAuditLog(db)
    roles = roles or RoleService(
        MongoRoleRepository(db),
        MongoScopeCatalog(db),
        audit,
        clock,
        settings.superadmin_ids,
        settings.permissions,
    )
    return ConsoleServices(
        settings=settings,
        config=config,
        db=db,
        clock=clock,
        roles=roles,
        users=users or MongoUserRepository(db),
        audit=audit,
        signin=make_signin(db, roles, audit, clock, config),
        bot=bot,
    )
