"""roles: one document per (user, role, scope) grant."""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from groups.roles import Role, RoleGrant, Scope
from storage.client import Database, Document

INDEXES = {
    "roles": [
        IndexModel(
            [
                ("user_id", ASCENDING),
                ("role", ASCENDING),
                ("sector", ASCENDING),
                ("area", ASCENDING),
            ],
            unique=True,
            name="grant_unique",
        ),
        IndexModel([("role", ASCENDING)], name="role"),
    ]
}


def to_grant(doc: Document) -> RoleGrant:
    return RoleGrant(
        user_id=int(doc["user_id"]),
        role=Role(doc["role"]),
        scope=Scope(doc.get("sector"), doc.get("area")),
        granted_by=doc.get("granted_by"),
        granted_at=doc.get("granted_at"),
    )


class MongoRoleRepository:
    def __init__(self, db: Database) -> None:
        self._c = db.roles

    async def grants_of(self, user_id: int) -> list[RoleGrant]:
        return [to_grant(d) async for d in self._c.find({"user_id": user_id})]

    async def add(self, grant: RoleGrant) -> bool:
        try:
            await self._c.insert_one(
                {
                    "user_id": grant.user_id,
                    "role": grant.role.value,
                    "sector": grant.scope.sector,
                    "area": grant.scope.area,
                    "granted_by": grant.granted_by,
                    "granted_at": grant.granted_at,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def remove(self, user_id: int, role: Role, scope: Scope | None) -> int:
        query: Document = {"user_id": user_id, "role": role.value}
        if scope is not None:
            query |= {"sector": scope.sector, "area": scope.area}
        result = await self._c.delete_many(query)
        return result.deleted_count

    async def holders(self, role: Role | None = None) -> list[RoleGrant]:
        query: Document = {} if role is None else {"role": role.value}
        cursor = self._c.find(query).sort([("role", ASCENDING), ("user_id", ASCENDING)])
        return [to_grant(d) async for d in cursor]
