from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from bot.config import Settings

TOKEN = "123456:" + "A" * 35


def test_reward_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.rewards_currency == "CNY"
    assert s.rewards_remind_after_h == 72
    assert s.rewards_max_amount == Decimal("1000000") and s.rewards_claim_instructions == {}
    monkeypatch.setenv("REWARDS_CLAIM_INSTRUCTIONS", '{"town-a": "到城关派出所领取", "*": "x"}')
    monkeypatch.setenv("REWARDS_MAX_AMOUNT", "5000.50")
    monkeypatch.setenv("REWARDS_REMIND_AFTER_H", "24")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.rewards_claim_instructions == {"town-a": "到城关派出所领取", "*": "x"}
    assert s.rewards_max_amount == Decimal("5000.50") and s.rewards_remind_after_h == 24


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("REWARDS_CURRENCY", "yuan"),
        ("REWARDS_MAX_AMOUNT", "-1"),
        ("REWARDS_MAX_AMOUNT", "1.001"),
        ("REWARDS_REMIND_AFTER_H", "0"),
        ("REWARDS_CLAIM_INSTRUCTIONS", "not json"),
    ],
)
def test_bad_reward_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
