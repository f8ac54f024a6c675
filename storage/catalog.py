"""sectors and areas: the scopes roles and groups refer to."""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel

from groups.sectors import BUILTIN_SECTORS
from storage.client import Database

INDEXES = {
    "areas": [IndexModel([("name_lc", ASCENDING)], unique=True, name="name_lc")],
}


class MongoScopeCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def seed(self) -> None:
        """Insert the built-in sectors once; later renames and retirements are kept."""
        for s in BUILTIN_SECTORS:
            await self._db.sectors.update_one(
                {"_id": s.code},
                {
                    "$setOnInsert": {
                        "name_zh": s.name_zh,
                        "name_en": s.name_en,
                        "number": s.number,
                        "retired": False,
                    }
                },
                upsert=True,
            )

    async def sector_exists(self, code: str) -> bool:
        return await self._db.sectors.count_documents({"_id": code}, limit=1) > 0

    async def area_exists(self, code: str) -> bool:
        return await self._db.areas.count_documents({"_id": code}, limit=1) > 0
