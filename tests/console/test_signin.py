"""Signing in to the console with the bot's link, in a real browser (issue 15)."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from kernel.audit import AuditEntry
from storage.audit import MongoAuditLog
from tests.console.harness import ConsoleWorld, PageWatch, open_context, screenshot


async def audit(world: ConsoleWorld, action: str) -> list[AuditEntry]:
    return await MongoAuditLog(world.db).list(action=action)


async def test_officer_signs_in_with_the_bots_link_in_chinese(
    console_world: ConsoleWorld, page: Page
) -> None:
    world = console_world
    boss = world.superadmin()
    link = await world.link_for(boss)
    await page.goto(link)
    await expect(page.get_by_text("以「Boss」的身份登录六圈警务工作台？")).to_be_visible()
    await screenshot(page, "signin")
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url(world.url("/"))
    await expect(page.get_by_test_id("welcome")).to_have_text("欢迎，Boss")
    await expect(page.get_by_test_id("officer-name")).to_have_text("当前用户：Boss")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    # A superadmin may use every page the foundation has.
    for key in ("start", "tips", "map", "notices"):
        await expect(page.locator(f"[data-nav={key}]")).to_be_visible()
    await screenshot(page, "start")
    [entry] = await audit(world, "console.sign_in")
    assert entry.actor_id == boss.id and "HeadlessChrome" in entry.details["user_agent"]


async def test_language_follows_the_officers_lang_choice(
    console_world: ConsoleWorld, page: Page
) -> None:
    world = console_world
    ann = world.person("ann", lang="zh-hans")
    await ann.says("/start")
    await ann.expect("六圈")
    boss = world.superadmin()
    await boss.says("/grant investigator @ann")
    await ann.expect("侦查员")
    await ann.says("/lang en")
    await ann.expect("Language set to English")
    link = await world.link_for(ann)
    assert "console sign-in link" in ann.inbox()[-1]["text"]
    await page.goto(link)
    await expect(
        page.get_by_text("Sign in to the Six Circles officer console as “Ann”?")
    ).to_be_visible()
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(world.url("/"))
    await expect(page.get_by_test_id("welcome")).to_have_text("Welcome, Ann")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    # An investigator sees the pages their permissions allow, and no others.
    await expect(page.locator("[data-nav=tips]")).to_have_text("Tips")
    await expect(page.locator("[data-nav=notices]")).to_have_text("Notices")
    await expect(page.locator(".roles li")).to_have_text(["investigator (all)"])
    await screenshot(page, "start-en")


async def test_opening_the_link_does_not_use_it(console_world: ConsoleWorld, page: Page) -> None:
    """Telegram's link previews and scanners fetch links: only the button uses one."""
    world = console_world
    boss = world.superadmin()
    link = await world.link_for(boss)
    await page.goto(link)
    await page.goto(link)  # a second look, as a prefetcher would
    await world.sign_in(page, boss, link=link)
    await expect(page.get_by_test_id("welcome")).to_be_visible()


async def test_a_used_link_is_refused(
    console_world: ConsoleWorld, page: Page, browser: Browser
) -> None:
    world = console_world
    boss = world.superadmin()
    link = await world.sign_in(page, boss)
    watch = PageWatch()
    other = await open_context(browser, watch)
    try:
        second = await other.new_page()
        answer = await second.goto(link)
        assert answer is not None and answer.status == 410
        await expect(second.get_by_test_id("refusal")).to_have_text(
            "此登录链接已经使用过。请在与机器人的私聊中发送 /console 获取新链接。"
        )
        assert await second.get_by_role("button").count() == 0
        await screenshot(second, "signin-used")
    finally:
        await other.close()
    assert not watch.offsite and not watch.errors
    assert len(await audit(world, "console.sign_in")) == 1


async def test_an_expired_link_is_refused(console_world: ConsoleWorld, page: Page) -> None:
    world = console_world
    boss = world.superadmin()
    link = await world.link_for(boss)
    await page.goto(link)  # the confirmation page, then the officer waits too long
    world.clock.advance(61)
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_test_id("refusal")).to_contain_text("此登录链接已过期")
    answer = await page.goto(link)
    assert answer is not None and answer.status == 410
    assert await audit(world, "console.sign_in") == []


async def test_a_member_gets_a_polite_refusal_and_no_link(console_world: ConsoleWorld) -> None:
    world = console_world
    li = world.person("li", lang="zh-hans")
    await li.says("/console")
    answer = await li.expect()
    assert answer["text"] == "网页工作台仅供民警和平台工作人员使用。"
    assert await world.db.console_tokens.count_documents({}) == 0
    await li.says("/help")
    help_text = (await li.expect("/help"))["text"]
    assert "/console" not in help_text
    boss = world.superadmin()
    await boss.says("/help")
    assert "/console — 登录网页工作台" in (await boss.expect("/help"))["text"]
