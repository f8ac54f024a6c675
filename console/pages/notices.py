"""The notices pages: the list (state and reach), a notice with its text, photos and
audience, the delivery monitor (per group, live while sending), retry of failed groups,
update and close, and the tips it received.

The rules are the bot's: the list is ``/notices`` (an officer's own notices; superadmins
may see everyone's), a notice is opened with ``NoticeService.find`` (its author, its
investigators, superadmins: anyone else gets 403, as ``/notice_update`` refuses them), and
update, close and retry go through ``NoticeService`` with the bot's confirmation step
(how many groups' copies change, then confirm) and its audit entries (``notice.update``,
``notice.solved``/``notice.withdrawn``, ``notice.retry``). The reads are
``NoticeMonitor`` (``bot.services.Services.notice_monitor``), each one indexed query.

After a change the delivery engine edits every copy (or sends to the groups retried): in
the bot's process the console wakes the delivery sweep at once
(``ConsoleServices.wake_deliveries``); a console running alone leaves it to the scheduler
lease holder's sweep, which runs every 5 s.

Live: the topic ``notices`` (collections ``notices`` and ``deliveries``) tells a page that
a notice it may see changed, at most once a second per notice; the page fetches the part
that changed (``[data-live-watch]`` in console.js).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.i18n import Translator
from broadcasts.model import Delivery, DeliveryState, Notice, NoticeStatus, Urgency
from broadcasts.monitor import VIEWS, NoticeList, Progress, RowsPage
from console.keys import SERVICES
from console.live import LiveEvent, Topic
from console.render import render, see_other, url_for
from console.routing import PageRouter
from console.services import ConsoleServices
from console.telegram_files import stream_file
from console.viewer import Viewer
from groups.model import Group
from groups.roles import Permission
from kernel.errors import InvalidInput, NotFound
from storage.notices import MongoNoticeRepository

if TYPE_CHECKING:
    from console.app import ConsoleContext

TOPIC = "notices"
LIVE_PERIOD_S = 1.0  # a notice's page hears of its changes at most this often
DONE = ("updated", "solved", "withdrawn", "retried")  # what ?done= may say after a change
EDIT_FIELDS = ("title", "body")
CLOSE_STATUSES = (NoticeStatus.SOLVED.value, NoticeStatus.WITHDRAWN.value)
LARGEST = 2**53  # positions and chat ids in addresses (the database stores 64-bit integers)
MAX_PAGE = 100_000
# Reasons Telegram gives in its own words: "<kind>: <Telegram's text>".
REASON_KINDS = ("bad_request", "network", "error")


# ---- live updates -----------------------------------------------------------------------


def notice_id_of(event: LiveEvent) -> str:
    """The notice a change of ``notices`` or ``deliveries`` is about."""
    if event.collection == "notices":
        return event.doc_id
    doc = event.document
    if doc is not None and doc.get("notice_id"):
        return str(doc["notice_id"])
    return event.doc_id.rsplit(":", 1)[0]  # a deleted delivery: "<notice id>:<chat id>"


class Managers:
    """Who manages a notice (its author and investigators, which never change), kept for
    the live filter: a delivery's change is checked without a query per change."""

    def __init__(self, notices: MongoNoticeRepository, size: int = 4096) -> None:
        self._notices = notices
        self._size = size
        self._known: OrderedDict[str, frozenset[int]] = OrderedDict()

    async def of(self, event: LiveEvent) -> frozenset[int]:
        nid = notice_id_of(event)
        found = self._known.get(nid)
        if found is not None:
            self._known.move_to_end(nid)
            return found
        doc = event.document if event.collection == "notices" else None
        if doc is not None:
            ids = [doc.get("created_by"), *(doc.get("investigators") or ())]
            found = frozenset(int(i) for i in ids if isinstance(i, int))
        else:
            notice = await self._notices.get(nid)
            if notice is None:
                return frozenset()
            found = frozenset({notice.created_by, *notice.investigators})
        self._known[nid] = found
        if len(self._known) > self._size:
            self._known.popitem(last=False)
        return found


