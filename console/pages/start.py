"""The start page: who is signed in, with which roles, and their open sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from console.keys import SERVICES
from console.render import render
from console.routing import PageRouter
from console.viewer import Viewer

if TYPE_CHECKING:
    from console.app import ConsoleContext


def setup(ctx: ConsoleContext) -> PageRouter:
    router = PageRouter()
    tz = ctx.services.config.tz

    @router.get("/", name="start", nav="start")
    async def start(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        sessions = await request.app[SERVICES].signin.sessions_of(viewer.user_id)
        rows = [
            {
                "current": s.session_hash == viewer.session.session_hash,
                "created": s.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "last_seen": s.last_seen.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "agent": s.user_agent or "—",
            }
            for s in sorted(sessions, key=lambda s: s.created_at, reverse=True)
        ]
        return render(request, "start.html", {"sessions": rows, "roles": viewer.role_labels()})

    return router
