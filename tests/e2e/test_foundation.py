"""Issue 2's end-to-end promises: the real bot over the fake Bot API and the real database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from storage.embedded import EmbeddedMongo
from tests.e2e.harness import (
    BOT_ID,
    TIPS_ID_KEY,
    TOKEN,
    WEBHOOK_SECRET,
    BotRunner,
    World,
    wait_until,
)
from tests.fakebot import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]


async def test_start_and_help_in_chinese_and_english(world: World) -> None:
    li = world.person("li", lang="zh-hans")
    ann = world.person("ann", lang="en")
    await li.says("/start")
    await li.expect("六圈")
    await ann.says("/start")
    await ann.expect("Six Circles")
    await li.says("/help")
    help_zh = await li.expect("您可以使用以下命令")
    assert "/whoami" in help_zh["text"] and "/grant" not in help_zh["text"]
    await ann.says("/help")
    help_en = await ann.expect("Commands you can use")
    assert "/lang" in help_en["text"] and "/grant" not in help_en["text"]


async def test_help_lists_privileged_commands_only_to_those_allowed(world: World) -> None:
    boss = world.superadmin(lang="en")
    await boss.says("/help")
    text = (await boss.expect("Commands you can use"))["text"]
    assert "/grant" in text and "/revoke" in text and "/roles" in text


async def test_command_menus_are_published_per_scope_and_language(world: World) -> None:
    calls = world.tg.calls_of("setMyCommands")
    scopes = {(c.params.get("scope") or {}).get("type") for c in calls}
    assert {"all_private_chats", "all_group_chats", "all_chat_administrators"} <= scopes
    langs = {c.params.get("language_code") for c in calls}
    assert {"zh", "en", None} <= langs


async def test_grant_and_revoke_with_refusals(world: World) -> None:
    boss = world.superadmin(lang="en")
    ann = world.person("ann", lang="en")
    eve = world.person("eve", lang="en")
    await ann.says("/start")
    await ann.expect()
    await eve.says("/start")
    await eve.expect()

    # A plain member may not grant anything; nothing changes.
    await eve.says("/grant investigator @ann")
    await eve.expect("not allowed")
    assert await world.db.roles.count_documents({}) == 0

    await boss.says("/grant investigator @ann")
    await boss.expect("Granted Ann")
    await ann.expect("You were granted the role")
    await ann.says("/whoami")
    assert "investigator" in (await ann.expect("Roles:"))["text"]

    # An investigator cannot grant roles either.
    await ann.says("/grant operator @eve")
    await ann.expect("not allowed")

    # Bad input: unknown role, unknown user, superadmin.
    await boss.says("/grant wizard @ann")
    await boss.expect("Unknown role")
    await boss.says("/grant operator @nobody_here")
    await boss.expect("Cannot find user")
    await boss.says("/grant superadmin @eve")
    await boss.expect("SUPERADMIN_IDS")

    # A manager limited to a sector grants inside it only.
    await boss.says("/grant manager @eve drivers")
    await boss.expect("Granted Eve")
    await eve.says("/grant operator @ann landlords")
    await eve.expect("only grant roles inside the scope")
    await eve.says("/grant operator @ann")
    await eve.expect("Granted Ann")
    op = await world.db.roles.find_one({"user_id": ann.id, "role": "operator"})
    assert op is not None and op["sector"] == "drivers"

    await boss.says("/revoke investigator @ann")
    await boss.expect("Revoked")
    await ann.expect("was revoked")
    assert await world.db.roles.count_documents({"user_id": ann.id, "role": "investigator"}) == 0

    actions = [d["action"] async for d in world.db.audit.find({}, sort=[("at", 1)])]
    assert actions == ["role.grant", "role.grant", "role.grant", "role.revoke"]


async def test_grant_by_reply_and_numeric_id(world: World) -> None:
    boss = world.superadmin(lang="en")
    ann = world.person("ann", lang="en")
    said = await ann.says("hello")
    await boss.says("/grant operator", reply_to=said)
    await boss.expect("Granted Ann")
    await boss.says(f"/grant approver {ann.id}")
    await boss.expect("Granted Ann")
    roles = {d["role"] async for d in world.db.roles.find({"user_id": ann.id})}
    assert roles == {"operator", "approver"}


async def test_language_switch_persists(world: World) -> None:
    li = world.person("li", lang="zh-hans")
    await li.says("/lang en")
    await li.expect("Language set to English")
    await li.says("/start")
    await li.expect("Six Circles")
    await li.says("/lang xx")
    await li.expect("Usage: /lang")


async def test_unknown_command_and_group_only_refusal(world: World) -> None:
    li = world.person("li", lang="en")
    await li.says("/nonsense")
    await li.expect("Unknown command")


async def test_duplicate_update_is_handled_once(world: World) -> None:
    li = world.person("li", lang="en")
    await li.says("/start")
    update = world.tg.injected[-1]
    await li.expect("Six Circles")
    await world.tg.inject_duplicate(update)
    await li.says("/whoami")
    await li.expect("User id")
    welcomes = [m for m in li.inbox() if "Six Circles" in (m.get("text") or "")]
    assert len(welcomes) == 1


async def test_webhook_rejects_wrong_secret_and_serves_updates(webhook_world: World) -> None:
    world = webhook_world
    settings = world.app.ctx.settings
    url = f"http://127.0.0.1:{settings.webhook_port}{settings.webhook_path}"
    hook = world.tg.calls_of("setWebhook")[-1].params
    assert hook["url"] == settings.webhook_url and hook["secret_token"] == WEBHOOK_SECRET
    assert "message" in hook["allowed_updates"]
    async with aiohttp.ClientSession() as http:
        bad = await http.post(
            url,
            json={"update_id": 1, "message": {}},
            headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
        )
        assert bad.status == 401
        none = await http.post(url, json={"update_id": 2})
        assert none.status == 401
        ready = await http.get(f"http://127.0.0.1:{settings.webhook_port}/readyz")
        assert ready.status == 200 and (await ready.json())["database"] == "ok"
    li = world.person("li", lang="en")
    await li.says("/start")
    await li.expect("Six Circles")


async def test_webhook_answers_a_malformed_body_with_400_and_one_log_line(
    webhook_world: World, caplog: object
) -> None:
    import logging

    import pytest

    assert isinstance(caplog, pytest.LogCaptureFixture)
    caplog.set_level(logging.INFO)
    world = webhook_world
    settings = world.app.ctx.settings
    url = f"http://127.0.0.1:{settings.webhook_port}{settings.webhook_path}"
    secret = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    bodies: list[bytes] = [
        b"{not json",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b'{"message": {"text": "no update id"}}',
        b'{"update_id": 5, "message": {"message_id": "x", "date": 0}}',
    ]
    async with aiohttp.ClientSession() as http:
        for body in bodies:
            caplog.clear()
            answer = await http.post(
                url, data=body, headers=secret | {"Content-Type": "application/json"}
            )
            assert answer.status == 400, body
            lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(lines) == 1, [r.getMessage() for r in lines]
            assert lines[0].name == "six_circles.webhook" and lines[0].exc_info is None
            assert "malformed update" in lines[0].getMessage()
            assert "\n" not in lines[0].getMessage()
    # The bot still serves real updates.
    li = world.person("li", lang="en")
    await li.says("/start")
    await li.expect("Six Circles")


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "MONGODB_", "CONSOLE_"))
    }
    env["CONSOLE_ENABLED"] = "false"  # tests/console/ covers it (port 8081 may be taken)
    env.update(extra)
    return env


async def test_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    for token in (None, "not-a-token"):
        env = _env() if token is None else _env(BOT_TOKEN=token)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=env | {"PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1 and "BOT_TOKEN" in lines[0] and "@BotFather" in lines[0]


async def test_malformed_mongodb_uri_exits_2_with_one_line(tmp_path: Path) -> None:
    """No scheme (refused by the settings) and a URI the driver's parser refuses (at start,
    before any connection): one line naming MONGODB_URI, never the password, exit code 2."""
    for uri in ("db.example.net:27017", "mongodb://admin:s3cret@db.example.net:notaport/"):
        env = _env(
            BOT_TOKEN=TOKEN,
            MONGODB_URI=uri,
            TIPS_ID_KEY=TIPS_ID_KEY,  # else the missing key is the one error reported
            TELEGRAM_API_URL="http://127.0.0.1:9",
            PYTHONPATH=str(ROOT),
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        text = err.decode()
        assert proc.returncode == 2, text
        lines = text.strip().splitlines()
        assert len(lines) == 1, text
        assert lines[0].startswith("six-circles: invalid configuration: MONGODB_URI:")
        assert "s3cret" not in text and "Traceback" not in text


async def test_startup_fails_fast_when_database_unreachable(tmp_path: Path) -> None:
    from storage.embedded import free_port

    env = _env(
        BOT_TOKEN=TOKEN,
        MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        TIPS_ID_KEY=TIPS_ID_KEY,  # production (a MONGODB_URI) needs it
        TELEGRAM_API_URL="http://127.0.0.1:9",
        PYTHONPATH=str(ROOT),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 3
    assert "cannot reach MongoDB" in err.decode()


async def test_embedded_database_keeps_data_across_a_restart(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    """`python -m bot` with no MONGODB_URI: data written before a restart is there after."""
    env = _env(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=tg.base_url,
        DATA_DIR=str(tmp_path / "data"),
        POLLING_TIMEOUT_S="1",
        PYTHONPATH=str(ROOT),
    )
    li = tg.add_user(3001, "Li", username="li", language_code="zh-hans")

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    async def stop(proc: asyncio.subprocess.Process) -> None:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()[-2000:]

    proc = await start()
    try:
        await tg.send_message(li, text="/lang en")
        await tg.wait_for_message(3001, text_contains="Language set to English", timeout=60)
    finally:
        await stop(proc)
    assert (tmp_path / "data" / "db").is_dir()

    proc = await start()
    try:
        await tg.send_message(li, text="/start")
        # English, because the choice was stored in the embedded database.
        await tg.wait_for_message(3001, text_contains="Six Circles", timeout=60)
    finally:
        await stop(proc)


async def test_update_log_line_per_update(world: World, caplog: object) -> None:
    import logging

    import pytest

    assert isinstance(caplog, pytest.LogCaptureFixture)
    caplog.set_level(logging.INFO, logger="six_circles.updates")
    li = world.person("li", lang="en")
    await li.says("/start")
    await li.expect("Six Circles")
    await wait_until(lambda: any('"outcome": "handled"' in r.getMessage() for r in caplog.records))
    line = next(r.getMessage() for r in caplog.records if '"outcome": "handled"' in r.getMessage())
    assert '"ms":' in line and str(BOT_ID) not in line


async def test_rejected_token_stops_startup_with_a_clear_error(
    tg: FakeTelegram, runner: BotRunner
) -> None:
    import pytest

    from bot.runner import StartupError
    from tests.fakebot import TgError

    tg.fail_next("getMe", TgError.unauthorized())
    with pytest.raises(StartupError, match="rejected BOT_TOKEN"):
        await runner.start()


async def test_unreachable_bot_api_exits_with_one_line(
    mongo_server: EmbeddedMongo, tmp_path: Path
) -> None:
    from storage.embedded import free_port

    env = _env(
        BOT_TOKEN=TOKEN,
        MONGODB_URI=mongo_server.uri,
        MONGODB_DB="t_unreachable_api",
        TIPS_ID_KEY=TIPS_ID_KEY,
        TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",
        PYTHONPATH=str(ROOT),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 4
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("six-circles: cannot reach the Telegram Bot API")
    assert "Unclosed client session" not in err.decode()
