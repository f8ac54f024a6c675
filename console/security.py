"""Security headers on every response, and the CSRF check on every state-changing request.

Content-Security-Policy: scripts, styles, fonts and connections only from the console
itself; images also from the configured map tile server; no inline script or style, no
frames, forms post only to the console. The page therefore loads nothing from any other
host (the browser tests fail on any request that leaves the machine).

CSRF: every request but GET/HEAD/OPTIONS must carry the session's token, as the form field
``csrf_token`` or the ``X-CSRF-Token`` header (htmx sends it: ``hx-headers`` on <body>),
and, when the browser says where it comes from (``Origin``), come from the console's own
origin. Before there is a session (the sign-in button), the token is the one the sign-in
page put in a cookie (double submit). Session cookies are SameSite=Strict besides.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from console.config import ConsoleConfig
from console.errors import CsrfRejected
from console.keys import SERVICES, VIEWER
from groups.signin import same_secret

log = logging.getLogger("six_circles.console.http")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SIGNIN_COOKIE = "sc_signin"  # the sign-in page's double-submit token
STATIC_PATH = "/static/"
SECRET_IN_PATH = re.compile(r"(/signin/)[^/?#]+")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def content_security_policy(config: ConsoleConfig) -> str:
    images = "'self'"
    if config.tile_origin:
        images += f" {config.tile_origin}"
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "font-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )


def security_headers(config: ConsoleConfig) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(config),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # Sign-in links carry a secret in the path: never send it to another host as a
        # referrer. (Not "no-referrer": Chrome then sends "Origin: null" with form posts.)
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if config.secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


def redact_path(path: str) -> str:
    return SECRET_IN_PATH.sub(r"\1***", path)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every response, error pages and event streams included."""
    config = request.app[SERVICES].config
    response.headers.update(security_headers(config))
    if "Cache-Control" not in response.headers:
        static = request.path.startswith(config.base_path + STATIC_PATH)
        response.headers["Cache-Control"] = "public, max-age=3600" if static else "no-store"


@web.middleware
async def log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One log line per request, secrets in the path redacted."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        viewer = request.get(VIEWER)
        line = {
            "method": request.method,
            "path": redact_path(request.path),
            "status": status,
            "ms": round((time.perf_counter() - started) * 1e3, 1),
            "user_id": viewer.user_id if viewer else None,
        }
        log.info(json.dumps(line, ensure_ascii=False))


async def submitted_token(request: web.Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def same_origin(request: web.Request, config: ConsoleConfig) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not sent by this client; the token decides
    own = f"{request.scheme}://{request.host}"
    return origin in (config.origin, own)


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in SAFE_METHODS:
        return await handler(request)
    config = request.app[SERVICES].config
    if not same_origin(request, config):
        log.info(
            "csrf: refused %s %s from origin %s",
            request.method,
            redact_path(request.path),
            request.headers.get("Origin"),
        )
        raise CsrfRejected()
    token = await submitted_token(request)
    viewer = request.get(VIEWER)
    expected = [viewer.csrf_token] if viewer is not None else []
    pre = request.cookies.get(SIGNIN_COOKIE)
    if pre:
        expected.append(pre)
    if not token or not any(same_secret(token, e) for e in expected):
        log.info(
            "csrf: refused %s %s without a valid token", request.method, redact_path(request.path)
        )
        raise CsrfRejected()
    return await handler(request)
