from __future__ import annotations

import pytest

from bot.numbers import whole


@pytest.mark.parametrize(
    ("token", "lo", "hi", "expected"),
    [
        ("7", 1, 10, 7),
        (" 7 ", 1, 10, 7),
        ("１２", 1, 100, 12),  # full-width digits from a Chinese keyboard
        ("-1001234567890", -(10**15), -1, -1001234567890),
        ("0", 1, 10, None),
        ("11", 1, 10, None),
        ("99999999999999999999", 1, 10**20, None),  # more digits than any id or count
        ("²", 0, 10, None),  # isdigit() says yes, int() says no
        ("1_000", 0, 10**6, None),
        ("+5", 0, 10, None),
        ("5.0", 0, 10, None),
        ("-", -10, 10, None),
        ("", 0, 10, None),
        (None, 0, 10, None),
        ("nan", 0, 10, None),
    ],
)
def test_whole(token: str | None, lo: int, hi: int, expected: int | None) -> None:
    assert whole(token, lo, hi) == expected


def test_typed_dates_stay_inside_the_calendar() -> None:
    from zoneinfo import ZoneInfo

    from bot.routers.duty import parse_day
    from bot.routers.notices import parse_when
    from kernel.errors import InvalidInput
    from tips.period import parse_period

    tz = ZoneInfo("Asia/Shanghai")
    assert parse_day("2026-03-02").isoformat() == "2026-03-02"
    assert parse_when("2099-12-31", tz, end_of_day=True).year == 2099
    for bad in ("9999-12-31", "0001-01-01", "1999-12-31", "2100-01-01"):
        with pytest.raises(InvalidInput) as exc:
            parse_day(bad)
        assert exc.value.key == "duty.date_range"
        with pytest.raises(InvalidInput) as exc:
            parse_when(bad, tz, end_of_day=True)
        assert exc.value.key == "notices.err.date_range"
        with pytest.raises(InvalidInput) as exc:
            parse_period(f"{bad}..", tz)
        assert exc.value.key == "tips.near_date_range"