def notices_topic(services: ConsoleServices) -> Topic:
    managers = Managers(services.domain.notices_repo)

    async def visible(event: LiveEvent, viewer: Viewer) -> bool:
        if not viewer.can(Permission.BROADCAST):
            return False
        if viewer.principal.is_superadmin:
            return True
        return viewer.user_id in await managers.of(event)

    def payload(event: LiveEvent) -> Mapping[str, Any]:
        return {"topic": TOPIC, "key": notice_id_of(event)}

    # No permission to subscribe: the start page (any officer) listens too; the filter
    # lets through only what the officer may see.
    return Topic(
        TOPIC,
        ("notices", "deliveries"),
        None,
        visible,
        payload,
        coalesce_s=LIVE_PERIOD_S,
        key=notice_id_of,
    )


# ---- what the pages show ----------------------------------------------------------------


class Labels:
    """Names of states, kinds, reasons and places in the officer's language."""

    def __init__(
        self,
        t: Translator,
        locale: str,
        tz: tzinfo,
        sectors: Mapping[str, str] | None = None,
        areas: Mapping[str, str] | None = None,
    ) -> None:
        self.t = t
        self.locale = locale
        self.tz = tz
        self.sectors = sectors or {}
        self.areas = areas or {}

    @classmethod
    async def of(cls, request: web.Request, viewer: Viewer, *, places: bool = False) -> Labels:
        services = request.app[SERVICES]
        sectors: dict[str, str] = {}
        areas: dict[str, str] = {}
        if places:
            catalog = services.domain.catalog
            sectors = {
                s.code: s.name(viewer.locale) for s in await catalog.sectors(include_retired=True)
            }
            areas = {a.code: a.name for a in await catalog.areas()}
        return cls(viewer.t, viewer.locale, services.config.tz, sectors, areas)

    def when(self, at: datetime | None) -> str:
        return at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M") if at else "—"

    def status(self, status: NoticeStatus) -> str:
        return self.t(f"notices.status.{status.value}")

    def kind(self, notice: Notice) -> str:
        return self.t(f"notices.kind.{notice.kind.value}")

    def urgency(self, notice: Notice) -> str:
        if notice.urgency is Urgency.URGENT:
            return self.t("notices.urgency.urgent_pin" if notice.pin else "notices.urgency.urgent")
        return self.t("notices.urgency.normal")

    def state(self, state: DeliveryState) -> str:
        return self.t(f"console.notices.state.{state.value}")

    def reason(self, reason: str | None) -> str:
        if not reason:
            return ""
        key = f"notices.reason.{reason}"
        if self.t.has(key):
            return self.t(key)
        kind, _, detail = reason.partition(": ")
        if kind in REASON_KINDS:
            return self.t(f"console.notices.reason.{kind}", detail=detail)
        if reason == "flood":
            return self.t("console.notices.reason.flood")
        return reason

    def sector(self, code: str | None) -> str:
        if code is None:
            return ""
        return self.sectors.get(code, code)

    def area(self, code: str | None) -> str:
        if code is None:
            return self.t("console.notices.whole_sector")
        return self.areas.get(code, code)

    def scope(self, sector: str | None, area: str | None) -> str:
        parts = [self.sector(sector), self.areas.get(area, area) if area else ""]
        return "/".join(p for p in parts if p) or "*"

    def audience(self, notice: Notice) -> list[str]:
        a = self.t
        lines: list[str] = []
        if notice.audience.sectors:
            names = ", ".join(self.sector(s) for s in notice.audience.sectors)
            lines.append(a("notices.audience.sectors", sectors=names))
        if notice.audience.areas:
            names = ", ".join(self.areas.get(c, c) for c in notice.audience.areas)
            lines.append(a("notices.audience.areas", areas=names))
        if notice.audience.center is not None:
            lines.append(
                a(
                    "notices.audience.radius",
                    lat=f"{notice.audience.center.lat:.4f}",
                    lon=f"{notice.audience.center.lon:.4f}",
                    km=f"{notice.audience.radius_km or 0:g}",
                )
            )
        if notice.scopes:
            scopes = ", ".join(self.scope(s.sector, s.area) for s in notice.scopes)
            lines.append(a("console.notices.sender_scope", scopes=scopes))
        return lines or [a("notices.audience.none")]


