"""Tips on a map. Placeholder of the foundation: an empty map with the configured tiles
(``CONSOLE_TILE_URL``), Leaflet and marker clustering loaded; the map page adds markers."""

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

    @router.get("/map", name="map", perm=Permission.VIEW_TIPS, nav="map")
    async def tips_map(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return render(request, "map.html", {"center": (35.0, 105.0), "zoom": 4})

    return router
