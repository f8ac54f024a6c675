"""Routes with their permission declared where they are defined, like the bot's handlers.

The bot writes ``@router.message(Command("bind"), flags={"perm": Permission.MANAGE_GROUPS})``;
a console page writes::

    router = PageRouter()

    @router.get("/tips", perm=Permission.VIEW_TIPS, nav="tips", live=("tips",))
    async def tips(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return render(request, "tips/index.html", {...})

    @router.post("/tips/{tip_id}/ack", perm=Permission.HANDLE_TIPS)
    async def ack(request: web.Request, viewer: Viewer) -> web.StreamResponse: ...

Every route needs a signed-in officer unless declared with ``public_get``/``public_post``.
``perm`` is a ``Permission``, ``any_of(...)`` several, or None (any officer). A refused
request changes nothing, is logged, and gets the 403 page in the officer's language.
Scope checks that depend on the object (a tip outside the officer's area) belong to the
domain services, as in the bot: they raise ``PermissionDenied``, which becomes a 403 page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from console.errors import Forbidden, NotSignedIn
from console.keys import ROUTE, VIEWER
from console.viewer import Requirement, Viewer, describe

log = logging.getLogger("six_circles.console.access")

PageHandler = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]
PublicHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class NavSlot:
    key: str
    label_key: str


# The navigation bar, in order. A slot appears once a page claims it (``nav=``) and only to
# officers allowed that page.
NAV_SLOTS: tuple[NavSlot, ...] = (
    NavSlot("start", "console.nav.start"),
    NavSlot("tips", "console.nav.tips"),
    NavSlot("map", "console.nav.map"),
    NavSlot("notices", "console.nav.notices"),
    NavSlot("duty", "console.nav.duty"),
    NavSlot("rewards", "console.nav.rewards"),
    NavSlot("groups", "console.nav.groups"),
    NavSlot("statistics", "console.nav.statistics"),
)
NAV_KEYS = {s.key: s for s in NAV_SLOTS}


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str
    path: str  # relative to the console's base path
    name: str
    perm: Requirement
    public: bool
    nav: str | None
    live: tuple[str, ...]
    endpoint: Callable[[web.Request], Awaitable[web.StreamResponse]]

    @property
    def label_key(self) -> str:
        assert self.nav is not None
        return NAV_KEYS[self.nav].label_key


def _name(path: str, method: str, given: str | None, handler: object) -> str:
    if given:
        return given
    return getattr(handler, "__name__", "") or f"{method.lower()}:{path}"


class PageRouter:
    """Collects a page module's routes; ``build_console`` adds them to the application."""

    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def _add(self, spec: RouteSpec) -> None:
        if spec.nav is not None and spec.nav not in NAV_KEYS:
            raise ValueError(f"unknown nav slot {spec.nav!r}; slots: {sorted(NAV_KEYS)}")
        if spec.nav is not None and spec.method != "GET":
            raise ValueError("only a GET route can be a nav entry")
        self.specs.append(spec)

    def route(
        self,
        method: str,
        path: str,
        *,
        perm: Requirement = None,
        name: str | None = None,
        nav: str | None = None,
        live: tuple[str, ...] = (),
    ) -> Callable[[PageHandler], PageHandler]:
        def decorate(handler: PageHandler) -> PageHandler:
            spec_name = _name(path, method, name, handler)

            async def endpoint(request: web.Request) -> web.StreamResponse:
                viewer = request.get(VIEWER)
                if viewer is None:
                    raise NotSignedIn()
                if not viewer.allows(perm):
                    log.info(
                        "refused user=%s perm=%s route=%s",
                        viewer.user_id,
                        describe(perm),
                        spec_name,
                    )
                    raise Forbidden()
                request[ROUTE] = spec
                return await handler(request, viewer)

            spec = RouteSpec(method, path, spec_name, perm, False, nav, live, endpoint)
            self._add(spec)
            return handler

        return decorate

    def get(
        self,
        path: str,
        *,
        perm: Requirement = None,
        name: str | None = None,
        nav: str | None = None,
        live: tuple[str, ...] = (),
    ) -> Callable[[PageHandler], PageHandler]:
        return self.route("GET", path, perm=perm, name=name, nav=nav, live=live)

    def post(
        self, path: str, *, perm: Requirement = None, name: str | None = None
    ) -> Callable[[PageHandler], PageHandler]:
        return self.route("POST", path, perm=perm, name=name)

    def public(
        self, method: str, path: str, *, name: str | None = None
    ) -> Callable[[PublicHandler], PublicHandler]:
        """A route anyone may reach (sign-in, signed-out page, health check)."""

        def decorate(handler: PublicHandler) -> PublicHandler:
            spec_name = _name(path, method, name, handler)

            async def endpoint(request: web.Request) -> web.StreamResponse:
                request[ROUTE] = spec
                return await handler(request)

            spec = RouteSpec(method, path, spec_name, None, True, None, (), endpoint)
            self._add(spec)
            return handler

        return decorate

    def public_get(
        self, path: str, *, name: str | None = None
    ) -> Callable[[PublicHandler], PublicHandler]:
        return self.public("GET", path, name=name)

    def public_post(
        self, path: str, *, name: str | None = None
    ) -> Callable[[PublicHandler], PublicHandler]:
        return self.public("POST", path, name=name)
