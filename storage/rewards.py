"""MongoDB repositories for the rewards feature."""

from __future__ import annotations

from pymongo import IndexModel

INDEXES: dict[str, list[IndexModel]] = {}
