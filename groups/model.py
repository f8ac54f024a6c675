"""Areas and bound groups: the registry notices are targeted at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class GroupStatus(StrEnum):
    ACTIVE = "active"
    BOT_REMOVED = "bot_removed"
    MIGRATED = "migrated"
    ARCHIVED = "archived"


@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0) or not (-180.0 <= self.lon <= 180.0):
            raise ValueError(f"coordinates out of range: {self.lat}, {self.lon}")


@dataclass(frozen=True, slots=True)
class Area:
    code: str  # stable slug used in commands and documents
    name: str
    parent: str | None = None
    center: GeoPoint | None = None
    radius_km: float | None = None


@dataclass(frozen=True, slots=True)
class Group:
    chat_id: int
    title: str
    sector: str
    area: str | None  # None: the sector's whole territory
    status: GroupStatus = GroupStatus.ACTIVE
    member_count: int = 0
    bound_by: int | None = None
    bound_at: datetime | None = None
    migrated_to: int | None = None
    delete_tip_replies: bool = True


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a notice goes to: sectors and areas combined, or a radius around a point.

    Empty ``sectors`` means every sector; empty ``areas`` means every area (including
    groups bound to a sector's whole territory). With ``center`` set, only groups whose
    area centre lies within ``radius_km`` match (sectors still filter).
    """

    sectors: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    center: GeoPoint | None = None
    radius_km: float | None = None


class GroupRepository(Protocol):
    async def get(self, chat_id: int) -> Group | None: ...

    async def save(self, group: Group) -> None: ...

    async def set_status(self, chat_id: int, status: GroupStatus) -> None: ...

    async def set_delete_tip_replies(self, chat_id: int, delete: bool) -> None: ...

    async def set_member_count(self, chat_id: int, count: int) -> None: ...

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> Group | None:
        """Move a group's identity to its new supergroup id; returns the new record."""
        ...

    async def targets(self, audience: Audience) -> list[Group]:
        """Active groups matching an audience, ordered by chat id."""
        ...

    async def list(self, *, status: GroupStatus | None = None) -> list[Group]: ...


class AreaRepository(Protocol):
    async def get(self, code: str) -> Area | None: ...

    async def save(self, area: Area) -> None: ...

    async def list(self) -> list[Area]: ...
