"""Production mode: an aiohttp server for Telegram's webhook calls, health and status.

The server starts before the database is connected, so an orchestrator sees the process
alive while it starts up:

- ``GET /healthz``: liveness. 200 whenever the process serves HTTP (its event loop runs);
  never touches the database, so a database outage does not get healthy bots restarted.
- ``GET /readyz``: readiness. 200 once start-up has finished (database connected, indexes
  and schema version ensured, features started) and while the database answers a ping;
  503 before, while stopping, and while the database is unreachable. Load balancers send
  webhook calls only to ready instances.
- ``GET /status``: this instance's id, version, mode, uptime and the leases it holds.
- ``POST WEBHOOK_PATH``: Telegram's updates, with ``X-Telegram-Bot-Api-Secret-Token``
  checked (401 otherwise); 503 until ready, so Telegram (or the proxy) tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import Any

from aiogram import Bot
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError
from pymongo.errors import PyMongoError

from bot.app import App
from bot.config import Settings
from bot.status import instance_status, lease_json
from storage.client import ping

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
PING_TIMEOUT_S = 2.0
# How long stopping waits for webhook calls in hand (each is handled before it is
# answered). Part of the stop budget in docs/deployment.md (TimeoutStopSec, stop_grace_period).
DRAIN_TIMEOUT_S = 15.0

log = logging.getLogger("six_circles.webhook")


class UpdateRequestHandler(SimpleRequestHandler):
    """aiogram's handler, except that a body that is not a Telegram update (bad JSON, wrong
    shape) is answered 400 with one log line, instead of a 500 and a traceback. Telegram
    itself never sends such a body; whoever does (with the right secret) is told plainly."""

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            update = Update.model_validate(json.loads(raw), context={"bot": bot})
        except (ValueError, ValidationError) as exc:  # JSONDecodeError, UnicodeDecodeError too
            log.warning(
                "webhook: malformed update from %s (%s bytes): %s",
                request.remote,
                len(raw),
                _why(exc),
            )
            return web.Response(status=400, text="malformed update")
        result: Any = await self.dispatcher.feed_webhook_update(bot, update, **self.data)
        return web.Response(body=self._build_response_writer(bot=bot, result=result))


def _why(exc: Exception) -> str:
    """One short line: the first validation error, or the parser's message."""
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first["loc"]) or "body"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{where}: {first['msg']}{more}"[:200]
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


class WebServer:
    """The webhook-mode HTTP server; the runner starts it first and attaches the app later."""

    def __init__(self, settings: Settings) -> None:
        assert settings.webhook_secret is not None
        self.settings = settings
        self._secret = settings.webhook_secret.get_secret_value()
        self.app: App | None = None
        self._handler: UpdateRequestHandler | None = None
        self.ready = False
        self.stopping = False
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        web_app = web.Application()
        web_app.router.add_post(self.settings.webhook_path, self._webhook)
        web_app.router.add_get("/healthz", self._healthz)
        web_app.router.add_get("/readyz", self._readyz)
        web_app.router.add_get("/status", self._status)
        runner = web.AppRunner(
            web_app, handle_signals=False, shutdown_timeout=DRAIN_TIMEOUT_S, access_log=None
        )
        await runner.setup()
        try:
            await web.TCPSite(
                runner, self.settings.webhook_host, self.settings.webhook_port
            ).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    def attach(self, app: App) -> None:
        """The bot is built: webhook calls go to its dispatcher from now on. Updates are
        handled before answering, so a failure makes Telegram retry; duplicates are
        absorbed by the update ledger; a body that is not an update gets 400."""
        self.app = app
        self._handler = UpdateRequestHandler(
            dispatcher=app.dp, bot=app.bot, secret_token=self._secret, handle_in_background=False
        )
        self.ready = True

    async def register_webhook(self) -> None:
        """Tell Telegram where to post. Every instance does this at start with the same
        URL, secret and update types: setWebhook is idempotent, so any one may."""
        assert self.app is not None
        await self.app.bot.set_webhook(
            url=self.settings.webhook_url or "",
            secret_token=self._secret,
            allowed_updates=self.app.allowed_updates(),
            drop_pending_updates=False,
        )

    async def stop(self) -> None:
        """Stop listening, then wait (up to DRAIN_TIMEOUT_S) for webhook calls in hand."""
        self.ready = False
        self.stopping = True
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ------------------------------------------------------------------ handlers
    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if not secrets.compare_digest(given.encode(), self._secret.encode()):
            return web.Response(text="Unauthorized", status=401)
        if not self.ready or self._handler is None:
            return web.Response(text="Not ready", status=503, headers={"Retry-After": "5"})
        return await self._handler.handle(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive", "ready": self.ready})

    async def _database_ok(self) -> bool:
        if self.app is None:
            return False
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(ping(self.app.ctx.db), timeout=PING_TIMEOUT_S)
        return False

    async def _readyz(self, request: web.Request) -> web.Response:
        body: dict[str, Any]
        if self.stopping:
            body = {"status": "stopping", "database": None}
        elif not self.ready:
            body = {"status": "starting", "database": None}
        elif await self._database_ok():
            body = {"status": "ready", "database": "ok"}
        else:
            body = {"status": "degraded", "database": "unreachable"}
        return web.json_response(body, status=200 if body["status"] == "ready" else 503)

    async def _status(self, request: web.Request) -> web.Response:
        body = instance_status(self.app, self.settings.bot_mode, ready=self.ready).to_json()
        holders: list[dict[str, Any]] | None = None
        if self.app is not None:
            app = self.app
            with contextlib.suppress(TimeoutError, PyMongoError):
                leases = await asyncio.wait_for(app.ctx.jobs.leases.all(), PING_TIMEOUT_S)
                now = app.ctx.clock.now()
                holders = [lease_json(lease, now) for lease in leases]
        # Who holds each lease, cluster-wide (null when the database does not answer).
        body["lease_holders"] = holders
        return web.json_response(body)
