"""Templates (Jinja2 via aiohttp-jinja2) in the officer's language, and error pages.

Every template gets:
  ``t(key, **params)``   the catalogue (``bot/locales/*.toml``) in the viewer's language
  ``locale``             ``zh-CN`` or ``en``
  ``viewer``             the signed-in ``Viewer`` (None on public pages)
  ``nav``                the navigation entries this officer may use
  ``url(name, **parts)`` a route's path (``url("start")``, ``url("tip", tip_id=...)``)
  ``static(path)``       a static file's path (versioned for the console's own files)
  ``csrf_token``         for forms: ``{{ csrf_field() }}`` from ``_macros.html``
  ``live_url``           the SSE URL of the route's live topics ("" when none)
  ``map``                tile URL and attribution for ``map_box()``
Text is escaped (autoescape); undefined names fail loudly (StrictUndefined).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.i18n import Translator
from console.cookies import clear_session_cookie
from console.errors import CsrfRejected, Forbidden, NotSignedIn
from console.keys import LOCALE, NAV, ROUTE, SERVICES, SIGNED_OUT_WHY, STATIC_VERSIONS, VIEWER
from kernel.errors import DomainError, NotFound, PermissionDenied

log = logging.getLogger("six_circles.console")

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
OWN_STATIC = ("console.css", "console.js")
SIGNED_OUT_REASONS = frozenset({"none", "expired", "revoked", "signed_out", "ended"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_htmx(request: web.Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def translator(request: web.Request) -> Translator:
    return Translator(request.get(LOCALE) or request.app[SERVICES].config.default_locale)


def static_versions() -> dict[str, str]:
    """Cache-busting versions of the console's own static files (vendored ones are
    versioned by their directory names)."""
    return {
        name: hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12] for name in OWN_STATIC
    }


def url_for(
    request: web.Request, name: str, query: Mapping[str, str] | None = None, **parts: Any
) -> str:
    url = request.app.router[name].url_for(**{k: str(v) for k, v in parts.items()})
    path = str(url)
    if query:
        path += "?" + urlencode(query)
    return path


def _context(request: web.Request) -> dict[str, Any]:
    services = request.app[SERVICES]
    config = services.config
    viewer = request.get(VIEWER)
    versions = request.app[STATIC_VERSIONS]
    base = config.base_path

    def static(path: str) -> str:
        version = versions.get(path)
        return f"{base}/static/{path}" + (f"?v={version}" if version else "")

    def url(name: str, query: Mapping[str, str] | None = None, **parts: Any) -> str:
        return url_for(request, name, query, **parts)

    route = request.get(ROUTE)
    nav: list[dict[str, Any]] = []
    if viewer is not None:
        for spec in request.app[NAV]:
            if viewer.allows(spec.perm):
                nav.append(
                    {
                        "key": spec.nav,
                        "label": viewer.t(spec.label_key),
                        "url": url(spec.name),
                        "active": route is not None and route.nav == spec.nav,
                    }
                )
    live_url = ""
    if viewer is not None and route is not None and route.live:
        live_url = url("live", query={"topic": ",".join(route.live)})
    return {
        "t": viewer.t if viewer is not None else translator(request),
        "locale": request.get(LOCALE) or config.default_locale,
        "viewer": viewer,
        "nav": nav,
        "url": url,
        "static": static,
        "csrf_token": viewer.csrf_token if viewer is not None else "",
        "live_url": live_url,
        "map": {"tile_url": config.tile_url, "attribution": config.tile_attribution},
    }


def setup_templates(app: web.Application, extra_dirs: tuple[Path, ...] = ()) -> None:
    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(str(TEMPLATES))]
        + [jinja2.FileSystemLoader(str(d)) for d in extra_dirs]
    )
    aiohttp_jinja2.setup(
        app,
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app[STATIC_VERSIONS] = static_versions()


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """A page or fragment from ``console/templates/``."""
    merged = _context(request)
    merged.update(context or {})
    return aiohttp_jinja2.render_template(template, request, merged, status=status)


def error_page(request: web.Request, status: int, key: str, **params: Any) -> web.Response:
    """An error in the viewer's language: a page, or a fragment for htmx requests."""
    message = translator(request)(key, **params)
    if is_htmx(request):
        return render(request, "_error_fragment.html", {"message": message}, status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def see_other(location: str) -> web.Response:
    """A 303 redirect as a response (returned, so cookies can be set on it)."""
    return web.Response(status=303, headers={"Location": location})


def signed_out_url(request: web.Request, why: str) -> str:
    return url_for(request, "signed_out", {"why": why if why in SIGNED_OUT_REASONS else "none"})


def to_signed_out(request: web.Request, why: str) -> web.StreamResponse:
    """Send the browser to the signed-out page (htmx: a client-side redirect)."""
    target = signed_out_url(request, why)
    response: web.StreamResponse
    if is_htmx(request) or request.path.endswith("/live"):
        response = web.Response(status=401, headers={"HX-Redirect": target})
    else:
        response = see_other(target)
    clear_session_cookie(response, request.app[SERVICES].config)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except NotSignedIn as exc:
        why = exc.why if exc.why != "none" else request.get(SIGNED_OUT_WHY, "none")
        return to_signed_out(request, why)
    except Forbidden as exc:
        return error_page(request, 403, exc.key, **exc.params)
    except CsrfRejected:
        return error_page(request, 403, "console.errors.csrf")
    except PermissionDenied as exc:
        return error_page(request, 403, exc.key, **exc.params)
    except NotFound as exc:
        return error_page(request, 404, exc.key, **exc.params)
    except DomainError as exc:
        return error_page(request, 400, exc.key, **exc.params)
    except web.HTTPNotFound:
        return error_page(request, 404, "console.errors.not_found")
    except web.HTTPMethodNotAllowed:
        return error_page(request, 405, "console.errors.method")
    except web.HTTPException:
        raise
    except Exception:
        log.exception("console: error on %s", request.method)
        return error_page(request, 500, "console.errors.internal")
