"""members (one profile per admitted person, ``_id`` = Telegram user id) and member grants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument

from groups.members import (
    Member,
    MemberFilter,
    Membership,
    MemberStatus,
    ScopedBan,
    overall_status,
)
from groups.roles import Role, RoleGrant
from kernel.audit import AuditEntry
from storage.audit import MongoAuditLog
from storage.client import Database, Document, upsert_after
from storage.roles import MongoRoleRepository

INDEXES = {
    "members": [
        IndexModel([("groups.chat_id", ASCENDING)], name="groups_chat"),
        IndexModel([("status", ASCENDING), ("sector", ASCENDING)], name="status_sector"),
        IndexModel([("username_lc", ASCENDING)], name="username_lc", sparse=True),
    ]
}


def membership_doc(m: Membership) -> Document:
    return {
        "chat_id": m.chat_id,
        "sector": m.sector,
        "area": m.area,
        "status": m.status.value,
        "joined_at": m.joined_at,
        "left_at": m.left_at,
    }


def membership_from(doc: Document) -> Membership:
    return Membership(
        chat_id=int(doc["chat_id"]),
        sector=doc["sector"],
        area=doc.get("area"),
        status=MemberStatus(doc.get("status", "active")),
        joined_at=doc.get("joined_at"),
        left_at=doc.get("left_at"),
    )


def ban_doc(b: ScopedBan) -> Document:
    return {"sector": b.sector, "area": b.area, "by": b.by, "at": b.at, "reason": b.reason}


def ban_from(doc: Document) -> ScopedBan:
    return ScopedBan(
        doc.get("sector"), doc.get("area"), doc.get("by"), doc.get("at"), doc.get("reason", "")
    )


def member_from(doc: Document) -> Member:
    return Member(
        user_id=int(doc["_id"]),
        name=doc.get("name", ""),
        phone=doc.get("phone", ""),
        workplace=doc.get("workplace", ""),
        address=doc.get("address", ""),
        fields=dict(doc.get("fields") or {}),
        sector=doc.get("sector", ""),
        area=doc.get("area"),
        status=MemberStatus(doc.get("status", "active")),
        groups=tuple(membership_from(g) for g in doc.get("groups", [])),
        admitted_by=doc.get("admitted_by"),
        admitted_at=doc.get("admitted_at"),
        username=doc.get("username"),
        status_reason=doc.get("status_reason"),
        status_by=doc.get("status_by"),
        status_at=doc.get("status_at"),
        bans=tuple(ban_from(b) for b in doc.get("bans") or ()),
    )


def _scope_clause(sector: str | None, area: str | None) -> Document:
    match: Document = {}
    if sector is not None:
        match["sector"] = sector
    if area is not None:
        match["area"] = area
    return {"groups": {"$elemMatch": match}} if match else {}


class MongoMemberRepository:
    def __init__(self, db: Database) -> None:
        self._c = db.members

    async def get(self, user_id: int) -> Member | None:
        doc = await self._c.find_one({"_id": user_id})
        return member_from(doc) if doc else None

    async def by_username(self, username: str) -> Member | None:
        doc = await self._c.find_one({"username_lc": username.lstrip("@").lower()})
        return member_from(doc) if doc else None

    async def admit(self, member: Member, membership: Membership) -> Member:
        existing = await self._c.find_one({"_id": member.user_id})
        groups = [
            g for g in (existing or {}).get("groups", []) if g["chat_id"] != membership.chat_id
        ]
        groups.append(membership_doc(membership))
        profile: Document = {
            "name": member.name,
            "phone": member.phone,
            "workplace": member.workplace,
            "address": member.address,
            "username": member.username,
            "username_lc": member.username.lower() if member.username else None,
            "groups": groups,
            "status": MemberStatus.ACTIVE.value,
            "status_reason": None,
            "updated_at": membership.joined_at,
        }
        for key, value in member.fields.items():
            profile[f"fields.{key}"] = value
        doc = await upsert_after(
            self._c,
            {"_id": member.user_id},
            {
                "$set": profile,
                "$setOnInsert": {
                    "sector": member.sector,
                    "area": member.area,
                    "admitted_by": member.admitted_by,
                    "admitted_at": member.admitted_at,
                },
            },
        )
        return member_from(doc)

    async def set_membership(
        self, user_id: int, chat_id: int, status: MemberStatus, at: datetime
    ) -> Member | None:
        doc = await self._c.find_one({"_id": user_id, "groups.chat_id": chat_id})
        if doc is None:
            return None
        member = member_from(doc)
        groups = [
            Membership(
                g.chat_id,
                g.sector,
                g.area,
                status,
                g.joined_at if status is not MemberStatus.ACTIVE else (g.joined_at or at),
                at if status is not MemberStatus.ACTIVE else None,
            )
            if g.chat_id == chat_id
            else g
            for g in member.groups
        ]
        new_status = overall_status(member.status, groups)
        if status is MemberStatus.ACTIVE and member.status in (
            MemberStatus.REMOVED,
            MemberStatus.BANNED,
        ):
            new_status = member.status  # a human admin re-adding someone does not lift a ban
        updated = await self._c.find_one_and_update(
            {"_id": user_id},
            {
                "$set": {
                    "groups": [membership_doc(g) for g in groups],
                    "status": new_status.value,
                    "updated_at": at,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return member_from(updated) if updated else None

    async def set_status(
        self,
        user_id: int,
        status: MemberStatus,
        *,
        group_status: MemberStatus | None,
        by: int | None,
        reason: str | None,
        at: datetime,
    ) -> Member | None:
        update: dict[str, Any] = {
            "status": status.value,
            "status_reason": reason,
            "status_by": by,
            "status_at": at,
            "updated_at": at,
        }
        if group_status is not None:
            doc = await self._c.find_one({"_id": user_id})
            if doc is None:
                return None
            groups = doc.get("groups", [])
            for g in groups:
                if g.get("status") == MemberStatus.ACTIVE.value:
                    g["status"] = group_status.value
                    g["left_at"] = at
            update["groups"] = groups
        doc = await self._c.find_one_and_update(
            {"_id": user_id}, {"$set": update}, return_document=ReturnDocument.AFTER
        )
        return member_from(doc) if doc else None

    async def set_bans(
        self, user_id: int, bans: Sequence[ScopedBan], at: datetime
    ) -> Member | None:
        doc = await self._c.find_one_and_update(
            {"_id": user_id},
            {"$set": {"bans": [ban_doc(b) for b in bans], "updated_at": at}},
            return_document=ReturnDocument.AFTER,
        )
        return member_from(doc) if doc else None

    async def find(self, flt: MemberFilter) -> list[Member]:
        clauses: list[Document] = []
        if flt.scopes:
            ors = [_scope_clause(s.sector, s.area) for s in flt.scopes]
            if not any(not o for o in ors):  # an unrestricted scope matches everyone
                clauses.append({"$or": ors})
        narrow = _scope_clause(flt.sector, flt.area)
        if narrow:
            clauses.append(narrow)
        query: Document = {"$and": clauses} if clauses else {}
        cursor = self._c.find(query).sort([("sector", ASCENDING), ("_id", ASCENDING)])
        return [member_from(d) async for d in cursor]

    async def active_counts(self) -> dict[int, int]:
        pipeline: list[Document] = [
            {"$unwind": "$groups"},
            {"$match": {"groups.status": MemberStatus.ACTIVE.value}},
            {"$group": {"_id": "$groups.chat_id", "n": {"$sum": 1}}},
        ]
        cursor = await self._c.aggregate(pipeline)
        return {int(d["_id"]): int(d["n"]) async for d in cursor}

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        await self._c.update_many(
            {"groups.chat_id": old_chat_id},
            {"$set": {"groups.$[g].chat_id": new_chat_id}},
            array_filters=[{"g.chat_id": old_chat_id}],
        )


class MongoMemberGrants:
    """Admission grants the ``member`` role; removal and bans revoke it. Both audited."""

    def __init__(self, db: Database) -> None:
        self._roles = MongoRoleRepository(db)
        self._audit = MongoAuditLog(db)

    async def grant_member(self, user_id: int, by: int | None, at: datetime) -> None:
        if await self._roles.add(RoleGrant(user_id, Role.MEMBER, granted_by=by, granted_at=at)):
            await self._audit.record(
                AuditEntry(
                    by,
                    "role.grant",
                    "user",
                    str(user_id),
                    at,
                    {"role": Role.MEMBER.value, "sector": None, "area": None, "system": True},
                )
            )

    async def revoke_member(self, user_id: int) -> None:
        await self._roles.remove(user_id, Role.MEMBER, None)
