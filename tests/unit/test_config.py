from __future__ import annotations

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
