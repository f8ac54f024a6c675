"""Issue 13, item 9: a notice's reward offer is bounded by the same maximum as every
reward (REWARDS_MAX_AMOUNT), and the refusal names the limit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from broadcasts.text import MAX_REWARD, parse_reward
from kernel.errors import InvalidInput


def test_the_default_limit_is_the_rewards_default() -> None:
    from bot.config import Settings

    field = Settings.model_fields["rewards_max_amount"]
    assert field.default == MAX_REWARD


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("1000001", MAX_REWARD, "1,000,000"),
        ("10,000,000 for anything", MAX_REWARD, "1,000,000"),
        ("5000.51元", Decimal("5000.50"), "5,000.50"),
        ("1e9", MAX_REWARD, "1,000,000"),
    ],
)
def test_offers_above_the_maximum_are_refused_naming_it(
    text: str, limit: Decimal, shown: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_reward(text, max_amount=limit)
    assert exc.value.key == "notices.err.reward_too_large"
    assert exc.value.params == {"max": shown}


def test_offers_up_to_the_maximum_are_taken() -> None:
    assert parse_reward("1,000,000 arrest")[0] == Decimal("1000000")
    assert parse_reward("¥5000.50", max_amount=Decimal("5000.50"))[0] == Decimal("5000.50")
    # Malformed amounts still get their own answers.
    for bad, key in (("0", "notices.err.reward_amount"), ("x", "notices.err.reward_format")):
        with pytest.raises(InvalidInput) as exc:
            parse_reward(bad, max_amount=Decimal("10"))
        assert exc.value.key == key
