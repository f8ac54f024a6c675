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
    # Injected into every handler by parameter name (aiogram workflow_data).
    inflight: InFlight = field(default_factory=InFlight)
    services: dict[str, Any] = field(default_factory=dict)
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)

    def provide(self, **services: Any) -> None:
        for name, value in services.items():
            if name in self.services:
                raise ValueError(f"service {name!r} provided twice")
            self.services[name] = value
