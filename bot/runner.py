"""Run the bot until told to stop: database (embedded or external), app, polling/webhook."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

from bot.app import App, build_app
from bot.config import Settings
from bot.webhook import WebServer
from console.app import ConsoleServer
from console.pages import PAGES
from console.services import build_services
from kernel.clock import Clock
from storage.client import connect
from storage.embedded import EmbeddedMongo
from storage.schema import ensure_schema

log = logging.getLogger("six_circles")

ReadyCallback = Callable[[App], Awaitable[None] | None]


def freeze_heap() -> None:
    """Hide what is loaded at start-up from the garbage collector. aiogram's types are some
    200,000 objects (~150 MB of pydantic models) that live as long as the process; a full
    collection walks them all, a ~140 ms pause of every handler and send (requests let go
    before it then reach Telegram in a burst). Frozen, a full collection takes microseconds.
    Called once by ``python -m bot`` (and the benchmarks) before serving."""
    gc.collect()
    gc.freeze()


class StartupError(RuntimeError):
    """The bot cannot start; the message says what to fix."""


async def check_telegram(app: App) -> None:
    url = app.ctx.settings.telegram_api_url
    try:
        me = await app.bot.get_me()
    except TelegramUnauthorizedError as exc:
        raise StartupError(
            "Telegram rejected BOT_TOKEN (401 Unauthorized): copy the token again from "
            "@BotFather (/mybots -> API Token)"
        ) from exc
    except TelegramNetworkError as exc:
        raise StartupError(f"cannot reach the Telegram Bot API at {url}: {exc.message}") from exc
    log.info("connected to the Bot API as @%s (id %s)", me.username, me.id)


async def run(
    settings: Settings,
    stop: asyncio.Event,
    *,
    clock: Clock | None = None,
    on_ready: ReadyCallback | None = None,
    console_pages: Sequence[str] = PAGES,
) -> None:
    # Webhook mode: the HTTP server listens from the start, so /healthz answers (and
    # /readyz says "starting") while the database is connected and the schema ensured.
    server = WebServer(settings) if settings.bot_mode == "webhook" else None
    if server is not None:
        await server.start()
    embedded: EmbeddedMongo | None = None
    try:
        if settings.mongodb_uri is None:
            embedded = EmbeddedMongo(settings.data_dir.resolve())
            uri = await embedded.start()
        else:
            uri = settings.mongodb_uri.get_secret_value()
        client, db = await connect(uri, settings.mongodb_db)
        try:
            await ensure_schema(db)
            app = build_app(settings, client, db, clock=clock)
            await _serve(app, stop, on_ready, server, console_pages)
        finally:
            await client.close()
    finally:
        if server is not None:
            await server.stop()
        if embedded is not None:
            await embedded.stop()


def make_console(app: App, pages: Sequence[str] = PAGES) -> ConsoleServer:
    """The officer console in the bot's process: the bot's own clock, Bot (one rate
    limiter for all outgoing traffic), role service, users and audit log."""
    ctx = app.ctx
    services = build_services(
        ctx.settings,
        ctx.db,
        clock=ctx.clock,
        bot=ctx.bot,
        roles=ctx.roles,
        users=ctx.users,
        audit=ctx.audit,
        domain=ctx.services,
    )
    # A notice changed in the console is taken up at once by the delivery sweep (which
    # kicks every notice with work), not only at its next 5 s run.
    services.wake_deliveries = lambda: ctx.jobs.wake_in("notices.deliver", 0)
    return ConsoleServer(services, pages=pages)


async def _serve(
    app: App,
    stop: asyncio.Event,
    on_ready: ReadyCallback | None,
    server: WebServer | None,
    console_pages: Sequence[str],
) -> None:
    settings = app.ctx.settings
    polling: asyncio.Task[None] | None = None
    console: ConsoleServer | None = None
    try:
        await check_telegram(app)
        await app.startup()
        if settings.console_enabled:
            console = make_console(app, console_pages)
            await console.start()
        if server is not None:
            server.attach(app)  # ready: updates are handled from here on
            await server.register_webhook()
            log.info(
                "webhook mode: listening on %s:%s", settings.webhook_host, settings.webhook_port
            )
        else:
            await app.bot.delete_webhook(drop_pending_updates=False)
            polling = asyncio.create_task(
                app.dp.start_polling(
                    app.bot,
                    handle_signals=False,
                    close_bot_session=False,
                    allowed_updates=app.allowed_updates(),
                    polling_timeout=settings.polling_timeout_s,
                )
            )
            log.info("polling mode: started")
        if on_ready is not None:
            result = on_ready(app)
            if result is not None:
                await result
        stopper = asyncio.create_task(stop.wait())
        waiting: set[asyncio.Task[object]] = {stopper}
        if polling is not None:
            waiting.add(polling)
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if polling is not None and polling in done:
            polling.result()  # polling died: surface the error
    finally:
        log.info("shutting down")
        if polling is not None and not polling.done():
            with contextlib.suppress(RuntimeError):
                await app.dp.stop_polling()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
        if server is not None:
            await server.stop()  # no new webhook calls; those in hand finish first
        if console is not None:
            await console.stop()
        await app.shutdown()
