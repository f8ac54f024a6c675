"""Exports of a notice's tips: GeoJSON (for any map tool) and CSV. Never identities."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tips.model import Tip

CSV_FIELDS = (
    "code",
    "created_at",
    "status",
    "category",
    "notice_ref",
    "pseudonym",
    "latitude",
    "longitude",
    "location_source",
    "accuracy_m",
    "address",
    "sector",
    "area",
    "text",
    "photos",
    "videos",
    "voice",
    "documents",
)


def _counts(tip: Tip) -> dict[str, int]:
    kinds = [p.kind.value for p in tip.media]
    return {
        "photos": kinds.count("photo"),
        "videos": kinds.count("video") + kinds.count("video_note") + kinds.count("animation"),
        "voice": kinds.count("voice") + kinds.count("audio"),
        "documents": kinds.count("document"),
    }


def _row(tip: Tip) -> dict[str, Any]:
    loc = tip.location
    point = loc.point if loc else None
    return {
        "code": tip.code,
        "created_at": tip.created_at.isoformat(),
        "status": tip.status.value,
        "category": tip.category.value if tip.category else "",
        "notice_ref": tip.notice_ref or "",
        "pseudonym": tip.pseudonym,
        "latitude": point.lat if point else "",
        "longitude": point.lon if point else "",
        "location_source": loc.source.value if loc else "",
        "accuracy_m": loc.accuracy_m if loc and loc.accuracy_m is not None else "",
        "address": (loc.address or loc.title or "") if loc else "",
        "sector": tip.sector or "",
        "area": tip.area or "",
        "text": tip.text,
        **_counts(tip),
    }


def to_geojson(tips: list[Tip]) -> str:
    """A FeatureCollection; tips without coordinates have a null geometry (valid GeoJSON)."""
    features = []
    for tip in tips:
        point = tip.point
        props = _row(tip)
        props.pop("latitude")
        props.pop("longitude")
        features.append(
            {
                "type": "Feature",
                "id": tip.code,
                "geometry": (
                    {"type": "Point", "coordinates": [point.lon, point.lat]} if point else None
                ),
                "properties": props,
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def _safe_cell(value: Any) -> Any:
    """Stop spreadsheets from running text as formulas (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(tips: list[Tip]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for tip in tips:
        writer.writerow({k: _safe_cell(v) for k, v in _row(tip).items()})
    return "\ufeff" + buf.getvalue()  # BOM: Excel opens UTF-8 Chinese correctly
