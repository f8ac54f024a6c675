"""Typed keys of the console's aiohttp application and requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from console.live import LiveHub
    from console.routing import RouteSpec
    from console.services import ConsoleServices
    from console.viewer import Viewer

SERVICES: web.AppKey[ConsoleServices] = web.AppKey("console_services")
HUB: web.AppKey[LiveHub] = web.AppKey("console_hub")
NAV: web.AppKey[list[RouteSpec]] = web.AppKey("console_nav")
STATIC_VERSIONS: web.AppKey[dict[str, str]] = web.AppKey("console_static_versions")

VIEWER: web.RequestKey[Viewer | None] = web.RequestKey("console_viewer")
LOCALE: web.RequestKey[str] = web.RequestKey("console_locale")
ROUTE: web.RequestKey[RouteSpec] = web.RequestKey("console_route")
# Why a request has no viewer although it sent a session cookie (expired, revoked).
SIGNED_OUT_WHY: web.RequestKey[str] = web.RequestKey("console_signed_out_why")
