"""Sessions, CSRF, sign-out and revoked roles in the console, in a real browser."""

from __future__ import annotations

from playwright.async_api import Page, expect

from storage.audit import MongoAuditLog
from tests.console.harness import ConsoleWorld, screenshot


async def sessions_of(world: ConsoleWorld, user_id: int) -> int:
    return int(await world.db.console_sessions.count_documents({"user_id": user_id}))


async def test_a_post_without_the_csrf_token_changes_nothing(
    console_world: ConsoleWorld, page: Page
) -> None:
    world = console_world
    boss = world.superadmin()
    await world.sign_in(page, boss)
    url = world.url("/sessions/end")
    # The browser's own cookies, but no token (a forged form on another site).
    refused = await page.request.post(url, form={"x": "1"}, max_redirects=0)
    assert refused.status == 403
    assert "未做任何更改" in await refused.text()
    wrong = await page.request.post(url, form={"csrf_token": "not-the-token"}, max_redirects=0)
    assert wrong.status == 403
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    other_site = await page.request.post(
        url,
        form={"csrf_token": token},
        headers={"Origin": "https://evil.example"},
        max_redirects=0,
    )
    assert other_site.status == 403
    assert await sessions_of(world, boss.id) == 1
    assert await MongoAuditLog(world.db).list(action="console.sign_out_all") == []
    await page.reload()
    await expect(page.get_by_test_id("welcome")).to_be_visible()
    # With the token (htmx sends it as a header), the same request works.
    done = await page.request.post(url, headers={"X-CSRF-Token": token}, max_redirects=0)
    assert done.status == 303
    assert await sessions_of(world, boss.id) == 0


async def test_session_cookie_flags(console_world: ConsoleWorld, page: Page) -> None:
    world = console_world
    await world.sign_in(page, world.superadmin())
    [cookie] = [c for c in await page.context.cookies() if c["name"] == "sc_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert not cookie["secure"]  # the console's URL is http here; https: see the unit tests
    stored = await world.db.console_sessions.find_one({})
    assert stored is not None and cookie["value"] not in str(stored)


async def test_sign_out_and_sign_out_everywhere_from_the_bot(
    console_world: ConsoleWorld, page: Page
) -> None:
    world = console_world
    boss = world.superadmin()
    await world.sign_in(page, boss)
    http = await world.http_session(boss)  # a second device
    try:
        assert await sessions_of(world, boss.id) == 2
        await boss.says("/console_logout")
        await boss.expect("已在所有设备上退出网页工作台（结束 2 个会话）")
        assert await sessions_of(world, boss.id) == 0
        # The open browser is signed out at its next request.
        await page.reload()
        await expect(page.get_by_test_id("signed-out")).to_have_text(
            "登录已失效。请在与机器人的私聊中发送 /console 重新登录。"
        )
        await screenshot(page, "signed-out")
        other = await http.get(world.url("/"), allow_redirects=False)
        assert other.status == 303 and "/signed-out" in other.headers["Location"]
    finally:
        await http.close()
    [entry] = await MongoAuditLog(world.db).list(action="console.sign_out_all")
    assert entry.actor_id == boss.id and entry.details == {"ended": 2, "reason": "bot"}
    # Signing out with the button ends only this session.
    await world.sign_in(page, boss)
    await page.get_by_role("button", name="退出登录").click()
    await expect(page.get_by_test_id("signed-out")).to_have_text("您已退出登录。")
    assert [e.actor_id for e in await MongoAuditLog(world.db).list(action="console.sign_out")] == [
        boss.id
    ]
    assert not [c for c in await page.context.cookies() if c["name"] == "sc_session"]


async def test_a_revoked_role_takes_effect_at_the_next_request(
    console_world: ConsoleWorld, page: Page
) -> None:
    world = console_world
    boss = world.superadmin()
    ann = world.person("ann", lang="zh-hans")
    await ann.says("/start")
    await ann.expect("六圈")
    for role in ("investigator", "operator"):
        await boss.says(f"/grant {role} @ann")
        await boss.expect("已授予")
    await world.sign_in(page, ann)
    await page.goto(world.url("/notices"))
    await expect(page.locator("h1")).to_have_text("协查通报")
    # Investigator revoked: notices (broadcast) are gone, tips (operator) stay.
    await boss.says("/revoke investigator @ann")
    await boss.expect("已撤销")
    answer = await page.reload()
    assert answer is not None and answer.status == 403
    await expect(page.get_by_test_id("error")).to_have_text("抱歉，您没有权限执行此操作。")
    await screenshot(page, "forbidden")
    await page.goto(world.url("/"))
    await expect(page.locator("[data-nav=tips]")).to_be_visible()
    await expect(page.locator("[data-nav=notices]")).to_have_count(0)
    # Operator revoked too: no officer rights left, every session ends.
    await boss.says("/revoke operator @ann")
    await boss.expect("已撤销")
    await page.goto(world.url("/tips"))
    await expect(page.get_by_test_id("signed-out")).to_have_text(
        "您的工作台权限已被撤销，已退出登录。"
    )
    assert await sessions_of(world, ann.id) == 0
    await ann.says("/console")
    await ann.expect("网页工作台仅供民警和平台工作人员使用。")


async def test_pages_need_a_session(console_world: ConsoleWorld, page: Page) -> None:
    world = console_world
    for path in ("/", "/tips", "/map", "/notices"):
        await page.goto(world.url(path))
        await expect(page.get_by_test_id("signed-out")).to_have_text(
            "您尚未登录。请在与机器人的私聊中发送 /console 获取登录链接。"
        )
    answer = await page.goto(world.url("/no-such-page"))
    assert answer is not None and answer.status == 404
    await expect(page.get_by_test_id("error")).to_have_text("页面不存在。")


async def test_every_foundation_page_loads_only_from_this_machine(
    console_world: ConsoleWorld, page: Page
) -> None:
    """The page fixture fails the test on any request off the machine and on any browser
    error (a Content-Security-Policy violation included); the map's tiles come from the
    configured (here: local) tile server."""
    world = console_world
    await world.sign_in(page, world.superadmin())
    for path in ("/", "/tips", "/notices", "/map"):
        answer = await page.goto(world.url(path))
        assert answer is not None and answer.status == 200, path
        await page.wait_for_load_state("networkidle")
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "img-src 'self' http://127.0.0.1:" in csp
    await expect(page.locator("#tips-map .leaflet-tile-loaded").first).to_be_visible()
    await expect(page.locator(".leaflet-control-attribution")).to_contain_text("Test tiles")
    await screenshot(page, "map")
