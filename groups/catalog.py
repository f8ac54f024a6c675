"""Sectors and areas: the catalogue every scope, group and member refers to.

Sectors are named by code (``drivers``) or by either of their names; areas by code or
name. Superadmins add, rename and retire sectors (a retired sector keeps its groups,
members and history, but nothing new can be bound to it) and add and edit areas.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Protocol

from groups.model import Area, GeoPoint
from groups.sectors import Sector
from kernel.audit import AuditEntry, AuditLog
from kernel.clock import Clock
from kernel.errors import InvalidInput, NotFound

CODE_RE = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
COORD_RE = re.compile(r"^(-?\d{1,3}(?:\.\d+)?)\s*[,，]\s*(-?\d{1,3}(?:\.\d+)?)$")
MAX_NAME = 40
MAX_RADIUS_KM = 500.0


class SectorRepository(Protocol):
    async def list(self, *, include_retired: bool = False) -> list[Sector]: ...

    async def get(self, code: str) -> Sector | None: ...

    async def add(self, sector: Sector) -> bool:
        """Insert a new sector; False when the code is taken."""
        ...

    async def save(self, sector: Sector) -> None: ...


class AreaStore(Protocol):
    async def get(self, code: str) -> Area | None: ...

    async def by_name(self, name: str) -> Area | None: ...

    async def add(self, area: Area) -> bool:
        """Insert a new area; False when the code or the name is taken."""
        ...

    async def save(self, area: Area) -> None: ...

    async def list(self) -> list[Area]: ...


def clean_name(text: str, key: str = "catalog.bad_name") -> str:
    name = " ".join(text.split())
    if not (1 <= len(name) <= MAX_NAME) or any(c in name for c in "<>/\\@"):
        raise InvalidInput(key, max=MAX_NAME)
    return name


def parse_point(text: str) -> GeoPoint:
    m = COORD_RE.match(text.strip())
    if not m:
        raise InvalidInput("catalog.bad_point")
    lat, lon = float(m.group(1)), float(m.group(2))
    try:
        return GeoPoint(lat, lon)
    except ValueError as exc:
        raise InvalidInput("catalog.bad_point") from exc


def parse_radius(text: str) -> float:
    raw = text.strip().lower().removesuffix("km").removesuffix("公里")
    try:
        radius = float(raw)
    except ValueError as exc:
        raise InvalidInput("catalog.bad_radius", max=int(MAX_RADIUS_KM)) from exc
    if not math.isfinite(radius) or not (0 < radius <= MAX_RADIUS_KM):
        raise InvalidInput("catalog.bad_radius", max=int(MAX_RADIUS_KM))
    return radius


def slug(name: str) -> str | None:
    """An ASCII code derived from a name, when the name allows one."""
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    s = re.sub(r"^[^a-z]+", "", s)[:32].strip("-")
    return s if CODE_RE.match(s) else None


@dataclass(frozen=True, slots=True)
class AreaSpec:
    """What /area_add and /area_edit parsed from their arguments."""

    name: str | None = None
    parent: str | None = None  # area code or name; "" clears it
    center: GeoPoint | None = None
    radius_km: float | None = None
    clear_center: bool = False


def parse_area_args(tokens: list[str]) -> AreaSpec:
    """``<name> [lat,lon radius_km] [parent=<area>]``; edits also take ``name=`` and ``center=none``."""
    name_parts: list[str] = []
    parent: str | None = None
    center: GeoPoint | None = None
    radius: float | None = None
    clear_center = False
    new_name: str | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        key, sep, value = tok.partition("=")
        key = key.lower()
        if sep and key in ("parent", "上级"):
            parent = value.strip()
        elif sep and key in ("name", "名称"):
            new_name = value
        elif sep and key in ("center", "中心") and value.lower() in ("none", "无", "-"):
            clear_center = True
        elif sep and key in ("center", "中心"):
            center = parse_point(value)
        elif sep and key in ("radius", "半径"):
            radius = parse_radius(value)
        elif COORD_RE.match(tok):
            center = parse_point(tok)
            if i + 1 < len(tokens) and "=" not in tokens[i + 1]:
                radius = parse_radius(tokens[i + 1])
                i += 1
        else:
            name_parts.append(tok)
        i += 1
    name = new_name if new_name is not None else (" ".join(name_parts) or None)
    if center is not None and radius is None:
        raise InvalidInput("catalog.radius_needed")
    return AreaSpec(
        clean_name(name) if name is not None else None, parent, center, radius, clear_center
    )


class Catalog:
    def __init__(
        self, sectors: SectorRepository, areas: AreaStore, audit: AuditLog, clock: Clock
    ) -> None:
        self._sectors = sectors
        self._areas = areas
        self._audit = audit
        self._clock = clock

    # ------------------------------------------------------------------ lookups
    async def sectors(self, *, include_retired: bool = False) -> list[Sector]:
        return await self._sectors.list(include_retired=include_retired)

    async def sector(self, token: str, *, allow_retired: bool = False) -> Sector:
        """A sector by code, number (1-6) or name in either language."""
        wanted = token.strip()
        found = await self._sectors.get(wanted.lower())
        if found is None:
            for s in await self._sectors.list(include_retired=True):
                names = (s.name_zh, s.name_en.lower(), str(s.number or ""))
                if wanted in names or wanted.lower() in names:
                    found = s
                    break
        if found is None:
            raise NotFound("catalog.unknown_sector", sector=wanted[:32])
        if found.retired and not allow_retired:
            raise InvalidInput("catalog.sector_retired", sector=found.code)
        return found

    async def sector_or_none(self, code: str) -> Sector | None:
        return await self._sectors.get(code)

    async def area(self, token: str) -> Area:
        wanted = token.strip()
        found = await self._areas.get(wanted.lower()) or await self._areas.by_name(wanted)
        if found is None:
            raise NotFound("catalog.unknown_area", area=wanted[:40])
        return found

    async def area_or_none(self, code: str | None) -> Area | None:
        return await self._areas.get(code) if code else None

    async def areas(self) -> list[Area]:
        return await self._areas.list()

    # ------------------------------------------------------------------ sectors
    async def add_sector(self, actor_id: int, code: str, name_zh: str, name_en: str) -> Sector:
        code = code.strip().lower()
        if not CODE_RE.match(code):
            raise InvalidInput("catalog.bad_code")
        sector = Sector(code, clean_name(name_zh), clean_name(name_en))
        if not await self._sectors.add(sector):
            raise InvalidInput("catalog.sector_exists", sector=code)
        await self._record(actor_id, "sector.add", "sector", code, {"zh": name_zh, "en": name_en})
        return sector

    async def rename_sector(self, actor_id: int, token: str, name_zh: str, name_en: str) -> Sector:
        old = await self.sector(token, allow_retired=True)
        new = replace(old, name_zh=clean_name(name_zh), name_en=clean_name(name_en))
        await self._sectors.save(new)
        await self._record(
            actor_id,
            "sector.rename",
            "sector",
            old.code,
            {"from": [old.name_zh, old.name_en], "to": [new.name_zh, new.name_en]},
        )
        return new

    async def retire_sector(self, actor_id: int, token: str, *, retired: bool = True) -> Sector:
        old = await self.sector(token, allow_retired=True)
        if old.retired == retired:
            key = "catalog.already_retired" if retired else "catalog.not_retired"
            raise InvalidInput(key, sector=old.code)
        new = replace(old, retired=retired)
        await self._sectors.save(new)
        action = "sector.retire" if retired else "sector.restore"
        await self._record(actor_id, action, "sector", old.code, {})
        return new

    # ------------------------------------------------------------------ areas
    async def _resolve_parent(self, token: str | None, own_code: str | None) -> str | None:
        if not token:
            return None
        parent = await self.area(token)
        if own_code is not None:
            # No cycles: the new parent may not be the area itself or one of its descendants.
            seen: set[str] = set()
            cursor: Area | None = parent
            while cursor is not None and cursor.code not in seen:
                if cursor.code == own_code:
                    raise InvalidInput("catalog.parent_cycle")
                seen.add(cursor.code)
                cursor = await self._areas.get(cursor.parent) if cursor.parent else None
        return parent.code

    async def _new_code(self, name: str) -> str:
        base = slug(name)
        if base and await self._areas.get(base) is None:
            return base
        n = len(await self._areas.list()) + 1
        while await self._areas.get(f"a{n}") is not None:
            n += 1
        return f"a{n}"

    async def add_area(self, actor_id: int, spec: AreaSpec) -> Area:
        if spec.name is None:
            raise InvalidInput("catalog.area_add_usage")
        if await self._areas.by_name(spec.name) is not None:
            raise InvalidInput("catalog.area_exists", area=spec.name)
        parent = await self._resolve_parent(spec.parent, None)
        area = Area(await self._new_code(spec.name), spec.name, parent, spec.center, spec.radius_km)
        if not await self._areas.add(area):
            raise InvalidInput("catalog.area_exists", area=spec.name)
        await self._record(actor_id, "area.add", "area", area.code, _area_details(area))
        return area

    async def edit_area(self, actor_id: int, token: str, spec: AreaSpec) -> Area:
        old = await self.area(token)
        new = old
        if spec.name is not None and spec.name != old.name:
            other = await self._areas.by_name(spec.name)
            if other is not None and other.code != old.code:
                raise InvalidInput("catalog.area_exists", area=spec.name)
            new = replace(new, name=spec.name)
        if spec.parent is not None:
            new = replace(new, parent=await self._resolve_parent(spec.parent, old.code))
        if spec.clear_center:
            new = replace(new, center=None, radius_km=None)
        elif spec.center is not None:
            new = replace(new, center=spec.center, radius_km=spec.radius_km)
        elif spec.radius_km is not None:
            if old.center is None:
                raise InvalidInput("catalog.center_needed")
            new = replace(new, radius_km=spec.radius_km)
        if new == old:
            raise InvalidInput("catalog.area_edit_usage")
        await self._areas.save(new)
        await self._record(
            actor_id,
            "area.edit",
            "area",
            old.code,
            {"from": _area_details(old), "to": _area_details(new)},
        )
        return new

    async def _record(
        self, actor_id: int, action: str, kind: str, oid: str, details: dict[str, object]
    ) -> None:
        await self._audit.record(
            AuditEntry(actor_id, action, kind, oid, self._clock.now(), dict(details))
        )


def _area_details(a: Area) -> dict[str, object]:
    return {
        "name": a.name,
        "parent": a.parent,
        "center": [a.center.lat, a.center.lon] if a.center else None,
        "radius_km": a.radius_km,
    }
