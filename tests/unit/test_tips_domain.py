"""Pure tips logic: codes, coordinates, pseudonyms, flood limit, geocoder adapter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from groups.model import GeoPoint
from groups.roles import Permission, PermissionTable, Principal, Role, RoleGrant, Scope
from kernel.errors import InvalidInput
from tips.anonymity import PSEUDONYM_LETTERS, intake_key, new_id, new_pseudonym
from tips.codes import ALPHABET, CODE_RE, new_code, normalize_code
from tips.flood import FloodLimit
from tips.geo import haversine_m, parse_coordinates
from tips.geocoding import NominatimGeocoder, split_base_url
from tips.model import LocationSource, NoticeInfo, TipLocation, Visibility, best_location
from tips.service import visibility_for


def test_codes_avoid_confusable_characters() -> None:
    for bad in "0O1IL2Z5S8BUVT":
        assert bad not in ALPHABET
    codes = {new_code() for _ in range(2000)}
    assert len(codes) > 1990 and all(CODE_RE.match(c) for c in codes)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("T-7K3Q9", "T-7K3Q9"),
        ("t-7k3q9", "T-7K3Q9"),
        ("7K3Q9", "T-7K3Q9"),
        (" T 7K3Q9 ", "T-7K3Q9"),
        ("T-7K3Q0", None),  # 0 is never used
        ("T-7K3Q", None),
        ("hello", None),
    ],
)
def test_normalize_code(text: str, code: str | None) -> None:
    assert normalize_code(text) == code


@pytest.mark.parametrize(
    ("text", "lat", "lon", "source"),
    [
        ("30.2741, 120.1551", 30.2741, 120.1551, LocationSource.TYPED_DECIMAL),
        ("30.2741，120.1551", 30.2741, 120.1551, LocationSource.TYPED_DECIMAL),
        ("-33.86 151.21", -33.86, 151.21, LocationSource.TYPED_DECIMAL),
        ("30°16'27\"N 120°9'18\"E", 30.274167, 120.155, LocationSource.TYPED_DMS),
        ("北纬30°16′27″ 东经120°9′18″", 30.274167, 120.155, LocationSource.TYPED_DMS),
        ("S33°51'36\" W151°12'", -33.86, -151.2, LocationSource.TYPED_DMS),
        ("N30.5 E120.25", 30.5, 120.25, LocationSource.TYPED_DMS),
    ],
)
def test_parse_coordinates(text: str, lat: float, lon: float, source: LocationSource) -> None:
    loc = parse_coordinates(text)
    assert loc is not None and loc.source is source and loc.point is not None
    assert loc.point.lat == pytest.approx(lat, abs=1e-5)
    assert loc.point.lon == pytest.approx(lon, abs=1e-5)


@pytest.mark.parametrize("text", ["hello", "12 34", "3号楼 5单元", "call 110.5 now 12.3 ok", ""])
def test_text_that_is_not_coordinates(text: str) -> None:
    assert parse_coordinates(text) is None


@pytest.mark.parametrize("text", ["95.5, 120.1", "30.1, 200.5", "-91.0 10.0", "30°75'N 120°E"])
def test_out_of_range_coordinates_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_coordinates(text)
    assert exc.value.key == "tips.coords_out_of_range"


def test_best_location_prefers_device_pins_over_typed_and_addresses() -> None:
    typed = TipLocation(LocationSource.TYPED_DECIMAL, GeoPoint(1, 1))
    pin = TipLocation(LocationSource.TELEGRAM, GeoPoint(2, 2))
    addr = TipLocation(LocationSource.ADDRESS, address="somewhere")
    assert best_location([addr, typed, pin]) == pin
    assert best_location([addr]) == addr
    assert best_location([]) is None


def test_identifiers_are_random_and_intake_keys_need_the_key() -> None:
    ids = {new_id() for _ in range(200)}
    assert len(ids) == 200 and all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
    labels = {new_pseudonym() for _ in range(200)}
    assert all(len(x) == 4 and x[0] in PSEUDONYM_LETTERS and x[1:].isdigit() for x in labels)
    assert len(labels) > 150  # drawn, not derived from anyone
    key = b"k" * 32
    a = intake_key(key, "intake", 7, 1)
    assert a == intake_key(key, "intake", 7, 1) and len(a) == 32
    assert a != intake_key(key, "intake", 7, 2) and a != intake_key(key, "tipster", 7, 1)
    assert a != intake_key(b"o" * 32, "intake", 7, 1)  # another key: another value


def test_flood_limit_window() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    limit = FloodLimit(3, 600)
    limit.check([now - timedelta(minutes=m) for m in (1, 2)], now)
    with pytest.raises(InvalidInput) as exc:
        limit.check([now - timedelta(minutes=m) for m in (1, 2, 9)], now)
    assert exc.value.params == {"limit": 3, "window": 10, "minutes": 1}
    with pytest.raises(InvalidInput) as exc:
        limit.check([now - timedelta(minutes=m) for m in (1, 2, 3, 4)], now)
    assert exc.value.params["minutes"] == 7  # then only two tips remain in the window
    FloodLimit(0, 600).check([now] * 50, now)  # 0 switches it off


def test_visibility() -> None:
    notice = NoticeInfo("n1", "N-1", "t", "active", created_by=5, investigators=(6,))
    assert visibility_for(Principal(1, is_superadmin=True)).everything
    inv = Principal(6, (RoleGrant(6, Role.INVESTIGATOR, Scope("drivers")),))
    assert visibility_for(inv, notice).everything
    v = visibility_for(inv)
    assert not v.everything and v.scopes == (("drivers", None),)
    assert visibility_for(Principal(9)).scopes == ()


def test_reveal_visibility_follows_the_configured_roles() -> None:
    notice = NoticeInfo("n1", "N-1", "t", "active", created_by=5, investigators=(6,))
    reveal = Permission.REVEAL_TIPSTER
    inv = Principal(6, (RoleGrant(6, Role.INVESTIGATOR, Scope("drivers")),))
    assert visibility_for(inv, notice, reveal) == Visibility()  # default: superadmins only
    assert visibility_for(Principal(1, is_superadmin=True), None, reveal).everything
    table = PermissionTable.with_reveal([Role.INVESTIGATOR])
    inv = Principal(6, inv.grants, table=table)
    assert visibility_for(inv, notice, reveal).everything  # investigator on the notice
    assert visibility_for(inv, None, reveal).scopes == (("drivers", None),)
    boss = Principal(1, is_superadmin=True, table=table)
    assert visibility_for(boss, notice, reveal) == Visibility()
    assert visibility_for(boss).everything  # still sees every tip


def test_haversine() -> None:
    assert haversine_m(GeoPoint(30, 120), GeoPoint(30.01, 120)) == pytest.approx(1112, rel=0.01)


@dataclass
class FakeLocation:
    latitude: float
    longitude: float
    address: str


class FakeNominatim:
    """Implements the slice of geopy's geocoder interface the adapter uses."""

    def __init__(self, fail: bool = False) -> None:
        self.queries: list[tuple[str, dict[str, object]]] = []
        self.fail = fail

    def geocode(self, query: str, **kwargs: object) -> FakeLocation | None:
        self.queries.append((query, kwargs))
        if self.fail:
            raise TimeoutError("network closed")
        if "nowhere" in query:
            return None
        return FakeLocation(30.27, 120.15, "West Lake, Hangzhou")


