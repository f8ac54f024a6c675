"""Telegram-shaped API errors used by the fake server (and by ``fail_next``)."""

from __future__ import annotations

from typing import Any


class TgError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": .., "description": ..}``.

    Raised inside method implementations and returned to the client verbatim.
    Use the constructors (``TgError.bad_request(...)`` etc.) with ``FakeTelegram.fail_next``.
    """

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = dict(parameters) if parameters else None

    # ----------------------------------------------------------------- constructors
    @classmethod
    def bad_request(cls, description: str) -> TgError:
        """400. ``description`` may be given with or without the ``Bad Request: `` prefix."""
        return cls(400, _prefixed("Bad Request: ", description))

    @classmethod
    def forbidden(cls, description: str = "bot was blocked by the user") -> TgError:
        return cls(403, _prefixed("Forbidden: ", description))

    @classmethod
    def unauthorized(cls) -> TgError:
        return cls(401, "Unauthorized")

    @classmethod
    def not_found(cls, description: str = "Not Found") -> TgError:
        return cls(404, description)

    @classmethod
    def conflict(cls, description: str) -> TgError:
        return cls(409, _prefixed("Conflict: ", description))

    @classmethod
    def retry_after(cls, seconds: int) -> TgError:
        seconds = max(1, int(seconds))
        return cls(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})

    @classmethod
    def migrate(cls, new_chat_id: int) -> TgError:
        return cls(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": new_chat_id},
        )

    @classmethod
    def server_error(cls, description: str = "Internal Server Error") -> TgError:
        return cls(500, description)

    @classmethod
    def entity_too_large(cls) -> TgError:
        return cls(413, "Request Entity Too Large")

    # ----------------------------------------------------------------- helpers
    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = dict(self.parameters)
        return body

    def copy(self) -> TgError:
        return TgError(self.error_code, self.description, self.parameters)

    def __repr__(self) -> str:
        return f"TgError({self.error_code}, {self.description!r}, {self.parameters!r})"


def _prefixed(prefix: str, description: str) -> str:
    return description if description.startswith(prefix) else prefix + description
