"""Console URLs other layers build (the bot's /console answer)."""

from __future__ import annotations

SIGNIN_PREFIX = "/signin/"


def signin_url(base_url: str, token: str) -> str:
    """The link an officer opens to sign in: ``<CONSOLE_URL>/signin/<token>``."""
    return f"{base_url.rstrip('/')}{SIGNIN_PREFIX}{token}"
