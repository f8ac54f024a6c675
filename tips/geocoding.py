"""Address geocoding: pluggable and off by default.

``NominatimGeocoder`` wraps geopy's Nominatim (or any object with geopy's
``geocode(query, exactly_one=True, timeout=...)``), run in a worker thread, at most one
request per ``min_interval_s`` (Nominatim's usage policy: 1 request/s, a real user
agent), with an in-memory LRU cache. Failures return None: the bot then asks for a
location pin and keeps the address as text.

``base_url`` is the server's address (``https://nominatim.openstreetmap.org``, your own
Nominatim, or a test's fake), a path prefix allowed. The spacing follows ``monotonic``
(the bot passes its clock, so tests that move their clock never wait); a wait never
exceeds ``min_interval_s``, even when that clock steps back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from groups.model import GeoPoint

log = logging.getLogger(__name__)


class NominatimGeocoder:
    def __init__(
        self,
        client: Any = None,
        *,
        user_agent: str = "six-circles",
        base_url: str | None = None,
        timeout_s: float = 5.0,
        min_interval_s: float = 1.0,
        cache_size: int = 1000,
        country_codes: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if client is None:
            from geopy.geocoders import Nominatim

            kwargs: dict[str, Any] = {"user_agent": user_agent, "timeout": timeout_s}
            if base_url:
                scheme, domain = split_base_url(base_url)
                kwargs.update(scheme=scheme, domain=domain)
            client = Nominatim(**kwargs)
        self._client = client
        self._timeout = timeout_s
        self._interval = min_interval_s
        self._cache: OrderedDict[str, tuple[GeoPoint, str] | None] = OrderedDict()
        self._cache_size = cache_size
        self._country_codes = country_codes
        self._lock = asyncio.Lock()
        self._last = -float("inf")
        self._monotonic = monotonic
        self._sleep = sleep
        self.requests = 0

    def _lookup(self, query: str) -> tuple[GeoPoint, str] | None:
        kwargs: dict[str, Any] = {"exactly_one": True, "timeout": self._timeout}
        if self._country_codes:
            kwargs["country_codes"] = self._country_codes
        found = self._client.geocode(query, **kwargs)
        if found is None:
            return None
        lat, lon = float(found.latitude), float(found.longitude)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return None
        return GeoPoint(lat, lon), str(getattr(found, "address", "") or query)

    async def geocode(self, address: str) -> tuple[GeoPoint, str] | None:
        query = " ".join(address.split())[:300]
        if not query:
            return None
        if query in self._cache:
            self._cache.move_to_end(query)
            return self._cache[query]
        async with self._lock:  # one request at a time, spaced by min_interval_s
            if query in self._cache:
                return self._cache[query]
            wait = min(self._interval, self._last + self._interval - self._monotonic())
            if wait > 0:
                await self._sleep(wait)
            self._last = self._monotonic()
            self.requests += 1
            try:
                result = await asyncio.to_thread(self._lookup, query)
            except Exception as exc:  # network, quota, parse: never fatal, never cached
                log.warning("geocoding failed: %s: %s", type(exc).__name__, exc)
                return None
            self._cache[query] = result
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return result


def split_base_url(base_url: str) -> tuple[str, str]:
    """``https://geo.example.org/nominatim/`` -> ``("https", "geo.example.org/nominatim")``
    (geopy's ``scheme`` and ``domain``); ValueError unless an http(s) URL with a host."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            "must be an http:// or https:// URL, e.g. https://nominatim.openstreetmap.org"
        )
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    return parts.scheme, (parts.netloc + parts.path).rstrip("/")
