"""Why a console request is refused; the error middleware (render.py) turns each into a page."""

from __future__ import annotations

from typing import Any


class NotSignedIn(Exception):
    """No live session: the signed-out page says why (``why``: none, expired, revoked...)."""

    def __init__(self, why: str = "none") -> None:
        super().__init__(why)
        self.why = why


class Forbidden(Exception):
    """The officer lacks the permission a route declares (403 in their language)."""

    def __init__(self, key: str = "errors.permission_denied", **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class CsrfRejected(Exception):
    """A state-changing request without the right CSRF token (or from another origin)."""
