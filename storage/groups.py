"""groups (one document per bound Telegram group, _id = current chat id) and areas."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from groups.model import Area, Audience, GeoPoint, Group, GroupStatus
from groups.sectors import Sector
from storage.client import Database, Document

INDEXES = {
    "groups": [
        IndexModel([("status", ASCENDING), ("sector", ASCENDING), ("area", ASCENDING)]),
        IndexModel([("migrated_to", ASCENDING)], sparse=True),
    ],
    "areas": [IndexModel([("center", "2dsphere")], name="center_2dsphere")],
}

EARTH_RADIUS_KM = 6378.1


def point_doc(p: GeoPoint) -> Document:
    return {"type": "Point", "coordinates": [p.lon, p.lat]}


def point_from(doc: Any) -> GeoPoint | None:
    if not doc:
        return None
    lon, lat = doc["coordinates"]
    return GeoPoint(float(lat), float(lon))


def group_to_doc(g: Group) -> Document:
    return {
        "_id": g.chat_id,
        "title": g.title,
        "sector": g.sector,
        "area": g.area,
        "status": g.status.value,
        "member_count": g.member_count,
        "bound_by": g.bound_by,
        "bound_at": g.bound_at,
        "migrated_to": g.migrated_to,
        "delete_tip_replies": g.delete_tip_replies,
    }


def group_from(doc: Document) -> Group:
    return Group(
        chat_id=int(doc["_id"]),
        title=doc.get("title", ""),
        sector=doc["sector"],
        area=doc.get("area"),
        status=GroupStatus(doc.get("status", "active")),
        member_count=int(doc.get("member_count", 0)),
        bound_by=doc.get("bound_by"),
        bound_at=doc.get("bound_at"),
        migrated_to=doc.get("migrated_to"),
        delete_tip_replies=bool(doc.get("delete_tip_replies", True)),
    )


def area_to_doc(a: Area) -> Document:
    return {
        "_id": a.code,
        "name": a.name,
        "name_lc": a.name.lower(),
        "parent": a.parent,
        "center": point_doc(a.center) if a.center else None,
        "radius_km": a.radius_km,
    }


def area_from(doc: Document) -> Area:
    return Area(
        code=doc["_id"],
        name=doc["name"],
        parent=doc.get("parent"),
        center=point_from(doc.get("center")),
        radius_km=doc.get("radius_km"),
    )


class MongoGroupRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._c = db.groups

    async def get(self, chat_id: int) -> Group | None:
        doc = await self._c.find_one({"_id": chat_id})
        return group_from(doc) if doc else None

    async def many(self, chat_ids: Sequence[int]) -> dict[int, Group]:
        if not chat_ids:
            return {}
        cursor = self._c.find({"_id": {"$in": list(dict.fromkeys(chat_ids))}})
        return {int(d["_id"]): group_from(d) async for d in cursor}

    async def save(self, group: Group) -> None:
        doc = group_to_doc(group)
        await self._c.replace_one({"_id": group.chat_id}, doc, upsert=True)

    async def set_status(self, chat_id: int, status: GroupStatus) -> None:
        await self._c.update_one({"_id": chat_id}, {"$set": {"status": status.value}})

    async def set_member_count(self, chat_id: int, count: int) -> None:
        await self._c.update_one({"_id": chat_id}, {"$set": {"member_count": count}})

    async def set_delete_tip_replies(self, chat_id: int, delete: bool) -> None:
        await self._c.update_one({"_id": chat_id}, {"$set": {"delete_tip_replies": delete}})

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> Group | None:
        old = await self._c.find_one({"_id": old_chat_id})
        if old is None:
            return await self.get(new_chat_id)
        new_doc = dict(old) | {"_id": new_chat_id, "status": GroupStatus.ACTIVE.value}
        new_doc["previous_ids"] = [*old.get("previous_ids", []), old_chat_id]
        await self._c.replace_one({"_id": new_chat_id}, new_doc, upsert=True)
        await self._c.update_one(
            {"_id": old_chat_id},
            {"$set": {"status": GroupStatus.MIGRATED.value, "migrated_to": new_chat_id}},
        )
        return group_from(new_doc)

    async def _areas_within(self, center: GeoPoint, radius_km: float) -> list[str]:
        cursor = self._db.areas.find(
            {
                "center": {
                    "$geoWithin": {
                        "$centerSphere": [[center.lon, center.lat], radius_km / EARTH_RADIUS_KM]
                    }
                }
            },
            {"_id": 1},
        )
        return [d["_id"] async for d in cursor]

    async def targets(self, audience: Audience) -> list[Group]:
        query: Document = {"status": GroupStatus.ACTIVE.value}
        if audience.sectors:
            query["sector"] = {"$in": list(audience.sectors)}
        area_filter: set[str] | None = set(audience.areas) if audience.areas else None
        if audience.center is not None:
            radius = audience.radius_km if audience.radius_km is not None else 0.0
            if not math.isfinite(radius) or radius <= 0:
                return []
            near = set(await self._areas_within(audience.center, radius))
            area_filter = near if area_filter is None else area_filter & near
        if area_filter is not None:
            query["area"] = {"$in": sorted(area_filter)}
        # Batches of 500: 10,000 groups are not decoded into 10,000 dicts at once.
        cursor = self._c.find(query).sort("_id", ASCENDING).batch_size(500)
        return [group_from(d) async for d in cursor]

    async def list(self, *, status: GroupStatus | None = None) -> list[Group]:
        query: Document = {} if status is None else {"status": status.value}
        cursor = self._c.find(query).sort([("sector", ASCENDING), ("area", ASCENDING)])
        return [group_from(d) async for d in cursor]


class MongoAreaRepository:
    def __init__(self, db: Database) -> None:
        self._c = db.areas

    async def get(self, code: str) -> Area | None:
        doc = await self._c.find_one({"_id": code})
        return area_from(doc) if doc else None

    async def save(self, area: Area) -> None:
        doc = area_to_doc(area)
        if doc["center"] is None:
            doc.pop("center")  # a null would break the sparse 2dsphere index
        await self._c.replace_one({"_id": area.code}, doc, upsert=True)

    async def add(self, area: Area) -> bool:
        doc = area_to_doc(area)
        if doc["center"] is None:
            doc.pop("center")
        try:
            await self._c.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def by_name(self, name: str) -> Area | None:
        doc = await self._c.find_one({"name_lc": " ".join(name.split()).lower()})
        return area_from(doc) if doc else None

    async def list(self) -> list[Area]:
        return [area_from(d) async for d in self._c.find().sort("_id", ASCENDING)]


def sector_from(doc: Document) -> Sector:
    return Sector(
        code=doc["_id"],
        name_zh=doc["name_zh"],
        name_en=doc["name_en"],
        number=doc.get("number"),
        retired=bool(doc.get("retired", False)),
    )


class MongoSectorRepository:
    """sectors (seeded with the six circles by ``storage.catalog``)."""

    def __init__(self, db: Database) -> None:
        self._c = db.sectors

    async def list(self, *, include_retired: bool = False) -> list[Sector]:
        query: Document = {} if include_retired else {"retired": {"$ne": True}}
        docs = [sector_from(d) async for d in self._c.find(query)]
        return sorted(docs, key=lambda s: (s.number is None, s.number or 0, s.code))

    async def get(self, code: str) -> Sector | None:
        doc = await self._c.find_one({"_id": code})
        return sector_from(doc) if doc else None

    async def add(self, sector: Sector) -> bool:
        try:
            await self._c.insert_one(
                {
                    "_id": sector.code,
                    "name_zh": sector.name_zh,
                    "name_en": sector.name_en,
                    "number": sector.number,
                    "retired": sector.retired,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def save(self, sector: Sector) -> None:
        await self._c.update_one(
            {"_id": sector.code},
            {
                "$set": {
                    "name_zh": sector.name_zh,
                    "name_en": sector.name_en,
                    "retired": sector.retired,
                }
            },
        )
