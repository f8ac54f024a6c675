"""Live updates: MongoDB change stream -> LiveHub -> Server-Sent Events -> htmx."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from console import stream
from tests.console.harness import ConsoleWorld
from tests.e2e.harness import Person
from tests.waiting import DEADLINE_S

LIVE = "/live?topic=test_tips"


async def read_events(resp: aiohttp.ClientResponse, count: int) -> list[dict[str, str]]:
    """The next ``count`` events of an SSE response (comments and pings skipped)."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async with asyncio.timeout(DEADLINE_S):
        while len(events) < count:
            raw = await resp.content.readline()
            assert raw, "stream ended"
            line = raw.decode().rstrip("\r\n")
            if not line:
                if current:
                    events.append(current)
                    current = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            current[name] = value.removeprefix(" ")
    return events


async def insert_tip(world: ConsoleWorld, code: str, sector: str = "drivers") -> None:
    await world.db.tips.insert_one({"_id": f"id-{code}", "code": code, "sector": sector})


async def open_stream(
    http: aiohttp.ClientSession, world: ConsoleWorld, **headers: str
) -> aiohttp.ClientResponse:
    resp = await http.get(world.url(LIVE), headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    [hello] = await read_events(resp, 1)  # sent once the subscription is in place
    assert hello["event"] == "hello"
    return resp


async def scoped_operator(world: ConsoleWorld, name: str, sector: str) -> Person:
    boss = world.superadmin()
    person = world.person(name, lang="en")
    await person.says("/start")
    await person.expect("Six Circles")
    await boss.says(f"/grant operator @{name} {sector}")
    await boss.expect("已授予")
    return person


async def test_a_page_updates_when_a_watched_document_is_inserted(
    console_world: ConsoleWorld, page: Page
) -> None:
    world = console_world
    await world.sign_in(page, world.superadmin())
    await page.goto(world.url("/test/live"))
    await expect(page.locator("body")).to_have_attribute("data-live", "open")
    await expect(page.locator("#events li")).to_have_count(0)
    await insert_tip(world, "T-LIVE1")
    await expect(page.locator("#events li")).to_have_text(["T-LIVE1"])
    await world.db.tips.update_one({"_id": "id-T-LIVE1"}, {"$set": {"code": "T-LIVE2"}})
    await expect(page.locator("#events li")).to_have_text(["T-LIVE2"])


async def test_events_reach_only_officers_who_may_see_them(console_world: ConsoleWorld) -> None:
    world = console_world
    li = await scoped_operator(world, "liwei", "drivers")
    approver = world.person("zhao", lang="en")
    await approver.says("/start")
    await approver.expect("Six Circles")
    await world.superadmin().says("/grant approver @zhao")
    await world.superadmin().expect("已授予")
    async with await world.http_session(li) as http, await world.http_session(approver) as other:
        # A topic needs its permission (an approver does not view tips), and must exist.
        assert (await other.get(world.url(LIVE))).status == 403
        assert (await http.get(world.url("/live?topic=nope"))).status == 404
        resp = await open_stream(http, world)
        await insert_tip(world, "T-LAND1", sector="landlords")  # outside li's scope
        await insert_tip(world, "T-DRV01", sector="drivers")
        [event] = await read_events(resp, 1)
        assert event["event"] == "test_tips"
        assert json.loads(event["data"]) == {
            "topic": "test_tips",
            "op": "insert",
            "id": "id-T-DRV01",
        }
        assert event["id"]  # the resume token: a reconnecting browser sends it back
        resp.close()


async def test_a_reconnecting_browser_gets_what_it_missed(console_world: ConsoleWorld) -> None:
    world = console_world
    async with await world.http_session(world.superadmin()) as http:
        resp = await open_stream(http, world)
        await insert_tip(world, "T-SEEN1")
        [seen] = await read_events(resp, 1)
        resp.close()
        await insert_tip(world, "T-MISS1")  # while the browser is away
        await insert_tip(world, "T-MISS2")
        again = await open_stream(http, world, **{"Last-Event-ID": seen["id"]})
        missed = await read_events(again, 2)
        assert [json.loads(e["data"])["id"] for e in missed] == ["id-T-MISS1", "id-T-MISS2"]
        await insert_tip(world, "T-AFTER")
        [live] = await read_events(again, 1)
        assert json.loads(live["data"])["id"] == "id-T-AFTER"
        again.close()
        # An id the database cannot resume from: the page is told to reload.
        lost = await open_stream(http, world, **{"Last-Event-ID": "00ff"})
        [reload] = await read_events(lost, 1)
        assert reload["event"] == "reload"
        lost.close()


async def test_a_signed_out_officer_stream_ends(
    console_world: ConsoleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "EVENT_RECHECK_S", 0.0)  # re-read the officer at every event
    world = console_world
    boss = world.superadmin()
    async with await world.http_session(boss) as http:
        resp = await open_stream(http, world)
        await boss.says("/console_logout")
        await boss.expect("结束 1 个会话")
        await insert_tip(world, "T-GONE1")
        [event] = await read_events(resp, 1)
        assert event["event"] == "signed_out"
        data: dict[str, Any] = json.loads(event["data"])
        assert data["url"].endswith("/signed-out?why=expired")
        assert await resp.content.read() == b""  # the stream ended


async def test_stopping_the_bot_ends_open_streams_cleanly(console_world: ConsoleWorld) -> None:
    """An orderly shutdown ends every event stream (the browser reconnects elsewhere,
    sending Last-Event-ID) instead of waiting for it or cutting it off."""
    world = console_world
    async with await world.http_session(world.superadmin()) as http:
        resp = await open_stream(http, world)
        await world.runner.stop()
        assert await resp.content.read() == b""  # a cut-off stream raises instead
