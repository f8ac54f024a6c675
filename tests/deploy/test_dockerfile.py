"""The bot's image definition (deploy/Dockerfile, .dockerignore), checked without a Docker
engine: parsed with dockerfile-parse, its build context and ``pip install .`` reproduced,
its health check and its command run against a real bot."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import zipfile
from pathlib import Path

import aiohttp
import pytest
from dockerfile_parse import DockerfileParser

from storage.embedded import EmbeddedMongo, free_port
from tests.deploy.kit import DEPLOY, PYTHON, ROOT, clean_env
from tests.e2e.harness import TIPS_ID_KEY, TOKEN, WEBHOOK_SECRET, World
from tests.fakebot import FakeTelegram
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(str(DEPLOY / "Dockerfile"))


def instructions(df: DockerfileParser, name: str, stage: int | None = None) -> list[str]:
    """Values of instruction ``name`` (in stage ``stage``: 0 the first, -1 the last)."""
    stages: list[list[dict[str, str]]] = []
    for item in df.structure:
        if item["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(item)
    chosen = stages if stage is None else [stages[stage]]
    return [i["value"] for s in chosen for i in s if i["instruction"] == name]


def exec_form(value: str) -> list[str]:
    """An instruction's exec form (JSON array) as a list."""
    parsed = json.loads(value)
    assert isinstance(parsed, list), f"not in exec form: {value}"
    return [str(x) for x in parsed]


def test_multi_stage_python_311_slim_image(dockerfile: DockerfileParser) -> None:
    assert dockerfile.is_multistage
    assert dockerfile.parent_images == ["python:3.11-slim", "python:3.11-slim"]
    # The runtime stage takes the virtual environment from the build stage, not the sources.
    copies = instructions(dockerfile, "COPY", -1)
    assert "--from=build /opt/six-circles/venv /opt/six-circles/venv" in copies
    assert not any(c.split()[0] == "." for c in copies)
    assert not instructions(dockerfile, "ADD")


def test_installs_the_project_without_the_embedded_database(
    dockerfile: DockerfileParser,
) -> None:
    (run,) = instructions(dockerfile, "RUN", 0)
    commands = [shlex.split(c) for c in run.split("&&")]
    installs = [c for c in commands if c[1:3] == ["install", "."] or "install" in c]
    assert installs == [["/opt/six-circles/venv/bin/pip", "install", "."]], run
    for item in dockerfile.structure:
        if item["instruction"] != "COMMENT":
            value = item["value"].lower()
            assert "secantus" not in value and "[embedded]" not in value and "[dev]" not in value


def test_runs_as_a_non_root_user(dockerfile: DockerfileParser) -> None:
    users = instructions(dockerfile, "USER", -1)
    assert users, "the runtime stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    (setup,) = [r for r in instructions(dockerfile, "RUN", -1) if "useradd" in r]
    assert f"--uid {user}" in setup and "--system" in setup


def test_webhook_mode_entrypoint_and_health_check(dockerfile: DockerfileParser) -> None:
    envs = dockerfile.envs
    assert envs["BOT_MODE"] == "webhook" and envs["WEBHOOK_HOST"] == "0.0.0.0"
    entrypoint = exec_form(instructions(dockerfile, "ENTRYPOINT", -1)[-1])
    cmd = exec_form(instructions(dockerfile, "CMD", -1)[-1])
    assert entrypoint == ["secrets-env"] and cmd == ["python", "-m", "bot"]
    assert "deploy/secrets-env.sh /usr/local/bin/secrets-env" in " ".join(
        instructions(dockerfile, "COPY", -1)
    )
    (health,) = instructions(dockerfile, "HEALTHCHECK", -1)
    assert "/healthz" in health and "/readyz" not in health
    assert re.search(r"--start-period=\d+s", health) and re.search(r"--timeout=\d+s", health)
    assert "8080" in instructions(dockerfile, "EXPOSE", -1)[0].split()
    assert instructions(dockerfile, "STOPSIGNAL", -1) == ["SIGTERM"]


def healthcheck_command(dockerfile: DockerfileParser) -> list[str]:
    (health,) = instructions(dockerfile, "HEALTHCHECK", -1)
    return exec_form(health.split("CMD", 1)[1].strip())


async def test_the_image_health_check_probes_healthz(
    dockerfile: DockerfileParser, webhook_world: World
) -> None:
    command = healthcheck_command(dockerfile)
    assert command[0] == "python"
    port = webhook_world.app.ctx.settings.webhook_port

    async def probe(on_port: int) -> int:
        proc = await asyncio.create_subprocess_exec(
            PYTHON, *command[1:], env=clean_env(WEBHOOK_PORT=str(on_port))
        )
        return await asyncio.wait_for(proc.wait(), 30)

    assert await probe(port) == 0
    assert await probe(free_port()) != 0  # nothing listens: unhealthy


# ---------------------------------------------------------------- the build context


