"""Health, readiness and status of a bot instance (issue 18, deployment): the HTTP endpoints
of webhook mode and the superadmins' /status command, on the real bot."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import App
from bot.runner import run
from bot.status import app_version
from storage.embedded import EmbeddedMongo, free_port
from tests.e2e import harness
from tests.e2e.harness import WEBHOOK_SECRET, BotRunner, World
from tests.fakebot import FakeTelegram
from tests.fakebot.params import Params

SECRET_HEADER = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}


def webhook_overrides(port: int) -> dict[str, Any]:
    return {
        "bot_mode": "webhook",
        "webhook_url": f"http://127.0.0.1:{port}/telegram/webhook",
        "webhook_secret": WEBHOOK_SECRET,
        "webhook_host": "127.0.0.1",
        "webhook_port": port,
    }


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


async def test_ready_instance_reports_alive_ready_and_its_roles(webhook_world: World) -> None:
    world = webhook_world
    port = world.app.ctx.settings.webhook_port
    base = f"http://127.0.0.1:{port}"
    me = world.app.ctx.jobs.holder_id
    async with aiohttp.ClientSession() as http:
        status, alive = await get_json(http, f"{base}/healthz")
        assert status == 200 and alive["status"] == "alive"
        status, ready = await get_json(http, f"{base}/readyz")
        assert status == 200 and ready == {"status": "ready", "database": "ok"}
        status, facts = await get_json(http, f"{base}/status")
    assert status == 200
    assert facts["instance"] == me and facts["mode"] == "webhook" and facts["ready"] is True
    assert facts["version"] == app_version() != "unknown"
    assert facts["leases"] == ["scheduler"]  # the only instance holds the scheduler lease
    assert facts["uptime_s"] >= 0 and facts["pid"] > 0
    assert facts["lease_holders"] == [
        {
            "name": "scheduler",
            "holder": me,
            "until": facts["lease_holders"][0]["until"],
            "expired": False,
        }
    ]


class HeldStartFakeTelegram(FakeTelegram):
    """Holds the bot's start-up at getMe (after the database and schema, before the bot
    serves) until the test releases it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.get_me_called = asyncio.Event()
        self.release = asyncio.Event()

    async def api_getMe(self, p: Params) -> Any:
        self.get_me_called.set()
        await self.release.wait()
        return self.get_me_json()


async def test_readyz_is_503_until_start_up_has_finished(
    mongo_server: EmbeddedMongo, db_name: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with HeldStartFakeTelegram(bot_id=4_242_000) as tg:
        settings = harness.test_settings(
            tg, mongo_server.uri, db_name, tmp_path, **webhook_overrides(port)
        )
        stop = asyncio.Event()
        ready: asyncio.Future[App] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run(settings, stop, on_ready=ready.set_result))
        try:
            await asyncio.wait_for(tg.get_me_called.wait(), 30)
            async with aiohttp.ClientSession() as http:
                # Alive (the process serves HTTP) but not ready: start-up is not finished.
                status, alive = await get_json(http, f"{base}/healthz")
                assert status == 200 and alive == {"status": "alive", "ready": False}
                status, body = await get_json(http, f"{base}/readyz")
                assert status == 503 and body["status"] == "starting"
                status, facts = await get_json(http, f"{base}/status")
                assert status == 200 and facts["ready"] is False and facts["instance"] is None
                assert facts["leases"] == [] and facts["lease_holders"] is None
                # Telegram's calls get 503 (it tries again later); a wrong secret still 401.
                update = {"update_id": 1}
                async with http.post(
                    f"{base}/telegram/webhook", json=update, headers=SECRET_HEADER
                ) as resp:
                    assert resp.status == 503
                async with http.post(f"{base}/telegram/webhook", json=update) as resp:
                    assert resp.status == 401
                assert not tg.calls_of("setWebhook")  # not registered before it can serve
                tg.release.set()
                app = await asyncio.wait_for(ready, 30)
                status, body = await get_json(http, f"{base}/readyz")
                assert status == 200 and body["status"] == "ready"
                assert tg.calls_of("setWebhook")[-1].params["url"] == settings.webhook_url
                status, facts = await get_json(http, f"{base}/status")
                assert facts["instance"] == app.ctx.jobs.holder_id
        finally:
            tg.release.set()
            stop.set()
            await asyncio.wait_for(task, 30)
        # Stopped: nothing listens any more.
        async with aiohttp.ClientSession() as http:
            try:
                async with http.get(f"{base}/healthz") as resp:
                    raise AssertionError(f"still answering: {resp.status}")
            except aiohttp.ClientConnectionError:
                pass


