"""The notices pages and the start page in a real browser (issue 15, items 4 and 5): the real
bot with its console, notices composed and delivered through the fake Bot API, the real
database."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from bot.i18n import Translator
from duty.model import parse_patterns
from groups.model import Group
from groups.roles import UNRESTRICTED, Role, Scope
from kernel.audit import AuditEntry
from storage.audit import MongoAuditLog
from tests.console.harness import ConsoleWorld, screenshot
from tests.console.test_live import read_events
from tests.e2e.harness import SUPERADMIN_ID, TOKEN, Person
from tests.e2e.test_notices import GROUPS, compose, group_msgs, investigator, nt, seed
from tests.fakebot import TgError
from tests.waiting import wait_until

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


async def audit(world: ConsoleWorld, action: str) -> list[AuditEntry]:
    return await MongoAuditLog(world.db).list(action=action)


async def send(world: ConsoleWorld, inv: Person, report: str, **kw: Any) -> str:
    """Compose a notice in the bot (in English), send it, wait for the delivery report."""
    summary = await compose(world, inv, **kw)
    await inv.presses(summary, nt("send"))
    found = await inv.expect(report)
    ref: str = found["text"].split()[1]
    return ref


TITLE = "协查：白色面包车 浙A·12345"
ZH = Translator("zh-CN")


def head(key: str) -> str:
    """The fixed beginning of a catalogue message (up to its first placeholder)."""
    return ZH(key).split("{")[0]


async def tipster(world: ConsoleWorld, name: str) -> Person:
    person = world.person(name)
    ctx = world.app.ctx
    boss = await ctx.roles.principal(SUPERADMIN_ID)
    await ctx.roles.grant(boss, person.id, Role.MEMBER, UNRESTRICTED)
    await world.db.members.insert_one(
        {"_id": person.id, "status": "active", "sector": "drivers", "area": "town-a"}
    )
    return person


async def tip_about(person: Person, ref: str, text: str) -> str:
    """A tip about a notice, sent as a member does (the notice's deep link)."""
    await person.says(f"/start tip_{ref}")
    await person.expect(head("tips.panel_hint"))
    await person.says(text)
    await person.expect(head("tips.added"))
    await person.taps(ZH("tips.button.send"))
    receipt = await person.expect(head("tips.received"))
    found = re.search(r"T-[0-9A-Z]{5}", receipt["text"])
    assert found, receipt["text"]
    return found.group(0)


def pause_delivery_sweep(world: ConsoleWorld) -> None:
    """Stop the bot's periodic delivery sweep (every 5 s): what a change in the console
    makes happen then happens because the console woke the sweep."""
    world.app.ctx.scheduler.pause_job("sweep:notices.deliver")


async def in_chinese(person: Person) -> None:
    await person.says("/lang zh")
    await person.expect("语言已切换为简体中文")


async def sign_in(world: ConsoleWorld, page: Page, person: Person, locale: str = "zh-CN") -> None:
    """Sign in as someone who chose the console's language with /lang."""
    await page.goto(await world.link_for(person))
    await page.get_by_role("button", name=Translator(locale)("console.signin.button")).click()
    await page.wait_for_url(world.url("/"))


async def csrf_of(http: aiohttp.ClientSession, world: ConsoleWorld) -> str:
    page = await http.get(world.url("/"))
    found = CSRF_RE.search(await page.text())
    assert found, "no CSRF token on the start page"
    return found.group(1)


def captions(world: ConsoleWorld, chats: list[int]) -> list[str]:
    """The current caption of each group's copy (a one-photo notice: its first message)."""
    return [world.tg.current(group_msgs(world, c)[0]).get("caption", "") for c in chats]


async def test_monitor_shows_every_groups_state_and_retry_delivers_a_failed_group(
    console_world: ConsoleWorld, page: Page
) -> None:
    world = console_world
    await seed(world)
    world.tg.add_group(-1009, "城关司机二群", type="group")
    await world.app.ctx.groups.save(Group(-1009, "城关司机二群", "drivers", "town-a"))
    world.tg.migrate_group(-1009, -1000000009)
    world.tg.remove_bot(-1005)
    world.tg.fail_next(
        "sendPhoto", TgError.bad_request("not enough rights to send photos"), chat_id=-1002
    )
    inv = await investigator(world)
    ref = await send(
        world,
        inv,
        "delivered: 2 sent, 2 failed (of 4 groups)",
        photos=1,
        title=TITLE,
        body="男，约 30 岁，身穿黑色夹克，11 月 20 日 14 时许在城关镇农贸市场附近出现。",
    )
    # A member sends a tip about it (the console shows the pseudonym, never who).
    ann = await tipster(world, "ann")
    code = await tip_about(ann, ref, "我在火车站看到过这个人。")
    await in_chinese(inv)
    await sign_in(world, page, inv)
    # The list: state and reach.
    await page.locator("[data-nav=notices]").click()
    row = page.locator(f"tr[data-ref='{ref}']")
    await expect(row.get_by_test_id("list-status")).to_have_text("有效")
    await expect(row.get_by_test_id("list-reach")).to_contain_text("已送达 2/4，失败 2")
    await screenshot(page, "notices-list")
    # The notice: every group with its state, the reasons, the migration.
    await row.get_by_role("link", name=ref).click()
    await page.wait_for_url(world.url(f"/notices/{ref}"))
    await expect(page.get_by_test_id("notice-heading")).to_have_text(f"{ref} · {TITLE}")
    rows = page.locator("[data-testid=deliveries] tbody tr")
    await expect(rows).to_have_count(4)
    states = {
        -1000000009: ("sent", "已送达", ""),
        -1005: ("failed", "失败", "机器人已被移出群组"),
        -1002: ("failed", "失败", "机器人没有发送权限"),
        -1001: ("sent", "已送达", ""),
    }
    for chat, (state, label, reason) in states.items():
        line = page.locator(f"tr[data-chat='{chat}']")
        await expect(line).to_have_attribute("data-state", state)
        await expect(line.locator(".state")).to_have_text(label)
        await expect(line.locator(".reason")).to_have_text(reason)
    moved = page.locator("tr[data-chat='-1000000009']")
    await expect(moved.get_by_test_id("migrated")).to_have_text("群组已升级，原 ID -1009")
    await expect(moved).to_contain_text("交通运输司乘人员 · 城关镇")
    await expect(page.get_by_test_id("progress")).to_have_text(
        "已送达 2，失败 2，剩余 0（共 4 个群组）"
    )
    await expect(page.locator("[data-view=migrated]")).to_contain_text("1")
    await expect(page.get_by_test_id("audience")).to_contain_text("交通运输司乘人员")
    # The photo comes through the console (the bot's token never reaches the page).
    photo = page.get_by_test_id("notice-photo")
    await expect(photo).to_have_count(1)
    await wait_until_loaded(page)
    assert TOKEN not in await page.content()
    assert TOKEN.split(":")[1] not in (await photo.get_attribute("src") or "")
    # The tips it received: pseudonym only, linked to the tip's page.
    tip = page.locator(f"#tips tr[data-code='{code}']")
    await expect(tip).to_contain_text("我在火车站看到过这个人。")
    await expect(tip).to_contain_text("举报人 #")
    assert await tip.get_by_role("link", name=code).get_attribute("href") == (
        f"/tips/{(await world.db.tips.find_one({'code': code}))['_id']}"
    )
    assert "Ann" not in await page.locator("main").inner_text()
    await screenshot(page, "notice-monitor")
    # Only the failed groups' view.
    await page.locator("[data-view=failed]").click()
    await expect(rows).to_have_count(2)
    # Retry: the group that refused gets it now; the one that removed the bot fails again.
    # (The periodic delivery sweep is paused: the console wakes it.)
    pause_delivery_sweep(world)
    await page.get_by_test_id("retry").click()
    await expect(page.get_by_test_id("done")).to_have_text(f"正在重新发送通报 {ref} 到 2 个群组。")
    await inv.expect("发送完成：成功 3，失败 1（共 4 个群组）")
    await page.goto(world.url(f"/notices/{ref}"))
    await expect(page.locator("tr[data-chat='-1002']")).to_have_attribute("data-state", "sent")
    await expect(page.locator("tr[data-chat='-1005'] .reason")).to_have_text("机器人已被移出群组")
    assert len(group_msgs(world, -1002)) == 1 and len(group_msgs(world, -1001)) == 1
    [entry] = await audit(world, "notice.retry")
    assert entry.actor_id == inv.id and entry.details == {
        "ref": ref,
        "groups": 2,
        "was": "active",
    }


async def wait_until_loaded(page: Page) -> None:
    """Every image of the page decoded (the photo route streamed a real picture)."""
    await page.wait_for_function(
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    )


async def test_progress_updates_live_while_sending(console_world: ConsoleWorld, page: Page) -> None:
    world = console_world
    many = [(-2000 - i, f"司机群{i}", "drivers", "town-a") for i in range(6)]
    await seed(world, many)
    inv = await investigator(world)
    await in_chinese(inv)
    await sign_in(world, page, inv)
    await inv.says("/lang en")
    await inv.expect("Language set to English")
    gate = world.tg.hold("sendPhoto", chat_id=-2003)
    try:
        summary = await compose(world, inv, photos=1)
        await inv.presses(summary, nt("send"))
        await wait_until(
            lambda: (
                sum(1 for c, *_ in many if group_msgs(world, c)) == 5 and world.tg.held_calls == 1
            )
        )
        await page.goto(world.url("/notices"))
        status = page.locator("tr[data-ref='N-2611-01'] [data-testid=list-status]")
        await expect(status).to_have_text("sending")
        await page.goto(world.url("/notices/N-2611-01"))
        await expect(page.locator("body")).to_have_attribute("data-live", "open")
        progress = page.get_by_test_id("progress")
        await expect(progress).to_have_attribute("data-sent", "5")
        await expect(page.locator("tr[data-chat='-2003']")).to_have_attribute(
            "data-state", "sending"
        )
        await expect(page.get_by_test_id("monitor-status")).to_have_text("sending")
        await page.evaluate("window.sixCirclesMark = 'still the same page'")
        gate.set()
        # The page follows the delivery by itself, without reloading.
        await expect(progress).to_have_attribute("data-sent", "6")
        await expect(page.locator("tr[data-chat='-2003']")).to_have_attribute("data-state", "sent")
        await expect(page.get_by_test_id("monitor-status")).to_have_text("active")
        assert await page.evaluate("window.sixCirclesMark") == "still the same page"
    finally:
        gate.set()
    await inv.expect("delivered: 6 sent, 0 failed")


async def test_a_busy_delivery_sends_one_event_a_second_per_notice(
    console_world: ConsoleWorld,
) -> None:
    world = console_world
    boss = world.superadmin()
    http = await world.http_session(boss)
    try:
        resp = await http.get(world.url("/live?topic=notices"))
        assert resp.status == 200
        [hello] = await read_events(resp, 1)
        assert hello["event"] == "hello"
        await world.db.notices.insert_one(
            {"_id": "busy", "ref": "T-BUSY", "created_by": 1, "investigators": []}
        )
        burst = 300
        await world.db.deliveries.insert_many(
            [{"_id": f"busy:{-i}", "notice_id": "busy", "chat_id": -i} for i in range(burst)]
        )
        await world.db.deliveries.update_many({"notice_id": "busy"}, {"$set": {"state": "sent"}})
        # A change of another notice after the burst: it is not held back by the busy one.
        await world.db.notices.insert_one(
            {"_id": "quiet", "ref": "T-QUIET", "created_by": 1, "investigators": []}
        )
        got: list[dict[str, str]] = []
        while not any('"quiet"' in e.get("data", "") for e in got):
            got += await read_events(resp, 1)
        busy = [e for e in got if '"busy"' in e["data"]]
        # 2 x 300 changes (and the notice): a first event at once, then at most one a second.
        assert 1 <= len(busy) < 30, len(busy)
        assert all(e["event"] == "notices" for e in got)
    finally:
        await http.close()


async def test_update_and_close_from_the_browser_change_every_groups_copy(
    console_world: ConsoleWorld, page: Page
) -> None:
    world = console_world
    await seed(world)
    inv = await investigator(world)
    ref = await send(world, inv, "delivered: 3 sent, 0 failed", photos=1)
    chats = [-1001, -1002, -1005]
    await in_chinese(inv)
    await sign_in(world, page, inv)
    await page.goto(world.url(f"/notices/{ref}"))
    pause_delivery_sweep(world)  # the console wakes it after each change
    # Change the text: the new wording, then how many copies change, then confirm.
    await page.get_by_test_id("edit-body").click()
    await page.get_by_label("新的内容").fill("x" * 1100)
    await page.get_by_test_id("check").click()
    await expect(page.get_by_test_id("edit-error")).to_contain_text("通报内容太长")
    await page.get_by_label("新的内容").fill("更新：14 时在火车站附近出现。")
    await page.get_by_test_id("check").click()
    await expect(page.get_by_test_id("question")).to_have_text(
        f"将修改通报 {ref} 并同步到 3 个群组中的副本。确认吗？"
    )
    assert not any("火车站" in c for c in captions(world, chats))  # nothing before confirming
    await page.get_by_test_id("confirm").click()
    await expect(page.get_by_test_id("done")).to_have_text(
        f"通报 {ref} 已修改，各群组中的副本正在同步更新。"
    )
    await expect(page.get_by_test_id("notice-body")).to_have_text("更新：14 时在火车站附近出现。")
    await wait_until(lambda: all("火车站" in c for c in captions(world, chats)))
    [updated] = await audit(world, "notice.update")
    assert updated.actor_id == inv.id and updated.details["body"] == "更新：14 时在火车站附近出现。"
    # Close as solved: every copy is marked.
    await page.get_by_test_id("close-solved").click()
    await expect(page.get_by_test_id("question")).to_contain_text(f"将通报 {ref} 标记为「已破案」")
    await expect(page.get_by_test_id("copies")).to_contain_text("3 个群组")
    await page.get_by_test_id("confirm-solved").click()
    await expect(page.get_by_test_id("monitor-status")).to_have_text("已破案")
    await expect(page.get_by_test_id("actions")).to_have_count(0)
    await wait_until(lambda: all("已破案" in c for c in captions(world, chats)))
    [solved] = await audit(world, "notice.solved")
    assert solved.actor_id == inv.id


async def test_others_are_refused_and_requests_without_the_token_change_nothing(
    console_world: ConsoleWorld,
) -> None:
    world = console_world
    await seed(world)
    inv = await investigator(world)
    ref = await send(world, inv, "delivered: 3 sent, 0 failed", photos=1)
    other = await investigator(world, "other")
    member = world.person("eve", lang="en")
    ctx = world.app.ctx
    boss = await ctx.roles.principal(SUPERADMIN_ID)
    await ctx.roles.grant(boss, member.id, Role.OPERATOR, Scope("drivers"))  # no broadcast
    before = await world.db.notices.find_one({"ref": ref})
    attempts = [
        (f"/notices/{ref}/edit/confirm", {"field": "body", "value": "hijacked"}),
        (f"/notices/{ref}/close", {"status": "withdrawn"}),
        (f"/notices/{ref}/retry", {}),
    ]
    # Another investigator: not their notice, refused (403) like /notice_update, unchanged.
    http = await world.http_session(other)
    try:
        token = await csrf_of(http, world)
        for path in (f"/notices/{ref}", f"/notices/{ref}/edit", f"/notices/{ref}/photos/0"):
            resp = await http.get(world.url(path))
            assert resp.status == 403, path
            assert f"You may not manage notice {ref}." in await resp.text()
        for path, form in attempts:
            resp = await http.post(world.url(path), data=form | {"csrf_token": token})
            assert resp.status == 403, (path, await resp.text())
        listing = await http.get(world.url("/notices"))
        assert listing.status == 200 and ref not in await listing.text()
    finally:
        await http.close()
    # An officer without the broadcast right: no notices pages at all.
    http = await world.http_session(member)
    try:
        token = await csrf_of(http, world)
        for path in ("/notices", f"/notices/{ref}", "/notices/rows"):
            resp = await http.get(world.url(path))
            assert resp.status == 403, path
        resp = await http.post(
            world.url(f"/notices/{ref}/close"), data={"status": "withdrawn", "csrf_token": token}
        )
        assert resp.status == 403
    finally:
        await http.close()
    # The author, without the CSRF token: refused, nothing changes.
    http = await world.http_session(inv)
    try:
        # A mistyped address shows the monitor from its start; an unknown notice is 404.
        for query in ("?after=" + "9" * 30, "?before=-99999999999999999999", "?view=x&page=-3"):
            resp = await http.get(world.url(f"/notices/{ref}{query}"))
            assert resp.status == 200, query
        for path in ("/notices/N-2611-99", f"/notices/{ref}/photos/7", "/notices/rows?page=x"):
            resp = await http.get(world.url(path))
            assert resp.status == (200 if "rows" in path else 404), path
        for path, form in attempts:
            resp = await http.post(world.url(path), data=form)
            assert resp.status == 403, path
            assert "security token" in await resp.text()
    finally:
        await http.close()
    after = await world.db.notices.find_one({"ref": ref})
    assert after == before
    assert not await audit(world, "notice.update") and not await audit(world, "notice.withdrawn")
    assert not any("hijacked" in c for c in captions(world, [-1001, -1002, -1005]))


async def test_start_page_counts_tips_shows_duty_and_notices_being_delivered(
    console_world: ConsoleWorld, page: Page
) -> None:
    world = console_world
    await seed(world, GROUPS[:2])
    now = world.clock.now()
    tips = [
        ("drivers", "town-a", "new", now - timedelta(minutes=5)),
        ("drivers", "town-a", "new", now - timedelta(minutes=50)),
        ("drivers", "town-b", "acknowledged", now - timedelta(minutes=30)),
        ("drivers", "town-a", "new", now - timedelta(days=2)),
        ("landlords", "town-a", "new", now - timedelta(minutes=10)),
        ("landlords", "town-b", "closed", now - timedelta(days=3)),
    ]
    await world.db.tips.insert_many(
        [
            {
                "_id": f"tip{i}",
                "code": f"T-TEST{i}",
                "sector": s,
                "area": a,
                "status": st,
                "created_at": at,
            }
            for i, (s, a, st, at) in enumerate(tips)
        ]
    )
    ctx = world.app.ctx
    boss_principal = await ctx.roles.principal(SUPERADMIN_ID)
    op = world.person("op", lang="zh-hans")
    await ctx.roles.grant(boss_principal, op.id, Role.OPERATOR, Scope("drivers"))
    await op.says("/start")
    await op.expect()
    duty = ctx.services.duty
    await duty.create_team(
        boss_principal, "drv", "Asia/Shanghai", parse_patterns("1x24"), 1, "drivers"
    )
    await duty.update_team(boss_principal, "drv", operators=(op.id,))
    # A notice being delivered (one group's copy held back at Telegram).
    inv = await investigator(world)
    gate = world.tg.hold("sendPhoto", chat_id=-1002)
    try:
        summary = await compose(world, inv, photos=1, title=TITLE)
        await inv.presses(summary, nt("send"))
        await wait_until(lambda: world.tg.held_calls == 1 and bool(group_msgs(world, -1001)))
        # The operator: tips of the drivers only; duty; no notices.
        await world.sign_in(page, op)
        await expect(page.get_by_test_id("tips-received")).to_have_text("3")
        await expect(page.get_by_test_id("tips-unacknowledged")).to_have_text("3")
        await expect(page.get_by_test_id("on-duty")).to_contain_text("Op")
        await expect(page.get_by_test_id("sending")).to_have_count(0)
        # A new tip in the operator's sector: the counts follow by themselves.
        await expect(page.locator("body")).to_have_attribute("data-live", "open")
        await world.db.tips.insert_one(
            {
                "_id": "tip9",
                "code": "T-TEST9",
                "sector": "drivers",
                "area": "town-b",
                "status": "new",
                "created_at": world.clock.now(),
            }
        )
        await expect(page.get_by_test_id("tips-received")).to_have_text("4")
        await expect(page.get_by_test_id("tips-unacknowledged")).to_have_text("4")
        # A superadmin sees every tip and every notice being delivered.
        await page.context.clear_cookies()
        boss = world.superadmin()
        await world.sign_in(page, boss)
        await expect(page.get_by_test_id("tips-received")).to_have_text("5")
        await expect(page.get_by_test_id("tips-unacknowledged")).to_have_text("5")
        sending = page.get_by_test_id("sending")
        await expect(sending.locator("li[data-ref='N-2611-01']")).to_contain_text(
            "已送达 1/2，失败 0"
        )
        await expect(page.get_by_test_id("on-duty")).to_contain_text("Op")
        await screenshot(page, "start-dashboard")
        gate.set()
        await expect(sending).to_contain_text("目前没有正在发送的通报。")
    finally:
        gate.set()
    await inv.expect("delivered: 2 sent, 0 failed")
