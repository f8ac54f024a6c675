"""Sign-in with the bot's link, sessions, sign-out; the viewer of every request.

``/console`` in the bot sends ``<CONSOLE_URL>/signin/<token>``. Opening it (GET) only shows
"Sign in as <name>": Telegram's link previews and scanners may fetch it, and must not use
it up. The button POSTs back to the same URL, which uses the link once and opens a session
(cookie ``sc_session``). On every request the session is looked up, and the officer's
roles and language are read from the database (``RoleService.principal``, the bot's own),
so a revoked role counts at the next request; someone who is no longer an officer at all
has every session ended and sees the signed-out page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.i18n import LOCALES, Translator, locale_of, normalize_locale
from console.cookies import (
    SESSION_COOKIE,
    clear_session_cookie,
    cookie_attributes,
    set_session_cookie,
)
from console.errors import NotSignedIn
from console.keys import LOCALE, SERVICES, SIGNED_OUT_WHY, VIEWER
from console.render import SIGNED_OUT_REASONS, render, see_other, url_for
from console.routing import PageRouter
from console.security import SIGNIN_COOKIE
from console.services import ConsoleServices
from console.viewer import Viewer
from groups.signin import SignInRefused, is_officer, new_secret
from kernel.errors import PermissionDenied

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SIGNIN_COOKIE_AGE_S = 600
# Requests that need no viewer (no database lookups): static files and the health check.
ANONYMOUS_PREFIXES = ("/static/", "/healthz")


def accepted_locale(request: web.Request, default: str) -> str:
    """The browser's preferred language among ours (for pages nobody is signed in to)."""
    header = request.headers.get("Accept-Language", "")
    for part in header.split(","):
        code = part.split(";")[0].strip()
        if code:
            found = normalize_locale(code, "")
            if found in LOCALES:
                return found
    return default


async def load_viewer(services: ConsoleServices, session_id: str) -> tuple[Viewer | None, str]:
    """The officer behind a session cookie, or None and why (expired, revoked)."""
    session = await services.signin.session(session_id)
    if session is None:
        return None, "expired"
    principal = await services.roles.principal(session.user_id)
    if not is_officer(principal):
        await services.signin.end_sessions_of(session.user_id, reason="not_officer")
        return None, "revoked"
    profile = await services.users.get(session.user_id)
    locale = locale_of(profile, services.config.default_locale)
    return Viewer(principal, profile, session, locale, Translator(locale)), ""


@web.middleware
async def viewer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    services = request.app[SERVICES]
    request[VIEWER] = None
    request[LOCALE] = accepted_locale(request, services.config.default_locale)
    path = request.path.removeprefix(services.config.base_path)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and not path.startswith(ANONYMOUS_PREFIXES):
        viewer, why = await load_viewer(services, cookie)
        request[VIEWER] = viewer
        if viewer is not None:
            request[LOCALE] = viewer.locale
        else:
            request[SIGNED_OUT_WHY] = why
    return await handler(request)


router = PageRouter()


def _refused(request: web.Request, exc: SignInRefused | PermissionDenied) -> web.Response:
    status = 404 if exc.key == "console.link_unknown" else 403
    if isinstance(exc, SignInRefused) and exc.key != "console.link_unknown":
        status = 410
    t = Translator(request[LOCALE])
    return render(
        request, "signin_refused.html", {"message": t(exc.key, **exc.params)}, status=status
    )


@router.public_get("/signin/{token}", name="signin")
async def signin_page(request: web.Request) -> web.StreamResponse:
    """The confirmation page. Looking does not use the link."""
    services = request.app[SERVICES]
    token = request.match_info["token"]
    try:
        link = await services.signin.preview(token)
    except SignInRefused as exc:
        return _refused(request, exc)
    profile = await services.users.get(link.user_id)
    request[LOCALE] = locale_of(profile, services.config.default_locale)
    pre = new_secret()
    name = profile.display_name if profile else str(link.user_id)
    response = render(
        request,
        "signin.html",
        {"name": name, "form_token": pre, "action": url_for(request, "signin", token=token)},
    )
    response.set_cookie(
        SIGNIN_COOKIE, pre, **cookie_attributes(services.config, max_age=SIGNIN_COOKIE_AGE_S)
    )
    return response


@router.public_post("/signin/{token}", name="signin_confirm")
async def signin_confirm(request: web.Request) -> web.StreamResponse:
    """The button: use the link once, open a session, go to the start page."""
    services = request.app[SERVICES]
    token = request.match_info["token"]
    try:
        created = await services.signin.sign_in(token, request.headers.get("User-Agent", ""))
    except (SignInRefused, PermissionDenied) as exc:
        return _refused(request, exc)
    previous = request.get(VIEWER)
    if previous is not None:
        await services.signin.sign_out(previous.session)
    response = see_other(url_for(request, "start"))
    set_session_cookie(response, services.config, created.session_id)
    response.del_cookie(SIGNIN_COOKIE, path=services.config.base_path or "/")
    return response


@router.post("/signout", name="signout")
async def signout(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    await request.app[SERVICES].signin.sign_out(viewer.session)
    raise NotSignedIn("signed_out")


@router.post("/sessions/end", name="end_sessions")
async def end_sessions(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """Sign out everywhere (as ``/console_logout`` in the bot)."""
    await request.app[SERVICES].signin.end_sessions_of(viewer.user_id, reason="console")
    raise NotSignedIn("ended")


@router.public_get("/signed-out", name="signed_out")
async def signed_out(request: web.Request) -> web.StreamResponse:
    why = request.query.get("why", "none")
    if why not in SIGNED_OUT_REASONS:
        why = "none"
    response = render(request, "signed_out.html", {"why": why})
    if request.cookies.get(SESSION_COOKIE) and request.get(VIEWER) is None:
        clear_session_cookie(response, request.app[SERVICES].config)
    return response
