"""Production mode: an aiohttp app receiving Telegram's webhook calls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiogram import Bot
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

from bot.app import App
from storage.client import ping

APP_KEY = web.AppKey("six_circles_app", App)

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


async def healthz(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    ok = False
    with contextlib.suppress(TimeoutError):
        ok = await asyncio.wait_for(ping(app.ctx.db), timeout=2.0)
    body = {"status": "ok" if ok else "degraded", "database": "ok" if ok else "unreachable"}
    return web.json_response(body, status=200 if ok else 503)


def make_web_app(app: App) -> web.Application:
    settings = app.ctx.settings
    assert settings.webhook_secret is not None
    web_app = web.Application()
    web_app[APP_KEY] = app
    # Verifies X-Telegram-Bot-Api-Secret-Token (401 otherwise). Updates are handled
    # before answering, so a failure makes Telegram retry; duplicates are absorbed
    # by the update ledger.
    UpdateRequestHandler(
        dispatcher=app.dp,
        bot=app.bot,
        secret_token=settings.webhook_secret.get_secret_value(),
        handle_in_background=False,
    ).register(web_app, path=settings.webhook_path)
    web_app.router.add_get("/healthz", healthz)
    return web_app


async def start_webhook(app: App) -> web.AppRunner:
    settings = app.ctx.settings
    assert settings.webhook_url and settings.webhook_secret
    runner = web.AppRunner(make_web_app(app), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
    await site.start()
    await app.bot.set_webhook(
        url=settings.webhook_url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=app.allowed_updates(),
        drop_pending_updates=False,
    )
    return runner
