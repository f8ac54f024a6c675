"""Build the Bot, Dispatcher, services and scheduler from settings and a database."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.pymongo import PyMongoStorage
from aiogram.types import Update
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pymongo import AsyncMongoClient

from bot import errors
from bot.commands import CommandRegistry
from bot.config import Settings
from bot.context import AppContext
from bot.events import EventBus
from bot.inflight import InFlight
from bot.inline_filters import inline_sync_filters
from bot.jobs import Jobs
from bot.kit.identity import BotIdentity
from bot.kit.people import People
from bot.middlewares.access import AccessMiddleware
from bot.middlewares.context import IdentityMiddleware, UpdateGuardMiddleware
from bot.middlewares.throttle import ThrottleMiddleware
from bot.routers import FEATURES
from bot.sender import install_sender
from bot.services import Foundation, build_services
from bot.session import TelegramSession
from broadcasts.ratelimit import Limits
from groups.access import RoleService
from kernel.clock import Clock, SystemClock
from storage.audit import MongoAuditLog
from storage.catalog import MongoScopeCatalog
from storage.client import Database, Document
from storage.groups import MongoAreaRepository, MongoGroupRepository
from storage.leases import MongoLeases
from storage.roles import MongoRoleRepository
from storage.updates import MongoUpdateLedger
from storage.users import MongoUserRepository

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 10.0  # how long shutdown waits for updates being handled


class SharedClientStorage(PyMongoStorage):
    """FSM storage on the app's shared client. aiogram closes the FSM storage when polling
    stops; closing the shared client there would break every later shutdown step (the
    scheduler lease release, features' hooks), so the runner closes the client instead."""

    async def close(self) -> None:
        return None


class TrackedDispatcher(Dispatcher):
    """Counts every update in hand from the moment aiogram starts feeding it (before its
    own middlewares, which already wait for the FSM storage): polling runs each update as
    a task and nobody waits for those, so shutdown waits here."""

    def __init__(self, inflight: InFlight, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inflight = inflight

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        self.inflight.enter()
        try:
            return await super().feed_update(bot, update, **kwargs)
        finally:
            self.inflight.leave()


@dataclass
class App:
    ctx: AppContext
    dp: Dispatcher

    @property
    def bot(self) -> Bot:
        return self.ctx.bot

    async def startup(self) -> None:
        await MongoScopeCatalog(self.ctx.db).seed()
        await self.ctx.identity.load()
        for hook in self.ctx.on_startup:
            await hook()
        self.ctx.scheduler.start()
        await self.ctx.jobs.start()
        await self.ctx.commands.publish(self.bot, self.ctx.settings.default_locale)

    async def shutdown(self) -> None:
        # Updates already taken finish first (aiogram does not wait for its handler tasks).
        if not await self.ctx.inflight.drained(SHUTDOWN_GRACE_S):
            log.warning("shutdown: %s update(s) still being handled", self.ctx.inflight.count)
        if self.ctx.scheduler.running:
            self.ctx.scheduler.shutdown(wait=False)
        await self.ctx.jobs.stop()
        for hook in reversed(self.ctx.on_shutdown):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed")
        await self.ctx.outgoing.close()  # features' sends are over: release any waiter
        await self.bot.session.close()

    def allowed_updates(self) -> list[str]:
        return self.dp.resolve_used_update_types()


def make_bot(settings: Settings) -> Bot:
    session = TelegramSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=None, link_preview_is_disabled=True),
    )


def build_app(
    settings: Settings,
    client: AsyncMongoClient[Document],
    db: Database,
    *,
    clock: Clock | None = None,
    bot: Bot | None = None,
) -> App:
    clock = clock or SystemClock()
    bot = bot or make_bot(settings)
    audit = MongoAuditLog(db)
    users = MongoUserRepository(db)
    roles = RoleService(
        MongoRoleRepository(db),
        MongoScopeCatalog(db),
        audit,
        clock,
        settings.superadmin_ids,
        settings.permissions,
    )
    scheduler = AsyncIOScheduler(timezone=settings.tz)
    # Every request the bot makes, any feature's, goes through the shared rate limiter.
    outgoing = install_sender(
        bot,
        Limits(
            settings.send_global_per_s,
            settings.send_group_per_min,
            settings.send_chat_per_s,
            private_burst=settings.send_private_burst,
        ),
        max_retries=settings.send_max_retries,
    )
    events = EventBus()
    inflight = InFlight()
    groups = MongoGroupRepository(db)
    areas = MongoAreaRepository(db)
    services = build_services(
        Foundation(
            settings=settings,
            db=db,
            bot=bot,
            clock=clock,
            audit=audit,
            roles=roles,
            users=users,
            events=events,
            groups=groups,
            areas=areas,
            inflight=inflight,
        )
    )
    ctx = AppContext(
        settings=settings,
        bot=bot,
        client=client,
        db=db,
        clock=clock,
        audit=audit,
        users=users,
        roles=roles,
        commands=CommandRegistry(),
        scheduler=scheduler,
        jobs=Jobs(scheduler, MongoLeases(db), clock),
        events=events,
        groups=groups,
        areas=areas,
        services=services,
        outgoing=outgoing,
        inflight=inflight,
        people=People(users, settings.default_locale),
        identity=BotIdentity(bot),
    )
    ctx.provide(
        settings=settings,
        clock=clock,
        audit=audit,
        users=users,
        roles=roles,
        ctx=ctx,
        people=ctx.people,
        identity=ctx.identity,
        events=events,
        groups_repo=groups,
        areas_repo=areas,
        outgoing=outgoing,
    )

    storage = SharedClientStorage(client, db_name=db.name, collection_name="fsm_states")
    dp = TrackedDispatcher(ctx.inflight, storage=storage)
    ledger = MongoUpdateLedger(db)
    ctx.on_shutdown.append(ledger.close)
    dp.update.outer_middleware(UpdateGuardMiddleware(ledger, settings.bot_id, clock))
    dp.update.outer_middleware(IdentityMiddleware(users, roles, clock, settings.default_locale))
    throttle = ThrottleMiddleware(
        settings.throttle_messages, settings.throttle_window_s, frozenset(settings.superadmin_ids)
    )
    ctx.provide(throttle=throttle)
    access = AccessMiddleware()
    for observer in (dp.message, dp.edited_message, dp.callback_query, dp.chat_join_request):
        observer.outer_middleware(throttle)
    for observer in (
        dp.message,
        dp.edited_message,
        dp.callback_query,
        dp.chat_join_request,
        dp.chat_member,
        dp.my_chat_member,
    ):
        observer.middleware(access)

    dp.include_router(errors.setup())
    for name in FEATURES:
        module = importlib.import_module(name)
        dp.include_router(module.setup(ctx))
    inline_sync_filters(dp)
    dp.workflow_data.update(ctx.handler_data())
    return App(ctx=ctx, dp=dp)