def _pattern(raw: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(raw):
        if raw.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif raw.startswith("**", i):
            out, i = out + ".*", i + 2
        elif raw[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif raw[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(raw[i]), i + 1
    return re.compile(out)


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, _pattern(line.lstrip("!").strip("/"))))
    return rules


def ignored(rel: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negate, pattern in rules:
        if any(pattern.fullmatch(p) for p in prefixes):
            result = not negate
    return result


def build_context() -> list[str]:
    rules = dockerignore_rules()
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = os.path.relpath(dirpath, ROOT)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = [d for d in dirnames if not ignored(rel_dir + d, rules)]
        files += [rel_dir + f for f in filenames if not ignored(rel_dir + f, rules)]
    return sorted(files)


def test_dockerignore_keeps_secrets_data_and_tests_out() -> None:
    rules = dockerignore_rules()
    for path in (
        ".env",
        "deploy/.env",
        "deploy/bot.env",
        "deploy/secrets/bot_token",
        "deploy/backups/six-circles-x.archive.gz",
        "data/db/x",
        ".venv/bin/python",
        ".git/config",
        "tests/e2e/test_tips.py",
        "bot/__pycache__/app.cpython-311.pyc",
    ):
        assert ignored(path, rules), path
    for path in (
        "pyproject.toml",
        "README.md",
        "bot/__main__.py",
        "bot/locales/core.toml",
        "storage/schema.py",
        "deploy/secrets-env.sh",
        ".env.example",
    ):
        assert not ignored(path, rules), path


def test_pip_install_dot_of_the_build_context_packages_the_whole_bot(tmp_path: Path) -> None:
    """What `COPY . .` + `pip install .` does in the build stage, without Docker: the
    context as .dockerignore filters it, built into a wheel."""
    context = tmp_path / "context"
    files = build_context()
    assert not [f for f in files if f.startswith(("tests/", ".venv/", "deploy/secrets/"))]
    for rel in files:
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, context / rel)
    subprocess.run(
        [
            *(PYTHON, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q"),
            *("--disable-pip-version-check", "-w", str(tmp_path / "dist")),
        ],
        cwd=context,
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("six_circles-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = next(zf.read(n).decode() for n in names if n.endswith("/METADATA"))
    locales = sorted(p.name for p in (ROOT / "bot" / "locales").glob("*.toml"))
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("bot/locales/")) == locales
    for module in ("bot/__main__.py", "bot/webhook.py", "storage/schema.py", "groups/roles.py"):
        assert module in names
    # The embedded database is an extra only: `pip install .` does not bring it.
    required = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any("pymongo" in r for r in required)
    assert all("extra ==" in r for r in required if "secantus" in r.lower())


# ---------------------------------------------------------------- the command


async def test_the_image_command_runs_the_bot_with_secrets_from_files(
    dockerfile: DockerfileParser,
    tg: FakeTelegram,
    mongo_server: EmbeddedMongo,
    db_name: str,
    tmp_path: Path,
) -> None:
    """ENTRYPOINT + CMD with the image's environment and secrets as files, as in
    deploy/compose.yaml: the bot starts in webhook mode, gets ready, stops on SIGTERM."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "bot_token").write_text(TOKEN + "\n")
    (secrets / "webhook_secret").write_text(WEBHOOK_SECRET + "\n")
    (secrets / "mongodb_uri").write_text(mongo_server.uri + "\n")
    (secrets / "tips_id_key").write_text(TIPS_ID_KEY + "\n")
    port = free_port()
    image_env = {k: v for k, v in dockerfile.envs.items() if k not in ("PATH",)}
    image_env |= {
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "DATA_DIR": str(tmp_path / "data"),
        "MONGODB_DB": db_name,
        "TELEGRAM_API_URL": tg.base_url,
        "BOT_TOKEN_FILE": str(secrets / "bot_token"),
        "WEBHOOK_SECRET_FILE": str(secrets / "webhook_secret"),
        "MONGODB_URI_FILE": str(secrets / "mongodb_uri"),
        "TIPS_ID_KEY_FILE": str(secrets / "tips_id_key"),
        "LOG_LEVEL": "WARNING",
    }
    entrypoint = exec_form(instructions(dockerfile, "ENTRYPOINT", -1)[-1])
    cmd = exec_form(instructions(dockerfile, "CMD", -1)[-1])
    assert entrypoint == ["secrets-env"] and cmd[0] == "python"
    argv = [str(DEPLOY / "secrets-env.sh"), PYTHON, *cmd[1:]]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=clean_env(**image_env),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
    )
    try:

        async def ready() -> bool:
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{port}/readyz") as resp,
                ):
                    return resp.status == 200
            except aiohttp.ClientConnectionError:
                return proc.returncode is not None  # died: stop waiting, fail below

        await wait_until(ready, timeout=60)
        assert proc.returncode is None
        hook = tg.calls_of("setWebhook")[-1].params
        assert hook["url"] == image_env["WEBHOOK_URL"] and hook["secret_token"] == WEBHOOK_SECRET
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()[-2000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
