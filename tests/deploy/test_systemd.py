"""deploy/systemd/six-circles.service: verified by systemd-analyze (no running systemd
needed) and read for restart, hardening, secrets and the stop budget."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.kit import DEPLOY, seconds
from tests.deploy.test_compose import STOP_BUDGET_S, env_file

UNIT = DEPLOY / "systemd" / "six-circles.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "six-circles.env.example"


def verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """systemd-analyze verify, with the installed paths pointed at executables that exist
    here (verify checks that ExecStart= is executable)."""
    prefix = tmp_path / "opt"
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    (prefix / "venv" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY / "secrets-env.sh", prefix / "bin" / "secrets-env")
    (prefix / "venv" / "bin" / "python").symlink_to(sys.executable)
    unit = tmp_path / "six-circles.service"
    unit.write_text(unit_text.replace("/opt/six-circles/", f"{prefix}/"))
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: apt-get install systemd"
    return subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    result = verify(UNIT.read_text(), tmp_path / "ok")
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr
    # The check can fail: an unknown directive is reported.
    bad = verify(UNIT.read_text().replace("ProtectSystem=", "ProtectSystm="), tmp_path / "bad")
    assert "Unknown key" in bad.stderr


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    """[Service] as name -> every value given (systemd allows repeating a directive)."""
    values: dict[str, list[str]] = {}
    section = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_restarts_always_and_stops_within_its_budget(service: dict[str, list[str]]) -> None:
    assert service["Restart"] == ["always"]
    assert service["RestartPreventExitStatus"] == ["2"]  # configuration errors
    assert seconds(service["TimeoutStopSec"][0]) >= STOP_BUDGET_S
    assert service["KillSignal"] == ["SIGTERM"]
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    assert parser["Unit"]["StartLimitIntervalSec"] == "0"  # never gives up
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_hardened_and_writes_only_its_data_dir(service: dict[str, list[str]]) -> None:
    one = {k: v[-1] for k, v in service.items()}
    assert one["User"] and one["User"] != "root"
    assert one["NoNewPrivileges"] == "yes" and one["ProtectSystem"] == "strict"
    assert one["CapabilityBoundingSet"] == "" and one["PrivateTmp"] == "yes"
    data_dir = env_file(ENV_EXAMPLE)["DATA_DIR"]
    assert one["ReadWritePaths"].split() == [data_dir]
    assert f"/var/lib/{one['StateDirectory']}" == data_dir == one["WorkingDirectory"]


def test_secrets_are_credentials_and_the_bot_runs_in_webhook_mode(
    service: dict[str, list[str]],
) -> None:
    credentials = dict(v.split(":", 1) for v in service["LoadCredential"])
    assert set(credentials) == {"bot_token", "webhook_secret", "mongodb_uri", "tips_id_key"}
    assert all(p.startswith("/etc/six-circles/credentials/") for p in credentials.values())
    environment = dict(
        item.split("=", 1) for line in service["Environment"] for item in shlex.split(line)
    )
    assert environment == {
        "BOT_TOKEN_FILE": "%d/bot_token",
        "WEBHOOK_SECRET_FILE": "%d/webhook_secret",
        "MONGODB_URI_FILE": "%d/mongodb_uri",
        "TIPS_ID_KEY_FILE": "%d/tips_id_key",
    }
    exec_start = shlex.split(service["ExecStart"][0])
    assert exec_start == [
        "/opt/six-circles/bin/secrets-env",
        "/opt/six-circles/venv/bin/python",
        "-m",
        "bot",
    ]
    settings = env_file(ENV_EXAMPLE)
    assert service["EnvironmentFile"] == ["/etc/six-circles/six-circles.env"]
    assert settings["BOT_MODE"] == "webhook" and settings["WEBHOOK_URL"].startswith("https://")
    assert not {"BOT_TOKEN", "WEBHOOK_SECRET", "MONGODB_URI", "TIPS_ID_KEY"} & set(settings)
