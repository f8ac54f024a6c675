"""A fake Nominatim (OpenStreetMap geocoder) HTTP server on 127.0.0.1:<random port>.

It answers ``GET <prefix>/search?q=...&format=json`` the way Nominatim does (a JSON list
of places with ``lat``, ``lon`` and ``display_name`` as strings), from places the test
registers, and records every request so tests can tell a cache hit from a lookup::

    async with FakeNominatim(prefix="/nominatim") as geo:
        geo.add("城关镇人民路 100 号", 30.2741, 120.1551, "人民路 100 号, 城关镇")
        geo.fail_with = 500  # every lookup fails with that HTTP status from now on
        assert [r.query for r in geo.requests] == [...]
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Lookup:
    query: str
    params: dict[str, str]
    user_agent: str
    status: int


class FakeNominatim:
    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix.rstrip("/")
        self.places: dict[str, tuple[float, float, str]] = {}
        self.requests: list[Lookup] = []
        self.fail_with: int | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    def add(self, query: str, lat: float, lon: float, display_name: str) -> None:
        self.places[" ".join(query.split())] = (lat, lon, display_name)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}{self.prefix}"

    def queries(self) -> list[str]:
        return [r.query for r in self.requests]

    async def _search(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        query = " ".join(params.get("q", "").split())
        status = self.fail_with or 200
        self.requests.append(Lookup(query, params, request.headers.get("User-Agent", ""), status))
        if status != 200:
            return web.Response(status=status, text="fake nominatim failure")
        place = self.places.get(query)
        if place is None:
            return web.json_response([])
        lat, lon, name = place
        return web.json_response(
            [
                {
                    "place_id": len(self.requests),
                    "lat": f"{lat:.7f}",
                    "lon": f"{lon:.7f}",
                    "display_name": name,
                    "class": "place",
                    "type": "house",
                }
            ]
        )

    async def start(self) -> FakeNominatim:
        app = web.Application()
        app.router.add_get(f"{self.prefix}/search", self._search)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeNominatim:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