async def test_nominatim_adapter_caches_and_spaces_requests() -> None:
    now = [100.0]
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    client = FakeNominatim()
    geo = NominatimGeocoder(
        client,
        min_interval_s=1.0,
        monotonic=lambda: now[0],
        sleep=fake_sleep,
        country_codes="cn",
    )
    found = await geo.geocode("West  Lake")
    assert found == (GeoPoint(30.27, 120.15), "West Lake, Hangzhou")
    assert client.queries[0] == (
        "West Lake",
        {"exactly_one": True, "timeout": 5.0, "country_codes": "cn"},
    )
    assert await geo.geocode("West Lake") == found  # cached: no second request
    assert len(client.queries) == 1 and sleeps == []
    assert await geo.geocode("nowhere at all") is None
    assert sleeps == [pytest.approx(1.0)]  # 1 request per second
    assert geo.requests == 2


async def test_nominatim_adapter_failure_is_not_fatal_nor_cached() -> None:
    client = FakeNominatim(fail=True)

    async def no_sleep(s: float) -> None:
        return None

    geo = NominatimGeocoder(client, sleep=no_sleep)
    assert await geo.geocode("West Lake") is None
    assert await geo.geocode("West Lake") is None
    assert len(client.queries) == 2


async def test_nominatim_spacing_never_waits_longer_than_the_interval() -> None:
    now = [1000.0]
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)

    geo = NominatimGeocoder(
        FakeNominatim(), min_interval_s=1.0, monotonic=lambda: now[0], sleep=fake_sleep
    )
    await geo.geocode("first")
    now[0] -= 3600  # the clock stepped back an hour
    await geo.geocode("second")
    assert sleeps == [1.0]
    now[0] += 3600 + 5  # later than the interval: no wait
    await geo.geocode("third")
    assert sleeps == [1.0] and geo.requests == 3


