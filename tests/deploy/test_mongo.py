"""The database side of the deployment kit against the embedded server with access control
on (SecantusDB ``--auth``; no mongod here): make-secrets.sh writes the secrets, the init
job creates the least-privilege users, and the bot runs on the URI the guide recommends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from pymongo.errors import OperationFailure, PyMongoError, ServerSelectionTimeoutError

from storage.client import connect, make_client
from storage.embedded import _die_with_parent, _server_command, free_port
from storage.schema import ensure_schema, schema_version
from tests.deploy.kit import DEPLOY, PYTHON, ROOT, clean_env
from tests.e2e.harness import WEBHOOK_SECRET, BotRunner, World
from tests.fakebot import FakeTelegram
from tests.waiting import wait_until

ROOT_PASSWORD = "root-pw-0123456789"
# The options docs/deployment.md recommends (make-secrets.sh writes them into the URI).
RECOMMENDED = {
    "replicaSet": "rs0",
    "authSource": "admin",
    "w": "majority",
    "wtimeoutMS": "10000",
    "readConcernLevel": "majority",
    "readPreference": "primary",
    "retryWrites": "true",
    "retryReads": "true",
    "maxPoolSize": "50",
}


class AuthServer:
    """SecantusDB with access control: users are created on a first start without it (as
    SecantusDB asks), then it is restarted with ``--auth``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    async def _start(self, *extra: str) -> None:
        with (self.base / "secantus.log").open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *_server_command(),
                *("--host", "127.0.0.1", "--port", str(self.port)),
                *("--storage-path", str(self.base / "db"), "--log-level", "WARNING"),
                *extra,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=_die_with_parent(),
            )
        client = make_client(
            f"mongodb://127.0.0.1:{self.port}/?directConnection=true", timeout_ms=500
        )
        try:

            async def up() -> bool:
                assert self.proc is not None and self.proc.returncode is None
                with contextlib.suppress(PyMongoError):
                    await client.admin.command("ping")
                    return True
                return False

            await wait_until(up, timeout=30)
        finally:
            await client.close()

    async def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        await self._start()
        client = make_client(f"mongodb://127.0.0.1:{self.port}/?directConnection=true")
        try:
            await client.admin.command("createUser", "root", pwd=ROOT_PASSWORD, roles=["root"])
            self.set_name = (await client.admin.command("hello"))["setName"]
        finally:
            await client.close()
        await self.stop()
        await self._start("--auth")

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[AuthServer]:
    s = AuthServer(tmp_path / "auth-db")
    await s.start()
    yield s
    await s.stop()


