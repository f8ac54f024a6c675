"""The tip inbox. Placeholder of the foundation: the tips page replaces the body."""

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

    @router.get("/tips", name="tips", perm=Permission.VIEW_TIPS, nav="tips")
    async def tips(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return render(request, "placeholder.html", {"title_key": "console.nav.tips"})

    return router
