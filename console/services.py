"""The services console pages use: the same domain classes and rules as the bot's.

Built from the settings and the database (``build_services``), either inside the bot's
process (``python -m bot`` passes its own domain services: one clock, one rate limiter,
one event bus) or alone (``python -m console``, which builds them with the bot's own
``bot.services.build_services``). Pages reach them as ``ctx.services`` in ``setup`` and as
``request.app[SERVICES]`` in handlers; the domain services are ``services.domain``
(``bot.services.Services``: tips, notices, duty, rewards, groups), never a copy of a rule.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

from aiogram import Bot

from bot.config import Settings
from bot.services import Services, foundation
from bot.services import build_services as build_domain
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
    # The domain services (the bot's, in the bot's process).
    domain: Services
    # For outgoing Telegram calls: inside the bot's process the bot's own (one rate
    # limiter); alone, the console's.
    bot: Bot
    # This process's name for its change-stream position (host:port by default).
    instance: str = ""
    # Run the bot's delivery sweep now (after a notice was updated, closed or retried):
    # given in the bot's process (``bot.runner.make_console``); alone, the console leaves
    # it to the scheduler lease holder's sweep, every 5 s.
    wake_deliveries: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        if not self.instance:
            self.instance = f"{socket.gethostname()}:{self.config.port}"

    def wake(self) -> None:
        """Ask for the delivery sweep now (see ``wake_deliveries``); never fails a request."""
        if self.wake_deliveries is not None:
            try:
                self.wake_deliveries()
            except Exception:
                logging.getLogger("six_circles.console").exception("waking the delivery sweep")


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
    bot: Bot,
    clock: Clock | None = None,
    roles: RoleService | None = None,
    users: MongoUserRepository | None = None,
    audit: AuditLog | None = None,
    domain: Services | None = None,
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
    users = users or MongoUserRepository(db)
    if domain is None:
        domain = build_domain(foundation(settings, db, bot, clock, audit, roles, users))
    return ConsoleServices(
        settings=settings,
        config=config,
        db=db,
        clock=clock,
        roles=roles,
        users=users,
        audit=audit,
        signin=make_signin(db, roles, audit, clock, config),
        domain=domain,
        bot=bot,
    )
