"""The notices monitor. Placeholder of the foundation: the notices page replaces the body."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from console.render import render
from console.routing import PageRouter
from console.viewer import Viewer
from groups.roles import Permission

if TYPE_CHECKING:
    from console.app import ConsoleContext


def setup(ctx: ConsoleContext) -> PageRouter:
    router = PageRouter()

    @router.get("/notices", name="notices", perm=Permission.BROADCAST, nav="notices")
    async def notices(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return render(request, "placeholder.html", {"title_key": "console.nav.notices"})

    return router