def progress_view(p: Progress) -> dict[str, Any]:
    c = p.counts
    return {
        "pending": c.pending,
        "sending": c.sending,
        "sent": c.sent,
        "failed": c.failed,
        "total": c.total,
        "done": c.sent + c.failed,
        "remaining": c.remaining,
        "migrated": p.migrated,
        "retryable": p.retryable,
        "percent": p.percent,
    }


def notice_view(notice: Notice, labels: Labels) -> dict[str, Any]:
    return {
        "id": notice.notice_id,
        "ref": notice.ref,
        "title": notice.title,
        "body": notice.body,
        "kind": labels.kind(notice),
        "status": notice.status.value,
        "status_label": labels.status(notice.status),
        "open": not notice.status.is_closed,
        "sending": notice.status is NoticeStatus.SENDING,
        "urgency": labels.urgency(notice),
        "urgent": notice.urgency is Urgency.URGENT,
        "case_no": notice.case_no,
        "reward": notice.reward,
        "created": labels.when(notice.created_at),
        "sent": labels.when(notice.sent_at) if notice.sent_at else "",
        "send_at": labels.when(notice.send_at) if notice.send_at else "",
        "expires": labels.when(notice.expires_at),
        "closed": labels.when(notice.closed_at) if notice.closed_at else "",
        "photos": len(notice.photos),
    }


def row_view(d: Delivery, group: Group | None, labels: Labels) -> dict[str, Any]:
    return {
        "chat_id": d.chat_id,
        "title": (group.title if group else "") or d.title or str(d.chat_id),
        "sector": labels.sector(group.sector) if group else "",
        "area": labels.area(group.area) if group else "",
        "state": d.state.value,
        "state_label": labels.state(d.state),
        "reason": labels.reason(d.reason),
        "migrated_from": d.migrated_from,
        "at": labels.when(d.sent_at or d.finished_at) if d.sent_at or d.finished_at else "",
        "attempts": d.attempts,
    }


def int_param(
    request: web.Request, name: str, *, low: int = -LARGEST, high: int = LARGEST
) -> int | None:
    """An integer from the address, None when absent or out of [low, high] (never an
    error: a mistyped address shows the first page)."""
    raw = request.query.get(name, "")
    if len(raw) > 20:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


def view_param(request: web.Request) -> str:
    view = request.query.get("view", "all")
    return view if view in VIEWS else "all"


def monitor_query(request: web.Request) -> dict[str, str]:
    """The monitor's position as given in the address (normalised)."""
    query: dict[str, str] = {}
    view = view_param(request)
    if view != "all":
        query["view"] = view
    for name in ("after", "before"):
        value = int_param(request, name)
        if value is not None:
            query[name] = str(value)
            break
    else:
        page = int_param(request, "page", low=0, high=MAX_PAGE)
        if page:
            query["page"] = str(page)
    return query


# ---- the page module ----------------------------------------------------------------------


