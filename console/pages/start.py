"""The start page: what needs attention now, and who is signed in.

- Tips (officers who may view tips): how many were received today and how many nobody
  has acknowledged yet, in the officer's sectors/areas (``TipService.counts``: the bot's
  ``/tips`` visibility; indexed counts). Live: topic ``start_tips``.
- Duty (officers who handle tips, as ``/duty``): per team, who is on duty now and next.
- Notices being delivered (officers who broadcast): their own (a superadmin's: all), with
  progress. Live: topic ``notices`` (console.pages.notices).
- The officer's roles and signed-in devices, with sign-out everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from console.keys import SERVICES
from console.live import LiveEvent, Topic
from console.pages.notices import TOPIC as NOTICES_TOPIC
from console.pages.notices import Labels, notice_view, progress_view
from console.render import render, url_for
from console.routing import PageRouter
from console.viewer import Viewer
from duty.model import Shift
from groups.roles import Permission, Scope

if TYPE_CHECKING:
    from console.app import ConsoleContext

TIPS_TOPIC = "start_tips"
LIVE_PERIOD_S = 1.0
SENDING_SHOWN = 10


def tips_topic() -> Topic:
    def visible(event: LiveEvent, viewer: Viewer) -> bool:
        doc = event.document
        if doc is None:
            return False
        return viewer.can(Permission.VIEW_TIPS, Scope(doc.get("sector"), doc.get("area")))

    def payload(event: LiveEvent) -> dict[str, str]:
        return {"topic": TIPS_TOPIC, "key": "tips"}

    return Topic(
        TIPS_TOPIC,
        ("tips",),
        None,  # any officer's start page listens; the filter decides
        visible,
        payload,
        coalesce_s=LIVE_PERIOD_S,
        key=lambda event: "tips",
    )


def setup(ctx: ConsoleContext) -> PageRouter:
    router = PageRouter()
    tz = ctx.services.config.tz
    ctx.live.add_topic(tips_topic())

    async def tips_context(request: web.Request, viewer: Viewer) -> dict[str, Any] | None:
        if not viewer.can(Permission.VIEW_TIPS):
            return None
        services = request.app[SERVICES]
        midnight = datetime.combine(services.clock.now().astimezone(tz).date(), time(), tz)
        counts = await services.domain.tip_service.counts(viewer.principal, midnight)
        return {
            "received": counts.received,
            "unacknowledged": counts.unacknowledged,
            "url": url_for(request, "start_tips"),
            "inbox": url_for(request, "tips")
            if "tips" in request.app.router.named_resources()
            else "",
        }

    async def sending_context(request: web.Request, viewer: Viewer) -> dict[str, Any] | None:
        if not viewer.can(Permission.BROADCAST):
            return None
        monitor = request.app[SERVICES].domain.notice_monitor
        found = await monitor.sending(viewer.principal, SENDING_SHOWN)
        labels = await Labels.of(request, viewer)
        return {
            "rows": [
                {"notice": notice_view(n, labels), "progress": progress_view(p)} for n, p in found
            ],
            "url": url_for(request, "start_notices"),
        }

    async def duty_context(request: web.Request, viewer: Viewer) -> dict[str, Any] | None:
        if not viewer.can(Permission.HANDLE_TIPS):
            return None
        services = request.app[SERVICES]
        duty = services.domain.duty
        names: dict[int, str] = {}

        async def name(user_id: int) -> str:
            if user_id not in names:
                profile = await services.users.get(user_id)
                names[user_id] = profile.display_name if profile else str(user_id)
            return names[user_id]

        async def who(shifts: Iterable[Shift]) -> list[dict[str, Any]]:
            out = []
            for s in shifts:
                start = s.start.astimezone(tz)
                out.append(
                    {
                        "when": f"{start.strftime('%m-%d')} {s.label}",
                        "people": [await name(slot.user_id) for slot in s.slots],
                        "gap": s.gap,
                    }
                )
            return out

        teams = []
        for team in await duty.teams():
            current, nxt = await duty.now_and_next(team)
            teams.append(
                {
                    "code": team.code,
                    "name": team.name,
                    "scope": team.scope_label(),
                    "now": await who(current),
                    "next": (await who([nxt]))[0] if nxt is not None else None,
                }
            )
        return {"teams": teams}

    @router.get("/", name="start", nav="start", live=(NOTICES_TOPIC, TIPS_TOPIC))
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
        return render(
            request,
            "start.html",
            {
                "sessions": rows,
                "roles": viewer.role_labels(),
                "tips": await tips_context(request, viewer),
                "duty": await duty_context(request, viewer),
                "sending": await sending_context(request, viewer),
            },
        )

    @router.get("/start/tips", name="start_tips")
    async def start_tips(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return render(request, "start/_tips.html", {"tips": await tips_context(request, viewer)})

    @router.get("/start/notices", name="start_notices")
    async def start_notices(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return render(
            request, "start/_sending.html", {"sending": await sending_context(request, viewer)}
        )

    return router
