"""The composition root's shared state: what every feature's setup() receives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pymongo import AsyncMongoClient

from bot.commands import CommandRegistry
from bot.config import Settings
from bot.events import EventBus
from bot.inflight import InFlight
from bot.jobs import Jobs
from bot.kit.identity import BotIdentity
from bot.kit.people import People
from bot.sender import Pacer
from bot.services import Services
from groups.access import RoleService
from kernel.audit import AuditLog
from kernel.clock import Clock
from storage.client import Database, Document
from storage.groups import MongoAreaRepository, MongoGroupRepository
from storage.users import MongoUserRepository

Hook = Callable[[], Awaitable[None]]


@dataclass
class AppContext:
    settings: Settings
    bot: Bot
    client: AsyncMongoClient[Document]
    db: Database
    clock: Clock
    audit: AuditLog
    users: MongoUserRepository
    roles: RoleService
    commands: CommandRegistry
    scheduler: AsyncIOScheduler
    jobs: Jobs
    events: EventBus
    groups: MongoGroupRepository
    areas: MongoAreaRepository
    # The domain services and the bridges between features (bot/services.py): what
    # features use of each other, typed.
    services: Services
    # The one rate limiter of all outgoing traffic (closed by the app at shutdown).
    outgoing: Pacer
    inflight: InFlight
    people: People  # a user's language and name
    identity: BotIdentity  # the bot's username and deep links
    # A feature's own runtime objects its handlers receive by parameter name (aiogram
    # workflow_data), e.g. the notices' broadcaster: ``ctx.provide(broadcaster=...)``.
    provided: dict[str, Any] = field(default_factory=dict)
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)

    def provide(self, **objects: Any) -> None:
        taken = set(self.provided) | set(self.services.handler_data())
        for name, value in objects.items():
            if name in taken:
                raise ValueError(f"{name!r} provided twice")
            self.provided[name] = value

    def handler_data(self) -> dict[str, Any]:
        """Everything handlers may receive by parameter name."""
        return self.services.handler_data() | self.provided
