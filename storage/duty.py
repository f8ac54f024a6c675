"""MongoDB repositories for the duty feature."""

from __future__ import annotations

from pymongo import IndexModel

INDEXES: dict[str, list[IndexModel]] = {}
