"""Production mode: an aiohttp app receiving Telegram's webhook calls."""

from __future__ import annotations

import asyncio
import contextlib

from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.app import App
from storage.client import ping

APP_KEY = web.AppKey("six_circles_app", App)


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
    SimpleRequestHandler(
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
