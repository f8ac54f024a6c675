"""Pure parts of the console: settings, cookies, CSP, routes, the live queue."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from bot.config import Settings
from bot.i18n import catalogues
from console.config import ConsoleConfig, tile_origin
from console.cookies import clear_session_cookie, set_session_cookie
from console.links import signin_url
from console.live import CLOSED, RELOAD, Coalescer, LiveEvent, LiveHub, Subscription, Topic
from console.render import SIGNED_OUT_REASONS, TEMPLATES
from console.routing import NAV_SLOTS, PageRouter
from console.security import content_security_policy, redact_path
from console.viewer import allows, any_of
from groups.roles import Permission, Principal, Role, RoleGrant, Scope
from groups.signin import OFFICER_PERMISSIONS, is_officer
from storage.changes import Change, valid_token

TOKEN = "123456:" + "A" * 35


def settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, bot_token=TOKEN, **kw)  # type: ignore[call-arg]


def config(**kw: Any) -> ConsoleConfig:
    return ConsoleConfig.from_settings(settings(**kw))


def test_console_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONSOLE_ENABLED", "CONSOLE_HOST", "CONSOLE_PORT", "CONSOLE_URL"):
        monkeypatch.delenv(name, raising=False)
    s = settings()
    assert s.console_enabled and s.console_host == "127.0.0.1" and s.console_port == 8081
    assert s.console_base_url == "http://127.0.0.1:8081"
    assert s.console_session_hours == 12
    assert s.console_tile_url == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert settings(console_host="0.0.0.0").console_base_url == "http://127.0.0.1:8081"
    c = config(console_url="https://x.gov/console/")
    assert c.base_url == "https://x.gov/console" and c.base_path == "/console" and c.secure
    assert c.origin == "https://x.gov"
    assert c.link("/signin/abc") == "https://x.gov/console/signin/abc"
    assert signin_url(c.base_url, "abc") == "https://x.gov/console/signin/abc"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("console_url", "ftp://x.gov"),
        ("console_url", "https://x.gov/?a=1"),
        ("console_tile_url", "https://tiles.example/{z}/{x}.png"),
        ("console_tile_url", "tiles.example/{z}/{x}/{y}.png"),
        ("console_port", 0),
        ("console_session_hours", 0),
    ],
)
def test_bad_console_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        settings(**{field: value})


def set_cookie_header(response: web.StreamResponse) -> SimpleCookie:
    """The cookies as a browser would parse the Set-Cookie header."""
    header = response.cookies.output(header="").strip()
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(header)
    assert "HttpOnly" in header and "SameSite=Strict" in header, header
    return cookie


def test_session_cookie_is_httponly_strict_and_secure_only_on_https() -> None:
    for url, secure in (("http://127.0.0.1:8081", False), ("https://x.gov/console", True)):
        c = config(console_url=url)
        response = web.Response()
        set_session_cookie(response, c, "secret-value")
        header = response.cookies.output(header="")
        morsel = set_cookie_header(response)["sc_session"]
        assert morsel.value == "secret-value"
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "Strict"
        assert bool(morsel["secure"]) is secure, header
        assert morsel["path"] == (c.base_path or "/")
        assert morsel["max-age"] == str(12 * 3600)
        cleared = web.Response()
        clear_session_cookie(cleared, c)
        gone = set_cookie_header(cleared)["sc_session"]
        assert gone.value == "" and gone["max-age"] == "0" and gone["httponly"] is True


def test_content_security_policy_allows_only_self_and_the_tile_host() -> None:
    csp = content_security_policy(config())
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "img-src 'self' https://tile.openstreetmap.org" in csp
    assert "unsafe" not in csp and "frame-ancestors 'none'" in csp
    sub = config(console_tile_url="https://{s}.tiles.gov.cn/{z}/{x}/{y}.png")
    assert "img-src 'self' https://*.tiles.gov.cn;" in content_security_policy(sub)
    assert "img-src 'self';" in content_security_policy(config(console_tile_url=""))
    assert tile_origin("http://127.0.0.1:9000/t/{z}/{x}/{y}.png") == "http://127.0.0.1:9000"


def test_sign_in_secrets_never_reach_the_log() -> None:
    assert redact_path("/console/signin/abcDEF_-123") == "/console/signin/***"
    assert redact_path("/tips") == "/tips"


def principal(*grants: tuple[Role, Scope]) -> Principal:
    return Principal(7, tuple(RoleGrant(7, r, s) for r, s in grants))


def test_officers_are_those_with_more_than_a_members_rights() -> None:
    assert Permission.SEND_TIPS not in OFFICER_PERMISSIONS
    assert not is_officer(Principal(7))
    assert not is_officer(principal((Role.MEMBER, Scope())))
    assert is_officer(principal((Role.APPROVER, Scope())))
    assert is_officer(Principal(7, is_superadmin=True))
    operator = principal((Role.OPERATOR, Scope("drivers")))
    assert allows(operator, None) and allows(operator, Permission.VIEW_TIPS)
    assert not allows(operator, Permission.BROADCAST)
    assert allows(operator, any_of(Permission.BROADCAST, Permission.HANDLE_TIPS))


def test_routes_declare_known_nav_slots() -> None:
    router = PageRouter()
    with pytest.raises(ValueError, match="unknown nav slot"):

        @router.get("/x", nav="nowhere")
        async def x(request: web.Request, viewer: Any) -> web.StreamResponse:
            raise AssertionError

    with pytest.raises(ValueError, match="only a GET"):

        @router.route("POST", "/y", nav="tips")
        async def y(request: web.Request, viewer: Any) -> web.StreamResponse:
            raise AssertionError

    keys = catalogues()["en"].keys()
    assert all(slot.label_key in keys for slot in NAV_SLOTS)


def test_every_key_a_template_uses_exists() -> None:
    keys = catalogues()["en"].keys()
    missing = [
        f"{path.name}: {key}"
        for path in TEMPLATES.rglob("*.html")
        for key in re.findall(r"""\bt\(\s*["']([a-z_.]+)["']\s*[,)]""", path.read_text("utf-8"))
        if key not in keys
    ]
    # Keys put together in templates:
    missing += [k for w in SIGNED_OUT_REASONS if (k := f"console.signed_out.{w}") not in keys]
    assert not missing, missing


def change(i: int) -> Change:
    return Change(f"{i:04x}", "tips", "insert", f"t{i}", {}, datetime(2026, 1, 1, tzinfo=UTC))


async def test_a_subscription_is_bounded() -> None:
    hub = LiveHub.__new__(LiveHub)
    hub._subscribers = set()
    sub = Subscription(hub, frozenset({"tips"}), maxsize=4)
    for i in range(10):
        sub.push(LiveEvent("tips", change(i)))
    assert sub.pending() <= 4
    items = [await asyncio.wait_for(sub.get(), 1) for _ in range(sub.pending())]
    assert RELOAD in items and sub.dropped > 0
    sub.push(CLOSED)
    assert await asyncio.wait_for(sub.get(), 1) is CLOSED


def test_topics_only_on_watched_collections() -> None:
    class Feed:
        collections = ("tips",)

        async def open(
            self, resume_after: str | None = None, *, max_await_ms: int | None = None
        ) -> Any:
            raise AssertionError

    hub = LiveHub(Feed(), None, "x")
    hub.add_topic(Topic("tips", ("tips",)))
    with pytest.raises(ValueError, match="twice"):
        hub.add_topic(Topic("tips", ("tips",)))
    with pytest.raises(ValueError, match="LIVE_COLLECTIONS"):
        hub.add_topic(Topic("rewards", ("rewards",)))
    with pytest.raises(KeyError):
        hub.subscribe(["nope"])


def test_resume_tokens_are_checked_before_use() -> None:
    assert valid_token("82ABCDEF0123")
    assert not valid_token("") and not valid_token("not hex") and not valid_token("0" * 2000)


def test_link_lifetime_is_60_seconds() -> None:
    from groups.signin import LINK_TTL

    assert timedelta(seconds=60) == LINK_TTL


def test_the_coalescer_sends_the_first_at_once_then_the_latest_once_a_period() -> None:
    now = [100.0]
    coalescer = Coalescer(lambda: now[0])
    topic = Topic("notices", ("deliveries",), coalesce_s=1.0, key=lambda e: e.doc_id[:1])
    plain = Topic("plain", ("deliveries",))

    def event(doc: str, token: str) -> LiveEvent:
        return LiveEvent(
            "notices", Change(token, "deliveries", "update", doc, {}, datetime.now(UTC))
        )

    first = event("a1", "01")
    assert coalescer.offer(topic, first) is first  # at once
    assert coalescer.offer(topic, event("a2", "02")) is None
    latest = event("a3", "03")
    assert coalescer.offer(topic, latest) is None
    other = event("b1", "04")
    assert coalescer.offer(topic, other) is other  # another key is not held back
    assert coalescer.offer(plain, event("a4", "05")) is not None  # nor a topic that does not
    assert coalescer.next_due() == 101.0 and coalescer.due() == []
    now[0] = 101.0
    assert coalescer.due() == [latest] and coalescer.next_due() is None
    assert coalescer.offer(topic, event("a5", "06")) is None  # within the period again
    now[0] = 102.5
    assert [e.id for e in coalescer.due()] == ["06"]
    now[0] = 104.0
    assert coalescer.offer(topic, event("a6", "07")) is not None  # quiet long enough


def test_delivery_reasons_read_in_the_officers_language() -> None:
    from zoneinfo import ZoneInfo

    from bot.i18n import Translator
    from console.pages.notices import Labels

    en = Labels(Translator("en"), "en", ZoneInfo("Asia/Shanghai"))
    zh = Labels(Translator("zh-CN"), "zh-CN", ZoneInfo("Asia/Shanghai"))
    assert zh.reason("no_rights") == "机器人没有发送权限"
    assert en.reason("bad_request: message is too long") == "Telegram refused: message is too long"
    assert zh.reason("network: Bad Gateway") == "网络或 Telegram 服务器错误：Bad Gateway"
    assert en.reason("flood") == "Telegram's rate limit"
    assert en.reason("migrated too often") == "migrated too often"  # no text: as recorded
    assert en.reason(None) == ""
    assert zh.area(None) == "全行业" and zh.sector("nope") == "nope"