def setup(ctx: ConsoleContext) -> PageRouter:
    router = PageRouter()
    ctx.live.add_topic(notices_topic(ctx.services))

    async def list_context(request: web.Request, viewer: Viewer) -> dict[str, Any]:
        monitor = request.app[SERVICES].domain.notice_monitor
        everyone = request.query.get("all") == "1" and viewer.principal.is_superadmin
        page = int_param(request, "page", low=0, high=MAX_PAGE) or 0
        listing: NoticeList = await monitor.notices(viewer.principal, everyone=everyone, page=page)
        labels = await Labels.of(request, viewer)
        base = {"all": "1"} if listing.everyone else {}
        rows = [
            {"notice": notice_view(n, labels), "progress": progress_view(p)}
            for n, p in listing.items
        ]
        return {
            "rows": rows,
            "everyone": listing.everyone,
            "may_see_all": viewer.principal.is_superadmin,
            "page": listing.page,
            "prev_url": (
                url_for(request, "notices", base | {"page": str(page - 1)}) if page > 0 else ""
            ),
            "next_url": (
                url_for(request, "notices", base | {"page": str(page + 1)})
                if listing.has_next
                else ""
            ),
            "rows_url": url_for(request, "notice_list_rows", base | {"page": str(page)}),
        }

    @router.get("/notices", name="notices", perm=Permission.BROADCAST, nav="notices", live=(TOPIC,))
    async def notices(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return render(request, "notices/list.html", await list_context(request, viewer))

    @router.get("/notices/rows", name="notice_list_rows", perm=Permission.BROADCAST)
    async def notice_list_rows(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return render(request, "notices/_list_rows.html", await list_context(request, viewer))

    async def monitor_context(
        request: web.Request, viewer: Viewer, notice: Notice, labels: Labels
    ) -> dict[str, Any]:
        monitor = request.app[SERVICES].domain.notice_monitor
        here = monitor_query(request)
        view = here.get("view", "all")
        progress = await monitor.overview(notice)
        page: RowsPage = await monitor.rows(
            notice,
            view,
            after=int(here["after"]) if "after" in here else None,
            before=int(here["before"]) if "before" in here else None,
            page=int(here["page"]) if "page" in here else None,
        )
        ref = notice.ref

        def link(name: str, query: dict[str, str]) -> str:
            return url_for(request, name, query, ref=ref)

        keep = {"view": view} if view != "all" else {}
        counts = progress_view(progress)
        views = [
            {
                "key": v,
                "label": viewer.t(f"console.notices.view.{v}"),
                "count": counts["total" if v == "all" else v],
                "url": link("notice", {"view": v} if v != "all" else {}),
                "current": v == view,
            }
            for v in VIEWS
        ]
        return {
            "notice": notice_view(notice, labels),
            "progress": counts,
            "view": view,
            "views": views,
            "rows": [row_view(r.delivery, r.group, labels) for r in page.rows],
            "page_number": page.page,
            "pages": page.pages,
            "first_url": link("notice", keep) if here.keys() - {"view"} else "",
            "prev_url": (
                link("notice", keep | {"before": str(page.prev_before)})
                if page.prev_before is not None
                else ""
            ),
            "next_url": (
                link("notice", keep | {"after": str(page.next_after)})
                if page.next_after is not None
                else ""
            ),
            "monitor_url": link("notice_monitor", here),
            "retry_url": link("notice_retry", {}),
        }

    async def tips_context(
        request: web.Request, viewer: Viewer, notice: Notice, labels: Labels
    ) -> dict[str, Any] | None:
        if not viewer.can(Permission.VIEW_TIPS):
            return None
        tips = request.app[SERVICES].domain.tip_service
        page = int_param(request, "tips_page", low=0, high=MAX_PAGE) or 0
        _, found = await tips.list_for_notice(viewer.principal, notice.ref, page)
        t = viewer.t
        rows = []
        for tip in found.tips:
            rows.append(
                {
                    "code": tip.code,
                    "url": tip_url(request, tip.tip_id),
                    "who": (
                        t("tips.forgotten_tipster")
                        if tip.forgotten or not tip.pseudonym
                        else t("tips.pseudonym", label=tip.pseudonym)
                    ),
                    "status": t(f"tips.status.{tip.status.value}"),
                    "category": t(f"tips.category.{tip.category.value}") if tip.category else "",
                    "at": labels.when(tip.created_at),
                    "text": (tip.text[:120] + "…") if len(tip.text) > 120 else tip.text,
                    "media": len(tip.media),
                }
            )

        def tips_link(p: int) -> str:
            return url_for(request, "notice", {"tips_page": str(p)}, ref=notice.ref) + "#tips"

        return {
            "rows": rows,
            "total": found.total,
            "page": found.page,
            "pages": found.pages,
            "prev_url": tips_link(found.page - 1) if found.page > 0 else "",
            "next_url": tips_link(found.page + 1) if found.page + 1 < found.pages else "",
        }

    @router.get("/notices/{ref}", name="notice", perm=Permission.BROADCAST, live=(TOPIC,))
    async def notice_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        services = request.app[SERVICES]
        notice = await services.domain.notice_monitor.notice(
            viewer.principal, request.match_info["ref"]
        )
        labels = await Labels.of(request, viewer, places=True)
        author = await services.users.get(notice.created_by)
        done = request.query.get("done", "")
        context = await monitor_context(request, viewer, notice, labels)
        context |= {
            "audience": labels.audience(notice),
            "author": author.display_name if author else str(notice.created_by),
            "photo_urls": [
                url_for(request, "notice_photo", ref=notice.ref, index=i)
                for i in range(len(notice.photos))
            ],
            "tips": await tips_context(request, viewer, notice, labels),
            "done": done if done in DONE else "",
            "done_count": int_param(request, "n", low=0) or 0,
        }
        return render(request, "notices/notice.html", context)

    @router.get("/notices/{ref}/monitor", name="notice_monitor", perm=Permission.BROADCAST)
    async def notice_monitor(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        notice = await request.app[SERVICES].domain.notice_monitor.notice(
            viewer.principal, request.match_info["ref"]
        )
        labels = await Labels.of(request, viewer, places=True)
        context = await monitor_context(request, viewer, notice, labels)
        return render(request, "notices/_monitor.html", context)

    @router.get(
        "/notices/{ref}/photos/{index:\\d{1,2}}", name="notice_photo", perm=Permission.BROADCAST
    )
    async def notice_photo(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        notice = await request.app[SERVICES].domain.notice_monitor.notice(
            viewer.principal, request.match_info["ref"]
        )
        index = int(request.match_info["index"])
        if index >= len(notice.photos):
            raise NotFound("console.files.unavailable")
        return await stream_file(request, notice.photos[index].file_id)

    # ---- update (title or text): the new wording, then how many copies change, then confirm

    def field_param(value: object) -> str:
        return value if isinstance(value, str) and value in EDIT_FIELDS else "body"

    async def copies(request: web.Request, notice: Notice) -> int:
        """Groups whose copy an update changes (as the bot counts: sent or still to send)."""
        counts = await request.app[SERVICES].domain.notice_monitor.counts([notice])
        c = counts[notice.notice_id]
        return c.sent + c.remaining

    def edit_page(
        request: web.Request, notice: Notice, labels: Labels, field: str, value: str, error: str
    ) -> web.Response:
        return render(
            request,
            "notices/edit.html",
            {
                "notice": notice_view(notice, labels),
                "field": field,
                "value": value,
                "error": error,
            },
            status=400 if error else 200,
        )

    @router.get("/notices/{ref}/edit", name="notice_edit", perm=Permission.BROADCAST)
    async def notice_edit(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        service = request.app[SERVICES].domain.notice_service
        notice = await service.find(viewer.principal, request.match_info["ref"])
        if notice.status.is_closed:
            raise InvalidInput("notices.err.closed", ref=notice.ref)
        field = field_param(request.query.get("field"))
        labels = await Labels.of(request, viewer)
        return edit_page(request, notice, labels, field, getattr(notice, field), "")

    @router.post("/notices/{ref}/edit", name="notice_edit_check", perm=Permission.BROADCAST)
    async def notice_edit_check(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        service = request.app[SERVICES].domain.notice_service
        form = await request.post()
        field = field_param(form.get("field"))
        value = str(form.get("value", ""))
        ref = request.match_info["ref"]
        labels = await Labels.of(request, viewer)
        try:
            notice = await service.check_update(viewer.principal, ref, **{field: value})
        except InvalidInput as exc:
            current = await service.find(viewer.principal, ref)
            return edit_page(
                request, current, labels, field, value, viewer.t(exc.key, **exc.params)
            )
        groups = await copies(request, notice)
        return render(
            request,
            "notices/edit_confirm.html",
            {
                "notice": notice_view(notice, labels),
                "field": field,
                "value": getattr(notice, field),
                "question": (
                    viewer.t("notices.update.confirm", ref=notice.ref, groups=groups)
                    if groups
                    else viewer.t("notices.update.confirm_unsent", ref=notice.ref)
                ),
            },
        )

    @router.post(
        "/notices/{ref}/edit/confirm", name="notice_edit_confirm", perm=Permission.BROADCAST
    )
    async def notice_edit_confirm(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        services = request.app[SERVICES]
        service = services.domain.notice_service
        form = await request.post()
        field = field_param(form.get("field"))
        value = str(form.get("value", ""))
        ref = request.match_info["ref"]
        try:
            notice = await service.update(viewer.principal, ref, **{field: value})
        except InvalidInput as exc:
            current = await service.find(viewer.principal, ref)
            labels = await Labels.of(request, viewer)
            return edit_page(
                request, current, labels, field, value, viewer.t(exc.key, **exc.params)
            )
        services.wake()
        return see_other(url_for(request, "notice", {"done": "updated"}, ref=notice.ref))

    # ---- close (solved or withdrawn), after a confirmation -------------------------------

    @router.get("/notices/{ref}/close", name="notice_close", perm=Permission.BROADCAST)
    async def notice_close(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        service = request.app[SERVICES].domain.notice_service
        notice = await service.find(viewer.principal, request.match_info["ref"])
        if notice.status.is_closed:
            raise InvalidInput("notices.err.closed", ref=notice.ref)
        wanted = request.query.get("status", "")
        choices = [wanted] if wanted in CLOSE_STATUSES else list(CLOSE_STATUSES)
        labels = await Labels.of(request, viewer)
        label = "/".join(labels.status(NoticeStatus(s)) for s in choices)
        return render(
            request,
            "notices/close.html",
            {
                "notice": notice_view(notice, labels),
                "question": viewer.t("notices.close.confirm", ref=notice.ref, status=label),
                "groups": await copies(request, notice),
                "choices": [{"status": s, "label": viewer.t(f"notices.btn.{s}")} for s in choices],
            },
        )

    @router.post("/notices/{ref}/close", name="notice_close_confirm", perm=Permission.BROADCAST)
    async def notice_close_confirm(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        services = request.app[SERVICES]
        form = await request.post()
        status = str(form.get("status", ""))
        if status not in CLOSE_STATUSES:
            raise InvalidInput("notices.err.close_status")
        notice = await services.domain.notice_service.close(
            viewer.principal, request.match_info["ref"], NoticeStatus(status)
        )
        services.wake()
        return see_other(url_for(request, "notice", {"done": status}, ref=notice.ref))

    # ---- retry of the groups a notice failed to reach ------------------------------------

    @router.post("/notices/{ref}/retry", name="notice_retry", perm=Permission.BROADCAST)
    async def notice_retry(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        services = request.app[SERVICES]
        notice, count = await services.domain.notice_service.retry(
            viewer.principal, request.match_info["ref"]
        )
        services.wake()
        return see_other(
            url_for(request, "notice", {"done": "retried", "n": str(count)}, ref=notice.ref)
        )

    return router


def tip_url(request: web.Request, tip_id: str) -> str:
    """The tip page (route ``tip`` of the tips pages; ``/tips/<id>`` until it exists)."""
    try:
        return url_for(request, "tip", tip_id=tip_id)
    except KeyError:
        return f"{request.app[SERVICES].config.base_path}/tips/{tip_id}"
