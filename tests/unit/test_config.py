from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import TOKEN_HELP, Settings, describe_error

TOKEN = "123456:" + "A" * 35


def make(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MONGODB_URI", "BOT_MODE", "DEFAULT_LOCALE", "TIMEZONE", "SUPERADMIN_IDS"):
        monkeypatch.delenv(var, raising=False)
    s = make(bot_token=TOKEN)
    assert s.mongodb_uri is None
    assert s.default_locale == "zh-CN"
    assert s.timezone == "Asia/Shanghai"
    assert s.bot_mode == "polling"
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.bot_id == 123456


def test_superadmin_ids_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERADMIN_IDS", "1001, 1002")
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    assert Settings(_env_file=None).superadmin_ids == [1001, 1002]  # type: ignore[call-arg]


@pytest.mark.parametrize("token", ["", "abc", "123:short", "x:" + "A" * 35])
def test_bad_token_has_one_clear_line(token: str) -> None:
    with pytest.raises(ValidationError) as exc:
        make(bot_token=token)
    assert describe_error(exc.value) == TOKEN_HELP
    assert "\n" not in TOKEN_HELP


def test_webhook_mode_needs_url_and_secret() -> None:
    with pytest.raises(ValidationError) as exc:
        make(bot_token=TOKEN, bot_mode="webhook")
    assert "WEBHOOK_URL" in describe_error(exc.value)
    with pytest.raises(ValidationError) as exc:
        make(bot_token=TOKEN, bot_mode="webhook", webhook_url="https://x", webhook_secret="a b")
    assert "WEBHOOK_SECRET" in describe_error(exc.value)


def test_unknown_timezone() -> None:
    with pytest.raises(ValidationError) as exc:
        make(bot_token=TOKEN, timezone="Mars/Olympus")
    assert "TIMEZONE" in describe_error(exc.value)


def test_reveal_tipster_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    from groups.roles import Permission, Role

    monkeypatch.delenv("REVEAL_TIPSTER_ROLES", raising=False)
    default = make(bot_token=TOKEN)
    assert default.reveal_tipster_roles == (Role.SUPERADMIN,)
    assert default.permissions.reveal_tipster == frozenset({Role.SUPERADMIN})
    monkeypatch.setenv("REVEAL_TIPSTER_ROLES", " Superadmin, investigator,investigator ")
    s = make(bot_token=TOKEN)
    assert s.reveal_tipster_roles == (Role.SUPERADMIN, Role.INVESTIGATOR)
    assert Permission.REVEAL_TIPSTER in s.permissions.of(Role.INVESTIGATOR)
    assert Permission.REVEAL_TIPSTER not in s.permissions.of(Role.MANAGER)
    for bad, says in (("member", "member"), ("superadmin,chief", "'chief'"), (" , ", "at least")):
        monkeypatch.setenv("REVEAL_TIPSTER_ROLES", bad)
        with pytest.raises(ValidationError) as exc:
            make(bot_token=TOKEN)
        line = describe_error(exc.value)
        assert line.startswith("invalid configuration: REVEAL_TIPSTER_ROLES:") and says in line


def test_nominatim_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TIPS_NOMINATIM_URL", "TIPS_NOMINATIM_DOMAIN"):
        monkeypatch.delenv(var, raising=False)
    assert make(bot_token=TOKEN).tips_nominatim_url == "https://nominatim.openstreetmap.org"
    own = make(bot_token=TOKEN, tips_nominatim_url=" https://geo.example.org/nominatim/ ")
    assert own.tips_nominatim_url == "https://geo.example.org/nominatim"
    with pytest.raises(ValidationError) as exc:
        make(bot_token=TOKEN, tips_nominatim_url="geo.example.org")
    assert "TIPS_NOMINATIM_URL" in describe_error(exc.value)
    # The old setting is refused rather than ignored: addresses must not go elsewhere.
    monkeypatch.setenv("TIPS_NOMINATIM_DOMAIN", "geo.example.org")
    with pytest.raises(ValidationError) as exc:
        make(bot_token=TOKEN)
    assert "TIPS_NOMINATIM_URL=https://geo.example.org" in describe_error(exc.value)


def test_redaction() -> None:
    from bot.logs import RedactingFilter

    f = RedactingFilter(["s3cret-webhook"])
    text = f.redact(f"token {TOKEN} secret s3cret-webhook phone 13812345678 +8613812345678")
    assert TOKEN not in text and "s3cret-webhook" not in text and "13812345678" not in text


KEY = "k" * 40


def test_tips_id_key_is_required_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TIPS_ID_KEY", "MONGODB_URI", "BOT_MODE"):
        monkeypatch.delenv(var, raising=False)
    assert make(bot_token=TOKEN).tips_id_key is None  # development: optional
    webhook = {"bot_mode": "webhook", "webhook_url": "https://x", "webhook_secret": "s3cret"}
    for production in (webhook, {"mongodb_uri": "mongodb://db1/?replicaSet=rs0"}):
        with pytest.raises(ValidationError) as exc:
            make(bot_token=TOKEN, **production)
        line = describe_error(exc.value)
        assert "TIPS_ID_KEY is missing" in line and "\n" not in line
        assert make(bot_token=TOKEN, tips_id_key=KEY, **production).is_production
    with pytest.raises(ValidationError) as exc:
        make(bot_token=TOKEN, tips_id_key="short")
    assert describe_error(exc.value).startswith("invalid configuration: TIPS_ID_KEY: too short")
    assert make(bot_token=TOKEN, tips_id_key="  ").tips_id_key is None


def test_bot_refuses_to_start_in_production_without_tips_id_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {
        "PATH": os.environ.get("PATH", ""),
        "BOT_TOKEN": TOKEN,
        "MONGODB_URI": "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=100",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env there
        env=env | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "TIPS_ID_KEY is missing" in lines[0]


def test_dev_key_is_written_into_env_once(tmp_path: Path) -> None:
    from bot.devkey import ensure_key

    env_file = tmp_path / ".env"
    env_file.write_text("BOT_TOKEN=x")  # no newline at the end
    assert ensure_key(env_file, environ={})
    text = env_file.read_text()
    assert text.startswith("BOT_TOKEN=x\n#")
    key = next(line for line in text.splitlines() if line.startswith("TIPS_ID_KEY="))[12:]
    assert len(key) >= 32
    assert not ensure_key(env_file, environ={})  # kept: never replaced
    assert env_file.read_text() == text
    fresh = tmp_path / "new.env"
    assert not ensure_key(fresh, environ={"TIPS_ID_KEY": KEY}) and not fresh.exists()
    assert ensure_key(fresh, environ={})
    assert fresh.stat().st_mode & 0o777 == 0o600
    settings = Settings(_env_file=fresh, bot_token=TOKEN)  # type: ignore[call-arg]
    assert settings.tips_id_key is not None and len(settings.tips_id_key.get_secret_value()) >= 32
