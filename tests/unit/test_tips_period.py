"""``/near`` arguments: date ranges in the team's time zone, spans, refs and statuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.routers.tips import NearArgs, parse_near_args
from kernel.errors import InvalidInput
from tips.model import TipStatus
from tips.period import Period, parse_period

TZ = ZoneInfo("Asia/Shanghai")  # UTC+8: local midnight is 16:00 UTC the day before


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_closed_range_covers_whole_local_days() -> None:
    p = parse_period("2026-11-01..2026-11-20", TZ)
    assert p is not None
    assert p.since == utc(2026, 10, 31, 16) and p.until == utc(2026, 11, 20, 16)
    assert (p.first_day, p.last_day) == (date(2026, 11, 1), date(2026, 11, 20))
    # Until is inclusive of its day: the last second of 20 November (local) is in.
    assert p.since <= utc(2026, 11, 20, 15, 59, 59) < p.until
    assert not utc(2026, 11, 20, 16) < p.until
    assert p.label() == "2026-11-01..2026-11-20"
    assert parse_period(p.label(), TZ) == p


def test_open_ended_ranges_and_a_single_day() -> None:
    since = parse_period("2026-11-01..", TZ)
    assert since == Period(utc(2026, 10, 31, 16), None, date(2026, 11, 1), None)
    until = parse_period("..2026-11-20", TZ)
    assert until == Period(None, utc(2026, 11, 20, 16), None, date(2026, 11, 20))
    day = parse_period("2026-11-5", TZ)
    assert day is not None and day.until is not None and day.since is not None
    assert day.until - day.since == timedelta(days=1) and day.label() == "2026-11-05..2026-11-05"
    same = parse_period("2026-11-05..2026-11-05", TZ)
    assert same == day
    # The time zone decides where a day starts.
    utc_day = parse_period("2026-11-05", UTC)
    assert utc_day is not None and utc_day.since == utc(2026, 11, 5)


@pytest.mark.parametrize("token", ["7d", "new", "N-2611-07", "2026", "abc", ""])
def test_other_tokens_are_not_periods(token: str) -> None:
    assert parse_period(token, TZ) is None


@pytest.mark.parametrize(
    ("token", "key"),
    [
        ("2026-11-20..2026-11-01", "tips.near_range_reversed"),
        ("2026-02-30..2026-03-01", "tips.near_bad_date"),
        ("2026-13-01", "tips.near_bad_date"),
        ("..", "tips.near_bad_range"),
        ("2026-11-01...2026-11-20", "tips.near_bad_range"),
        ("yesterday..today", "tips.near_bad_range"),
        ("2026/11/01..2026/11/20", "tips.near_bad_range"),
    ],
)
def test_bad_ranges_are_refused_clearly(token: str, key: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_period(token, TZ)
    assert exc.value.key == key
    if key == "tips.near_range_reversed":
        assert exc.value.params == {"since": "2026-11-20", "until": "2026-11-01"}


def test_near_args_with_every_filter() -> None:
    args = parse_near_args(["2km", "n-2611-07", "new", "处理中", "2026-11-01..2026-11-20"], TZ)
    assert args == NearArgs(
        2.0,
        "N-2611-07",
        (TipStatus.NEW, TipStatus.IN_PROGRESS),
        None,
        parse_period("2026-11-01..2026-11-20", TZ),
    )
    spanned = parse_near_args(["0,5", "24h"], TZ)
    assert spanned.radius_km == 0.5 and spanned.span == timedelta(hours=24)
    assert spanned.period is None
    assert parse_near_args(["3", "..2026-11-20"], TZ).period == parse_period("..2026-11-20", TZ)


@pytest.mark.parametrize(
    ("args", "key"),
    [
        ([], "tips.near_usage"),
        (["far"], "tips.near_usage"),
        (["2", "7d", "2026-11-01.."], "tips.near_two_periods"),
        (["2", "2026-11-01..", "..2026-11-20"], "tips.near_two_periods"),
        (["2", "7d", "24h"], "tips.near_two_periods"),
        (["2", "2026-11-20..2026-11-01"], "tips.near_range_reversed"),
        (["2", "somewhere"], "tips.near_bad_filter"),
    ],
)
def test_near_args_refusals(args: list[str], key: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_near_args(args, TZ)
    assert exc.value.key == key
