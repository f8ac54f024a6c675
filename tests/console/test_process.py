"""``python -m console`` on its own, and start-up errors (one line, the usual exit codes)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from console.render import STATIC
from storage.embedded import EmbeddedMongo, free_port
from tests.console.harness import ConsoleWorld
from tests.e2e.harness import TIPS_ID_KEY, TOKEN, BotRunner
from tests.fakebot import FakeTelegram
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "MONGODB_", "CONSOLE_", "TELEGRAM_"))
    }
    return base | {"BOT_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)} | extra


async def start(module: str, tmp_path: Path, **extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        cwd=tmp_path,
        env=env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def test_python_m_console_serves_on_its_own(
    mongo_server: EmbeddedMongo, tmp_path: Path
) -> None:
    port = free_port()
    proc = await start(
        "console",
        tmp_path,
        MONGODB_URI=mongo_server.uri,
        TIPS_ID_KEY=TIPS_ID_KEY,
        MONGODB_DB="t_console_alone",
        CONSOLE_PORT=str(port),
        # No Bot API anywhere: the console alone never needs Telegram to start.
        TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> dict[str, str] | None:
                if proc.returncode is not None:
                    raise AssertionError(f"exited {proc.returncode}")
                try:
                    resp = await http.get(f"http://127.0.0.1:{port}/healthz")
                except aiohttp.ClientConnectionError:
                    return None
                body: dict[str, str] = await resp.json()
                return body if resp.status == 200 else None

            body = await wait_until(healthy, timeout=60)
            assert body == {"status": "ok", "database": "ok", "live": "ok"}
            signed_out = await http.get(f"http://127.0.0.1:{port}/")
            assert signed_out.url.path == "/signed-out"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]


async def test_python_m_console_needs_the_bots_database(tmp_path: Path) -> None:
    proc = await start("console", tmp_path)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    [line] = err.decode().strip().splitlines()
    assert "needs MONGODB_URI" in line


async def test_a_taken_console_port_stops_the_bot_with_one_line(
    tg: FakeTelegram, mongo_server: EmbeddedMongo, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for module in ("bot", "console"):
            proc = await start(
                module,
                tmp_path,
                MONGODB_URI=mongo_server.uri,
                TIPS_ID_KEY=TIPS_ID_KEY,
                MONGODB_DB="t_console_port",
                TELEGRAM_API_URL=tg.base_url,
                CONSOLE_PORT=str(port),
            )
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 2, (module, err.decode()[-2000:])
            last = err.decode().strip().splitlines()[-1]
            assert f"cannot listen on 127.0.0.1:{port}" in last and "CONSOLE_PORT" in last


async def test_the_bot_serves_the_console_in_webhook_mode_too(
    tg: FakeTelegram, runner: BotRunner
) -> None:
    port, hook = free_port(), free_port()
    await runner.start(
        bot_mode="webhook",
        webhook_url=f"http://127.0.0.1:{hook}/telegram/webhook",
        webhook_secret="secret_123",
        webhook_host="127.0.0.1",
        webhook_port=hook,
        console_enabled=True,
        console_port=port,
    )
    async with aiohttp.ClientSession() as http:
        health = await http.get(f"http://127.0.0.1:{port}/healthz")
        assert health.status == 200 and (await health.json())["live"] == "ok"
    await runner.stop()  # an orderly shutdown closes the console too
    async with aiohttp.ClientSession() as http:
        try:
            await http.get(f"http://127.0.0.1:{port}/healthz")
        except aiohttp.ClientConnectionError:
            pass
        else:
            raise AssertionError("the console still answers after the bot stopped")


async def test_static_files_are_served_with_the_manifest_checksums(
    console_world: ConsoleWorld,
) -> None:
    manifest = json.loads((STATIC / "vendor" / "VENDORED.json").read_text(encoding="utf-8"))
    async with aiohttp.ClientSession() as http:
        for package in manifest["packages"]:
            for path, digest in package["files"].items():
                resp = await http.get(console_world.url(f"/static/vendor/{path}"))
                assert resp.status == 200, path
                assert hashlib.sha256(await resp.read()).hexdigest() == digest, path
                assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_console_under_a_path_behind_a_proxy(tg: FakeTelegram, runner: BotRunner) -> None:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    await runner.start(console_enabled=True, console_port=port, console_url=f"{root}/console/")
    world = ConsoleWorld(tg, runner)
    boss = world.superadmin()
    assert world.base_url == f"{root}/console"
    async with await world.http_session(boss) as http:
        start = await http.get(world.url("/"))
        assert start.status == 200 and start.url.path == "/console/"
        page = await start.text()
        assert "欢迎，Boss" in page and 'href="/console/static/console.css' in page
        assert 'action="/console/signout"' in page
        [cookie] = [c for c in http.cookie_jar if c.key == "sc_session"]
        assert cookie["path"] == "/console"
        bare = await http.get(f"{root}/console", allow_redirects=False)
        assert bare.status == 308 and bare.headers["Location"] == "/console/"
        assert (await http.get(f"{root}/")).status == 404
        assert (await http.get(world.url("/static/console.js"))).status == 200
