"""Coordinates typed by people: decimal or degrees-minutes-seconds, parsed with geopy.

``parse_coordinates`` returns None for text that is not coordinates (so it is kept as
text), a ``TipLocation`` for valid ones, and raises ``InvalidInput`` for coordinates that
are out of range (a latitude of 95, a longitude of 200): those are refused, not wrapped.
"""

from __future__ import annotations

import math
import re

from geopy.point import POINT_PATTERN, Point

from groups.model import GeoPoint
from kernel.errors import InvalidInput
from tips.model import LocationSource, TipLocation

_CN_DIRECTIONS = (("北纬", "N"), ("南纬", "S"), ("东经", "E"), ("西经", "W"))
_CN_PUNCT = str.maketrans({"，": ",", "；": ";", "：": ":", "　": " ", "º": "°", "˚": "°"})
_DMS_MARK = re.compile(r"[°′″'\"NSEW]")
_DECIMAL = re.compile(r"[+-]?\d+\.\d+")
MAX_LENGTH = 80


def _normalize(text: str) -> str:
    s = text.strip().translate(_CN_PUNCT)
    for word, letter in _CN_DIRECTIONS:
        s = s.replace(word, f" {letter}")
    s = re.sub(r"^(?:lat(?:itude)?|坐标|位置|gps)\s*[:=]?\s*", "", s, flags=re.IGNORECASE)
    s = re.sub(r"\s*,\s*", ", ", s)
    return s.strip()


def _component(
    degrees: str | None,
    minutes: str | None,
    seconds: str | None,
    front: str | None,
    back: str | None,
) -> float:
    if degrees is None:
        raise ValueError("no degrees")
    deg = float(degrees)
    if minutes is not None and not 0 <= float(minutes) < 60:
        raise ValueError("minutes out of range")
    if seconds is not None and not 0 <= float(seconds) < 60:
        raise ValueError("seconds out of range")
    direction = front or back
    value: float = Point.parse_degrees(
        abs(deg), float(minutes or 0), float(seconds or 0), direction=direction
    )
    if deg < 0 and direction is None:
        value = -value
    return value


def parse_coordinates(text: str) -> TipLocation | None:
    if not text or len(text) > MAX_LENGTH:
        return None
    s = _normalize(text)
    m = POINT_PATTERN.match(s)
    if m is None or s[: m.start("latitude")].strip() or m.group("altitude"):
        return None
    g = m.groupdict()
    is_dms = bool(_DMS_MARK.search(s.upper()))
    if not is_dms and len(_DECIMAL.findall(s)) < 2:
        return None  # "12 34" is more likely a house number than coordinates
    try:
        lat = _component(
            g["latitude_degrees"],
            g["latitude_arcminutes"],
            g["latitude_arcseconds"],
            g["latitude_direction_front"],
            g["latitude_direction_back"],
        )
        lon = _component(
            g["longitude_degrees"],
            g["longitude_arcminutes"],
            g["longitude_arcseconds"],
            g["longitude_direction_front"],
            g["longitude_direction_back"],
        )
    except ValueError:
        raise InvalidInput("tips.coords_out_of_range", lat="?", lon="?") from None
    point = checked_point(lat, lon)
    source = LocationSource.TYPED_DMS if is_dms else LocationSource.TYPED_DECIMAL
    return TipLocation(source=source, point=point)


def checked_point(lat: float, lon: float) -> GeoPoint:
    """A GeoPoint, or InvalidInput naming the bad coordinates (never wrapped or clamped)."""
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        raise InvalidInput("tips.coords_out_of_range", lat=f"{lat:g}", lon=f"{lon:g}")
    return GeoPoint(lat, lon)


def haversine_m(a: GeoPoint, b: GeoPoint) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))
