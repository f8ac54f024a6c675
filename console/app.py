"""The console's aiohttp application (``build_console``) and its server (``ConsoleServer``).

Pages are modules listed in ``console.pages.PAGES``; each has ``setup(ctx: ConsoleContext)
-> PageRouter``, like the bot's feature routers. Resources (the live hub's change stream)
are opened and closed in the application's ``cleanup_ctx``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from console import auth, stream
from console.keys import HUB, NAV, SERVICES
from console.live import LIVE_COLLECTIONS, LiveHub
from console.pages import PAGES
from console.render import STATIC, error_middleware, setup_templates
from console.routing import NAV_SLOTS, PageRouter, RouteSpec
from console.security import add_security_headers, csrf_middleware, log_middleware
from console.services import ConsoleServices
from storage.changes import MongoChangeFeed
from storage.client import ping
from storage.console import MongoLivePositions

log = logging.getLogger("six_circles.console")

MAX_BODY = 1024 * 1024  # forms only; files do not come through the console (yet)
SHUTDOWN_TIMEOUT_S = 5.0


@dataclass
class ConsoleContext:
    """What a page module's ``setup`` receives."""

    services: ConsoleServices
    live: LiveHub  # declare topics: ctx.live.add_topic(Topic(...))
    # Extra template directories (a page may keep its templates elsewhere; tests do).
    template_dirs: list[Path] = field(default_factory=list)


def make_hub(services: ConsoleServices, collections: Sequence[str] = LIVE_COLLECTIONS) -> LiveHub:
    feed = MongoChangeFeed(services.db, collections)
    return LiveHub(feed, MongoLivePositions(services.db), f"live:{services.instance}")


def _health_router() -> PageRouter:
    router = PageRouter()

    @router.public_get("/healthz", name="healthz")
    async def healthz(request: web.Request) -> web.StreamResponse:
        services = request.app[SERVICES]
        ok = False
        with contextlib.suppress(TimeoutError):
            ok = await asyncio.wait_for(ping(services.db), timeout=2.0)
        live = request.app[HUB].running
        body = {
            "status": "ok" if ok and live else "degraded",
            "database": "ok" if ok else "unreachable",
            "live": "ok" if live else "stopped",
        }
        return web.json_response(body, status=200 if ok else 503)

    return router


def build_console(
    services: ConsoleServices,
    *,
    pages: Sequence[str] = PAGES,
    hub: LiveHub | None = None,
) -> web.Application:
    base = services.config.base_path
    hub = hub or make_hub(services)
    app = web.Application(
        middlewares=[log_middleware, auth.viewer_middleware, error_middleware, csrf_middleware],
        client_max_size=MAX_BODY,
    )
    app[SERVICES] = services
    app[HUB] = hub
    ctx = ConsoleContext(services, hub)
    routers = [auth.router, stream.router, _health_router()]
    routers += [importlib.import_module(name).setup(ctx) for name in pages]
    setup_templates(app, tuple(ctx.template_dirs))
    nav: dict[str, RouteSpec] = {}
    for router in routers:
        for spec in router.specs:
            app.router.add_route(spec.method, base + spec.path, spec.endpoint, name=spec.name)
            if spec.nav is not None:
                if spec.nav in nav:
                    raise ValueError(f"two pages claim the nav slot {spec.nav!r}")
                nav[spec.nav] = spec
    app[NAV] = [nav[slot.key] for slot in NAV_SLOTS if slot.key in nav]
    app.router.add_static(f"{base}/static/", STATIC, name="static")
    if base:
        app.router.add_get(base, _to_root)
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.append(_run_hub)
    app.on_shutdown.append(_end_streams)
    return app


async def _to_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(request.path + "/")


async def _run_hub(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]
    await hub.start()
    yield
    await hub.stop()


async def _end_streams(app: web.Application) -> None:
    app[HUB].close_subscribers()


class ConsoleBindError(RuntimeError):
    """The console cannot listen where configured (the message says what to change)."""


class ConsoleServer:
    """The console on ``CONSOLE_HOST:CONSOLE_PORT`` (``start``/``stop``)."""

    def __init__(
        self,
        services: ConsoleServices,
        *,
        pages: Sequence[str] = PAGES,
        hub: LiveHub | None = None,
    ) -> None:
        self.services = services
        self.app = build_console(services, pages=pages, hub=hub)
        self._runner: web.AppRunner | None = None

    @property
    def hub(self) -> LiveHub:
        return self.app[HUB]

    @property
    def url(self) -> str:
        return self.services.config.base_url

    async def start(self) -> None:
        config = self.services.config
        runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConsoleBindError(
                f"the console cannot listen on {config.host}:{config.port} "
                f"({exc.strerror or exc}): set CONSOLE_HOST/CONSOLE_PORT, or CONSOLE_ENABLED=false"
            ) from exc
        self._runner = runner
        log.info("console: listening on %s:%s, open %s", config.host, config.port, self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
