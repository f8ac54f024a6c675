"""The officer console in a real browser: the real bot (with its console), the fake Bot API,
the real database, and headless Chromium driven by Playwright.

The browser is the system's Chromium (Debian package ``chromium``; scripts/test installs it);
Playwright's own browser download is never used. A missing browser fails the tests with the
command that installs it. Every page a test opens is watched: a request to any host but
127.0.0.1 is blocked and fails the test, and so does any error in the browser's console
(a Content-Security-Policy violation shows up there).

    async def test_start_page(console_world: ConsoleWorld, page: Page) -> None:
        boss = console_world.superadmin()
        await console_world.sign_in(page, boss)
        await expect(page.get_by_test_id("welcome")).to_contain_text("Boss")
        await screenshot(page, "start")
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, Route, async_playwright

from bot.i18n import Translator, normalize_locale
from console.pages import PAGES
from storage.embedded import free_port
from tests.e2e.harness import BotRunner, Person, World
from tests.fakebot import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("CONSOLE_TEST_CHROMIUM", "/usr/lib/chromium/chromium"))
BROWSER_PACKAGES = "chromium fonts-liberation fonts-wqy-microhei"
INSTALL_COMMAND = f"apt-get install -y --no-install-recommends {BROWSER_PACKAGES}"
LAUNCH_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--no-pings",
]
TIMEOUT_MS = 15_000
LINK_RE = re.compile(r"https?://\S+/signin/[A-Za-z0-9_-]+")
TEST_PAGES = (*PAGES, "tests.console.livepage")
EXPECTED_ERROR = "Failed to load resource: the server responded with a status of 4"


def browser_missing_message(detail: str) -> str:
    return (
        f"the console's browser tests need Chromium at {CHROMIUM} ({detail}). Install it: "
        f"sudo {INSTALL_COMMAND}   (scripts/test does this itself when run as root)"
    )


async def screenshot(page: Page, name: str) -> Path:
    """Keep the latest picture of a page under docs/screenshots/ (linked from the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def tile_png(size: int = 256) -> bytes:
    """A plain light tile (the tests' tile server; no request leaves the machine)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes((0xE4, 0xE9, 0xF0)) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


@dataclass
class TileServer:
    url: str  # the CONSOLE_TILE_URL template
    requests: list[str] = field(default_factory=list)


class ConsoleWorld(World):
    """``World`` with the console served by the bot's process on a free port."""

    @property
    def base_url(self) -> str:
        return self.app.ctx.settings.console_base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    async def link_for(self, person: Person) -> str:
        """The sign-in link the bot answers ``/console`` with."""
        await person.says("/console")
        message = await person.expect("/signin/")
        found = LINK_RE.search(message["text"])
        assert found, message["text"]
        assert found.group(0).startswith(self.base_url)
        return found.group(0)

    def translator(self, person: Person) -> Translator:
        return Translator(normalize_locale(person.user.get("language_code"), "zh-CN"))

    async def sign_in(self, page: Page, person: Person, *, link: str | None = None) -> str:
        """Send /console, open the link, press the sign-in button by its label."""
        link = link or await self.link_for(person)
        await page.goto(link)
        label = self.translator(person)("console.signin.button")
        await page.get_by_role("button", name=label).click()
        await page.wait_for_url(self.url("/"))
        return link

    async def http_session(self, person: Person) -> aiohttp.ClientSession:
        """An aiohttp client signed in as ``person`` (for requests a browser would not make)."""
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        link = await self.link_for(person)
        page = await http.get(link)
        form = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
        assert form, "no sign-in form"
        done = await http.post(link, data={"csrf_token": form.group(1)}, allow_redirects=False)
        assert done.status == 303, done.status
        return http


def chromium_installed() -> bool:
    return CHROMIUM.exists()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not chromium_installed():
        pytest.fail(browser_missing_message("not installed"), pytrace=False)
    async with async_playwright() as pw:
        try:
            launched = await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
            )
        except Exception as exc:  # a broken install: say how to fix it
            pytest.fail(browser_missing_message(f"it does not start: {exc}"), pytrace=False)
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
async def tile_server() -> AsyncIterator[TileServer]:
    png = tile_png()
    port = free_port()
    server = TileServer(f"http://127.0.0.1:{port}/tiles/{{z}}/{{x}}/{{y}}.png")

    async def tile(request: web.Request) -> web.Response:
        server.requests.append(request.path)
        return web.Response(body=png, content_type="image/png")

    app = web.Application()
    app.router.add_get("/tiles/{z}/{x}/{y}.png", tile)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield server
    await runner.cleanup()


@pytest.fixture
async def console_world(
    tg: FakeTelegram, runner: BotRunner, tile_server: TileServer
) -> ConsoleWorld:
    runner.run_options["console_pages"] = TEST_PAGES
    await runner.start(
        console_enabled=True,
        console_host="127.0.0.1",
        console_port=free_port(),
        console_tile_url=tile_server.url,
        console_tile_attribution="Test tiles",
    )
    return ConsoleWorld(tg, runner)


@dataclass
class PageWatch:
    """What a page did that a test must not let pass."""

    offsite: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def is_local(url: str) -> bool:
    if url.startswith(("data:", "blob:", "about:")):
        return True
    return urlsplit(url).hostname == "127.0.0.1"


async def open_context(browser: Browser, watch: PageWatch, **options: Any) -> Any:
    context = await browser.new_context(
        locale=options.pop("locale", "zh-CN"),
        viewport=options.pop("viewport", {"width": 1280, "height": 800}),
        **options,
    )
    context.set_default_timeout(TIMEOUT_MS)

    async def guard(route: Route) -> None:
        url = route.request.url
        if is_local(url):
            await route.continue_()
        else:
            watch.offsite.append(url)
            await route.abort("blockedbyclient")

    await context.route("**/*", guard)

    def on_console(message: Any) -> None:
        # A page answered 403/404/410 on purpose is logged as a failed load; the tests check
        # those statuses themselves. Everything else (a CSP violation...) is an error.
        if message.type == "error" and not message.text.startswith(EXPECTED_ERROR):
            watch.errors.append(message.text)

    context.on("console", on_console)
    context.on("weberror", lambda error: watch.errors.append(str(error.error)))
    return context


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context and page; fails the test on any request off the machine
    and on any error in the browser's console."""
    watch = PageWatch()
    context = await open_context(browser, watch)
    new = await context.new_page()
    new.watch = watch  # type: ignore[attr-defined]
    yield new
    await context.close()
    assert not watch.offsite, f"requests left the machine: {watch.offsite}"
    assert not watch.errors, f"errors in the browser: {watch.errors}"