async def test_readyz_reports_a_stopped_database_and_healthz_stays_alive(
    tg: FakeTelegram, tmp_path: Path, db_name: str
) -> None:
    server = EmbeddedMongo(tmp_path / "db")
    await server.start()
    runner = BotRunner(tg, server.uri, db_name, tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        await runner.start(**webhook_overrides(port))
        async with aiohttp.ClientSession() as http:
            status, _ = await get_json(http, f"{base}/readyz")
            assert status == 200
            await server.stop()
            status, body = await get_json(http, f"{base}/readyz")
            assert status == 503 and body == {"status": "degraded", "database": "unreachable"}
            # Liveness never asks the database: a database outage must not get healthy
            # bot processes restarted.
            status, alive = await get_json(http, f"{base}/healthz")
            assert status == 200 and alive["status"] == "alive"
            status, facts = await get_json(http, f"{base}/status")
            assert status == 200 and facts["lease_holders"] is None
            assert facts["leases"] == ["scheduler"]  # what the process holds (until expiry)
    finally:
        await runner.stop()
        await server.stop()


async def test_status_command_shows_roles_and_lease_holders_to_superadmins(world: World) -> None:
    boss = world.superadmin(lang="en")
    me = world.app.ctx.jobs.holder_id
    now = world.clock.now()
    # Another instance's lease, and one whose holder stopped renewing.
    await world.db.leases.insert_many(
        [
            {
                "_id": "sender",
                "holder": "bot2:7:abcdef",
                "until": now + timedelta(seconds=20),
                "renewed_at": now,
            },
            {
                "_id": "zz-old",
                "holder": "bot3:9:123456",
                "until": now - timedelta(seconds=5),
                "renewed_at": now - timedelta(seconds=35),
            },
        ]
    )
    await boss.says("/status")
    text = (await boss.expect("This instance:"))["text"]
    assert me in text and f"version {app_version()}" in text and "mode polling" in text
    assert "Roles held here: scheduler" in text
    lines = text.splitlines()
    (scheduler,) = [x for x in lines if x.startswith("• scheduler:")]
    assert me in scheduler and "(this instance)" in scheduler
    (sender,) = [x for x in lines if x.startswith("• sender:")]
    assert "bot2:7:abcdef" in sender and "until 2026-11-23 09:00:20" in sender
    assert "(this instance)" not in sender and "expired" not in sender
    (old,) = [x for x in lines if x.startswith("• zz-old:")]
    assert "(expired" in old

    li = world.person("li", lang="zh-hans")
    await li.says("/status")
    await li.expect("抱歉，您没有权限执行此操作。")
    await boss.says("/help")
    assert "/status" in (await boss.expect("Commands you can use"))["text"]
    await li.says("/help")
    assert "/status" not in (await li.expect("您可以使用以下命令"))["text"]


async def test_status_command_in_chinese_for_an_instance_without_roles(world: World) -> None:
    boss = world.superadmin(lang="zh-hans")
    await world.app.ctx.jobs.stop()  # gives the scheduler lease up, like a stopping instance
    await boss.says("/status")
    text = (await boss.expect("运行状态"))["text"]
    assert "本实例未持有租约" in text and "暂无租约记录。" in text