def test_nominatim_base_url() -> None:
    geo = NominatimGeocoder(user_agent="six-circles-test", base_url="http://127.0.0.1:8080/osm/")
    assert geo._client.api == "http://127.0.0.1:8080/osm/search"
    assert split_base_url("https://nominatim.openstreetmap.org") == (
        "https",
        "nominatim.openstreetmap.org",
    )
    for bad in ("nominatim.openstreetmap.org", "ftp://x.org", "https://", "https://x.org/?q=1"):
        with pytest.raises(ValueError):
            split_base_url(bad)


def test_exports_parse_and_never_carry_identities() -> None:
    import csv
    import io
    import json

    from tips.export import to_csv, to_geojson
    from tips.model import Part, PartKind, Tip, TipStatus

    at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    with_point = Tip(
        "id1",
        "T-7K3Q9",
        "n1",
        None,
        (Part(PartKind.TEXT, '=HYPERLINK("x")'), Part(PartKind.PHOTO, file_id="f")),
        (TipLocation(LocationSource.TELEGRAM, GeoPoint(30.5, 120.25), accuracy_m=8),),
        "drivers",
        "a1",
        "A137",
        TipStatus.NEW,
        at,
        at,
        notice_ref="N-2611-07",
    )
    without = Tip(
        "id2",
        "T-9QAAA",
        "n1",
        None,
        (Part(PartKind.TEXT, "逃往北方"),),
        (),
        None,
        None,
        "K002",
        TipStatus.VERIFIED,
        at,
        at,
        notice_ref="N-2611-07",
    )
    geo = json.loads(to_geojson([with_point, without]))
    assert geo["type"] == "FeatureCollection"
    first, second = geo["features"]
    assert first["geometry"] == {"type": "Point", "coordinates": [120.25, 30.5]}
    assert first["properties"]["photos"] == 1 and first["properties"]["pseudonym"] == "A137"
    assert second["geometry"] is None and second["properties"]["text"] == "逃往北方"
    text = to_csv([with_point, without])
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["code"] for r in rows] == ["T-7K3Q9", "T-9QAAA"]
    assert rows[0]["latitude"] == "30.5" and rows[0]["accuracy_m"] == "8"
    assert rows[0]["text"].startswith("'=")  # no formula injection
    assert rows[1]["latitude"] == "" and rows[1]["status"] == "verified"
