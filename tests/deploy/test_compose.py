"""deploy/compose.yaml, checked without a Docker engine: validated against the Compose
Specification's JSON schema (as check-jsonschema vendors it), interpolated the way
`docker compose` does with deploy/env.example, and read for the promises of the guide."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import check_jsonschema
import jsonschema
import pytest
import yaml

from bot.app import SHUTDOWN_GRACE_S
from bot.webhook import DRAIN_TIMEOUT_S
from tests.deploy.kit import DEPLOY, seconds

COMPOSE = DEPLOY / "compose.yaml"
BOTS = ("bot1", "bot2", "bot3")
MONGOS = ("mongo1", "mongo2", "mongo3")
# What stopping a bot may take: webhook calls in hand, updates in hand, the scheduler's
# sweeps (Jobs.stop waits 10 s for one), a margin for the features' hooks.
STOP_BUDGET_S = DRAIN_TIMEOUT_S + SHUTDOWN_GRACE_S + 10 + 5
SECRET_WORDS = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|_URI$|KEY", re.IGNORECASE)


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error}, $$."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group("name"), m.group("op"), m.group("arg")
        current = env.get(name)
        if op in (":-", "-"):
            return current if current else interpolate(arg, env)
        if op in (":?", "?") and not current:
            raise ValueError(f"{name}: {arg}")
        return current or ""

    return VAR.sub(one, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    result = interpolate(raw, env_file(DEPLOY / "env.example"))
    assert isinstance(result, dict)
    return result


def schema() -> dict[str, Any]:
    path = Path(check_jsonschema.__file__).parent / "builtin_schemas/vendor/compose-spec.json"
    loaded = json.loads(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_valid_against_the_compose_specification(raw: dict[str, Any]) -> None:
    spec = schema()
    validator = jsonschema.validators.validator_for(spec)(spec)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(raw)]
    assert errors == []
    # The check can fail: a misspelt key is an error.
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["bot1"]["restrat"] = "always"
    assert list(validator.iter_errors(broken))


def test_required_variables_are_demanded(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="BOT_DOMAIN"):
        interpolate(raw, {})


def test_three_bot_instances_of_one_image_with_restart_and_stop_budget(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    bots = [services[name] for name in BOTS]
    assert len({b["image"] for b in bots}) == 1
    assert {b["build"]["dockerfile"] for b in bots} == {"deploy/Dockerfile"}
    assert (COMPOSE.parent / bots[0]["build"]["context"] / "deploy/Dockerfile").is_file()
    assert {b["hostname"] for b in bots} == set(BOTS)  # distinct instance ids (host:pid:...)
    for bot in bots:
        assert bot["restart"] in ("always", "unless-stopped")
        assert seconds(bot["stop_grace_period"]) >= STOP_BUDGET_S
        assert bot["read_only"] is True and bot["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in bot["security_opt"]
        env = bot["environment"]
        assert env["BOT_MODE"] == "webhook" and env["WEBHOOK_PORT"] == "8080"
        assert env["WEBHOOK_URL"] == "https://bot.example.gov.cn/telegram/webhook"
        assert env["WEBHOOK_PATH"] == "/telegram/webhook"
        assert bot["depends_on"]["mongo-init"]["condition"] == "service_completed_successfully"
        # The image's HEALTHCHECK (/healthz) applies: compose must not switch it off.
        assert "healthcheck" not in bot


def test_secrets_are_files_never_values(raw: dict[str, Any], compose: dict[str, Any]) -> None:
    secrets = compose["secrets"]
    for name, spec in secrets.items():
        assert set(spec) == {"file"} and spec["file"] == f"./secrets/{name}", name
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_WORDS.search(key):
                # Only file names of Docker secrets, never the secret itself.
                assert key.endswith("_FILE"), f"{name}: {key} holds a secret in plain text"
                assert str(value).startswith("/run/secrets/"), f"{name}: {key}={value}"
                assert str(value).removeprefix("/run/secrets/") in service["secrets"]
        for item in service.get("env_file") or []:
            assert (DEPLOY / f"{item}.example").is_file()
            assert not any(SECRET_WORDS.search(k) for k in env_file(DEPLOY / f"{item}.example"))
    for item in ("env.example", "bot.env.example"):
        assert not any(SECRET_WORDS.search(k) for k in env_file(DEPLOY / item)), item
    bot_env = compose["services"]["bot1"]["environment"]
    names = ("BOT_TOKEN", "WEBHOOK_SECRET", "MONGODB_URI", "TIPS_ID_KEY")
    assert {bot_env[f"{k}_FILE"] for k in names} == {f"/run/secrets/{k.lower()}" for k in names}
    ignored = (DEPLOY.parent / ".gitignore").read_text().split()
    assert "deploy/secrets/" in ignored and "deploy/bot.env" in ignored


def test_mongodb_replica_set_of_three_members_with_authentication(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in MONGOS:
        mongo = services[name]
        assert re.fullmatch(r"mongo:7(\.\d+)*", mongo["image"]), mongo["image"]
        command = mongo["command"]
        assert command[0] == "mongod"
        assert command[command.index("--replSet") + 1] == "rs0"
        # keyFile: members authenticate to each other, and it turns on access control.
        assert command[command.index("--keyFile") + 1] == "/etc/mongo-keyfile"
        assert "mongo_keyfile" in mongo["secrets"]
        assert mongo["entrypoint"] == ["/bin/sh", "/deploy/mongod.sh"]
        assert "./mongo/mongod.sh:/deploy/mongod.sh:ro" in mongo["volumes"]
        assert any(v.endswith(":/data/db") for v in mongo["volumes"])
        assert mongo["restart"] in ("always", "unless-stopped")
        assert "mongosh" in mongo["healthcheck"]["test"]
        assert mongo["networks"] == ["db"]
        assert "ports" not in mongo  # never published
    root = services["mongo1"]["environment"]
    assert (
        root["MONGO_INITDB_ROOT_USERNAME"]
        and "mongo_root_password" in services["mongo1"]["secrets"]
    )
    assert compose["networks"]["db"]["internal"] is True
    volumes = {v.split(":")[0] for n in MONGOS for v in services[n]["volumes"]}
    assert (
        {f"{n}-data" for n in MONGOS} <= volumes <= set(compose["volumes"]) | {"./mongo/mongod.sh"}
    )


def test_init_job_initiates_the_set_and_creates_least_privilege_users(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    init = services["mongo-init"]
    assert init["entrypoint"] == ["python", "/deploy/init_replica_set.py"]
    assert "./mongo/init_replica_set.py:/deploy/init_replica_set.py:ro" in init["volumes"]
    assert init["restart"] == "no"
    env = init["environment"]
    assert env["RS_NAME"] == "rs0"
    assert env["RS_MEMBERS"].split(",") == [f"{m}:27017" for m in MONGOS]
    assert env["APP_DB"] == services["bot1"]["environment"]["MONGODB_DB"] == "six_circles"
    for name in MONGOS:
        assert init["depends_on"][name]["condition"] == "service_healthy"
    assert (DEPLOY / "mongo/init_replica_set.py").is_file()


def test_proxy_forwards_the_webhook_to_the_three_bots(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    assert proxy["image"].startswith("caddy:2")
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert sorted(proxy["ports"]) == ["443:443", "80:80"]
    env = proxy["environment"]
    assert env["BOT_UPSTREAMS"].split() == [f"{b}:8080" for b in BOTS]
    assert env["CONSOLE_UPSTREAMS"].split() == [f"{b}:8081" for b in BOTS]
    assert env["WEBHOOK_PATH"] == compose["services"]["bot1"]["environment"]["WEBHOOK_PATH"]
    assert env["BOT_DOMAIN"] == "bot.example.gov.cn"
    assert proxy["healthcheck"]["test"] and proxy["restart"] in ("always", "unless-stopped")
    # Only the proxy is reachable from outside.
    published = [n for n, s in compose["services"].items() if s.get("ports")]
    assert published == ["proxy"]


def test_backup_job_is_opt_in(compose: dict[str, Any]) -> None:
    backup = compose["services"]["backup"]
    assert backup["profiles"] == ["backup"] and backup["restart"] == "no"
    assert backup["entrypoint"] == ["/bin/sh", "/deploy/backup.sh"]


@pytest.mark.parametrize(
    "script",
    ["secrets-env.sh", "make-secrets.sh", "mongo/mongod.sh", "mongo/backup.sh"],
)
def test_shell_scripts_parse(script: str) -> None:
    path = DEPLOY / script
    result = subprocess.run(
        ["/bin/sh", "-n", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert path.read_text().startswith("#!/bin/sh\n")
    assert "set -eu" in path.read_text()
    # The container runs them through /bin/sh; the image copies secrets-env executable.
    assert shlex.split(path.read_text().splitlines()[0][2:]) == ["/bin/sh"]