def make_secrets(
    directory: Path, server: AuthServer, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = clean_env(
        SECRETS_DIR=str(directory),
        RS_MEMBERS=server.hosts,
        RS_NAME=server.set_name,
        **extra,
    )
    return subprocess.run(
        ["/bin/sh", str(DEPLOY / "make-secrets.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


async def init_replica_set(secrets: Path, server: AuthServer, **extra: str) -> tuple[int, str, str]:
    values = {
        "RS_NAME": server.set_name,
        "RS_MEMBERS": server.hosts,
        "MONGO_ROOT_USER": "root",
        "MONGO_ROOT_PASSWORD_FILE": str(secrets / "mongo_root_password"),
        "APP_DB": "six_circles",
        "APP_USER": "six_circles",
        "APP_PASSWORD_FILE": str(secrets / "mongo_app_password"),
        "BACKUP_USER": "backup",
        "BACKUP_PASSWORD_FILE": str(secrets / "mongo_backup_password"),
        "INIT_TIMEOUT_S": "10",
    }
    env = clean_env(**(values | extra))
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        str(DEPLOY / "mongo" / "init_replica_set.py"),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def can_write(uri: str, db: str) -> bool:
    client = make_client(uri, timeout_ms=3000)
    try:
        await client[db].probe.insert_one({"ok": 1})
    except OperationFailure:
        return False
    finally:
        await client.close()
    return True


async def test_init_job_creates_least_privilege_users_and_rotates_passwords(
    server: AuthServer, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    make_secrets(secrets, server)
    (secrets / "mongo_root_password").write_text(ROOT_PASSWORD + "\n")
    code, out, err = await init_replica_set(secrets, server)
    assert code == 0, err
    assert out.splitlines() == [
        f"replica set {server.set_name}: already initiated",
        "user six_circles: created",
        "user backup: created",
    ]
    root = make_client(f"mongodb://root:{ROOT_PASSWORD}@{server.hosts}/?authSource=admin")
    try:
        users = {u["user"]: u["roles"] for u in (await root.admin.command("usersInfo", 1))["users"]}
    finally:
        await root.close()
    assert users["six_circles"] == [{"role": "readWrite", "db": "six_circles"}]
    assert users["backup"] == [{"role": "backup", "db": "admin"}]

    app_pw = (secrets / "mongo_app_password").read_text().strip()
    app = f"mongodb://six_circles:{app_pw}@{server.hosts}/?authSource=admin"
    assert await can_write(app, "six_circles")
    assert not await can_write(app, "other")  # least privilege: its database only
    assert not await can_write(app, "admin")

    # Rotation: a new password in the file, the job run again.
    (secrets / "mongo_app_password").write_text("rotated-0123456789abcdef\n")
    code, out, err = await init_replica_set(secrets, server)
    assert code == 0, err
    assert "user six_circles: password and roles set" in out.splitlines()
    assert not await can_write(app, "six_circles")  # the old password no longer works
    assert await can_write(
        f"mongodb://six_circles:rotated-0123456789abcdef@{server.hosts}/?authSource=admin",
        "six_circles",
    )

    # A wrong administrator password: one line saying why, exit status 1.
    (secrets / "mongo_root_password").write_text("wrong\n")
    code, out, err = await init_replica_set(secrets, server, INIT_TIMEOUT_S="1")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith("init_replica_set: ") and "uthentication failed" in err


async def test_the_bot_runs_on_the_recommended_uri_with_least_privilege(
    server: AuthServer, tg: FakeTelegram, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    result = make_secrets(secrets, server)
    assert "missing" in result.stderr and "bot_token" in result.stderr
    (secrets / "mongo_root_password").write_text(ROOT_PASSWORD + "\n")
    code, _, err = await init_replica_set(secrets, server)
    assert code == 0, err

    uri = (secrets / "mongodb_uri").read_text().strip()
    parts = urlsplit(uri)
    assert parts.hostname == "127.0.0.1" and parts.path == "/six_circles"
    options = dict(parse_qsl(parts.query))
    # The guide's options, but replicaSet: SecantusDB names its one-member set "secantus".
    assert options == RECOMMENDED | {"replicaSet": server.set_name}
    docs = (ROOT / "docs" / "deployment.md").read_text()
    assert "&".join(f"{k}={v}" for k, v in RECOMMENDED.items()) in docs

    # What the driver makes of them.
    client = make_client(uri)
    try:
        assert client.write_concern.document == {"w": "majority", "wtimeout": 10000}
        assert client.read_concern.level == "majority"
        assert client.read_preference.mongos_mode == "primary"
        assert client.options.retry_writes and client.options.retry_reads
        assert client.options.replica_set_name == server.set_name
        assert client.options.pool_options.max_pool_size == 50
    finally:
        await client.close()

    # The bot's own user creates the indexes and runs the bot end to end.
    client, db = await connect(uri, "six_circles")
    try:
        await ensure_schema(db)
        assert await schema_version(db) >= 1
        with pytest.raises(OperationFailure):
            await client.admin.command("listDatabases")
    finally:
        await client.close()
    runner = BotRunner(tg, uri, "six_circles", tmp_path / "bot")
    port = free_port()
    try:
        await runner.start(
            bot_mode="webhook",
            webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
            webhook_secret=WEBHOOK_SECRET,
            webhook_host="127.0.0.1",
            webhook_port=port,
        )
        world = World(tg, runner)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/readyz") as resp,
        ):
            assert resp.status == 200
        li = world.person("li", lang="en")
        await li.says("/start")
        await li.expect("Six Circles")
    finally:
        await runner.stop()

    # And the guide's replicaSet=rs0 is refused here for that reason only.
    wrong = make_client(
        uri.replace(f"replicaSet={server.set_name}", "replicaSet=rs0"), timeout_ms=500
    )
    try:
        with pytest.raises(ServerSelectionTimeoutError, match="rs0"):
            await wrong.six_circles.command("ping")
    finally:
        await wrong.close()


def test_make_secrets_writes_each_secret_once_readable_by_the_bot_group(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    env = clean_env(SECRETS_DIR=str(directory), BOT_TOKEN="123:abc")
    script = ["/bin/sh", str(DEPLOY / "make-secrets.sh")]
    first = subprocess.run(script, env=env, capture_output=True, text=True, check=True)
    names = sorted(p.name for p in directory.iterdir())
    assert names == [
        "bot_token",
        "mongo_app_password",
        "mongo_backup_password",
        "mongo_keyfile",
        "mongo_root_password",
        "mongodb_uri",
        "tips_id_key",
        "webhook_secret",
    ]
    assert first.stdout.count("created") == len(names)
    before = {n: (directory / n).read_text() for n in names}
    keyfile = before["mongo_keyfile"].strip()
    assert 6 <= len(keyfile) <= 1024 and set(keyfile) <= set("0123456789abcdef")
    assert len(before["webhook_secret"].strip()) == 64
    app_pw = before["mongo_app_password"].strip()
    assert (
        f"mongodb://six_circles:{app_pw}@mongo1:27017,mongo2:27017,mongo3:27017/"
        in (before["mongodb_uri"])
    )
    second = subprocess.run(script, env=env, capture_output=True, text=True, check=True)
    assert second.stdout.count("kept") == len(names)
    assert {n: (directory / n).read_text() for n in names} == before
    for name in names:
        mode = (directory / name).stat()
        if os.geteuid() == 0:
            assert stat.S_IMODE(mode.st_mode) == 0o640 and mode.st_gid == 10001, name
        else:
            assert stat.S_IMODE(mode.st_mode) == 0o600, name
            assert "warning" in second.stderr


def run_secrets_env(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEPLOY / "secrets-env.sh"), *command],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_secrets_env_reads_secret_files_into_the_environment(tmp_path: Path) -> None:
    token = tmp_path / "bot_token"
    token.write_text("123:abc\n\n")
    extra = tmp_path / "console_secret"
    extra.write_text("s3cret")
    show = ("/bin/sh", "-c", 'echo "$BOT_TOKEN|${BOT_TOKEN_FILE-unset}|$CONSOLE_SECRET"')
    ok = run_secrets_env(
        {
            "BOT_TOKEN_FILE": str(token),
            "SECRET_VARS": "CONSOLE_SECRET",
            "CONSOLE_SECRET_FILE": str(extra),
        },
        *show,
    )
    assert ok.returncode == 0 and ok.stdout == "123:abc|unset|s3cret\n"
    both = run_secrets_env({"BOT_TOKEN": "x", "BOT_TOKEN_FILE": str(token)}, *show)
    assert both.returncode == 2 and "both BOT_TOKEN and BOT_TOKEN_FILE" in both.stderr
    missing = run_secrets_env({"MONGODB_URI_FILE": str(tmp_path / "nope")}, *show)
    assert missing.returncode == 2 and "MONGODB_URI_FILE" in missing.stderr
    bad_name = run_secrets_env({"SECRET_VARS": "X;rm"}, *show)
    assert bad_name.returncode == 2 and "bad variable name" in bad_name.stderr
    plain = run_secrets_env({"BOT_TOKEN": "direct"}, *show)
    assert plain.stdout == "direct|unset|\n"
