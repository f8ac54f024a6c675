"""The session cookie: HttpOnly, SameSite=Strict, Secure when the console's URL is https."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.config import ConsoleConfig

SESSION_COOKIE = "sc_session"


def cookie_attributes(config: ConsoleConfig, *, max_age: int) -> dict[str, Any]:
    """Attributes of every cookie the console sets."""
    return {
        "max_age": max_age,
        "path": config.base_path or "/",
        "httponly": True,
        "samesite": "Strict",
        "secure": config.secure,
    }


def set_session_cookie(response: web.StreamResponse, config: ConsoleConfig, value: str) -> None:
    max_age = int(config.session_lifetime.total_seconds())
    response.set_cookie(SESSION_COOKIE, value, **cookie_attributes(config, max_age=max_age))


def clear_session_cookie(response: web.StreamResponse, config: ConsoleConfig) -> None:
    response.set_cookie(SESSION_COOKIE, "", **cookie_attributes(config, max_age=0))
