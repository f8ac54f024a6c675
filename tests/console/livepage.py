"""A page only the tests have: a list of tips that refreshes on live events (how a real page
uses ``live=``, ``Topic`` and ``hx-trigger="sse:<topic>"``), with a per-officer filter."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from console.keys import SERVICES
from console.live import LiveEvent, Topic
from console.render import render
from console.routing import PageRouter
from console.viewer import Viewer
from groups.roles import Permission, Scope

if TYPE_CHECKING:
    from console.app import ConsoleContext

TOPIC = "test_tips"


def visible(event: LiveEvent, viewer: Viewer) -> bool:
    """Only tips inside one of the officer's scopes for viewing tips."""
    doc = event.document or {}
    scope = Scope(doc.get("sector"), doc.get("area"))
    return viewer.can(Permission.VIEW_TIPS, scope)


def setup(ctx: ConsoleContext) -> PageRouter:
    router = PageRouter()
    ctx.template_dirs.append(Path(__file__).with_name("templates"))
    ctx.live.add_topic(Topic(TOPIC, ("tips",), Permission.VIEW_TIPS, visible))

    @router.get("/test/live", name="test_live", perm=Permission.VIEW_TIPS, live=(TOPIC,))
    async def live_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return render(request, "live_test.html")

    @router.get("/test/live/items", name="test_live_items", perm=Permission.VIEW_TIPS)
    async def items(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        db = request.app[SERVICES].db
        codes = [
            d["code"]
            async for d in db.tips.find({}, {"code": 1, "sector": 1, "area": 1}).sort("code", 1)
            if viewer.can(Permission.VIEW_TIPS, Scope(d.get("sector"), d.get("area")))
        ]
        return render(request, "live_test_items.html", {"codes": codes})

    return router
