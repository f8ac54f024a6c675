"""Domain errors carry a message key and parameters; the bot layer renders them."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal or invalid input that the user should be told about.

    ``key`` names a message in the locale catalogues; ``params`` fill its placeholders.
    Raising it must leave state unchanged.
    """

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r}, {self.params!r})"


class PermissionDenied(DomainError):
    """The caller's roles do not allow the action."""

    def __init__(self, key: str = "errors.permission_denied", **params: Any) -> None:
        super().__init__(key, **params)


class NotFound(DomainError):
    """The object the caller named does not exist (or is outside their scope)."""


class InvalidInput(DomainError):
    """Malformed arguments."""
