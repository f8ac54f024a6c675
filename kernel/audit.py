"""The append-only audit log: who did what to which object, when and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor_id: int | None  # None: the system itself (timers, automatic declines)
    action: str  # dotted verb, e.g. "role.grant", "tip.reveal", "notice.withdraw"
    object_type: str
    object_id: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None: ...

    async def list(
        self,
        *,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]: ...
