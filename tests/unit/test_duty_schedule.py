"""The schedule computation: patterns, rotation order, overrides, swaps, absences, zones."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

import pytest

from duty.model import (
    AdjustKind,
    Adjustment,
    ShiftPattern,
    SlotReason,
    Team,
    Unavailability,
    parse_hhmm,
    parse_patterns,
    parse_shift_key,
    shift_key,
)
from duty.schedule import (
    build_shift,
    coverage_gaps,
    next_shift,
    on_duty,
    previous_shift,
    rotation_slots,
    shifts_at,
    shifts_between,
)
from kernel.clock import ManualClock
from kernel.errors import InvalidInput

DAY0 = date(2026, 3, 2)
OPS = tuple(range(101, 111))  # ten operators


def team(**kw: object) -> Team:
    base: dict[str, object] = {
        "code": "a",
        "name": "A",
        "tz": "Asia/Shanghai",
        "patterns": parse_patterns("08:00-20:00,20:00-08:00"),
        "per_shift": 2,
        "start_date": DAY0,
        "operators": OPS,
    }
    base.update(kw)
    return Team(**base)  # type: ignore[arg-type]


def sh(hour: int, day: int = 2, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time on 2026-03-<day>, in UTC."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def test_parse_patterns_and_shorthands() -> None:
    assert [p.label() for p in parse_patterns("20:00-08:00, 08:00-20:00")] == [
        "08:00-20:00",
        "20:00-08:00",
    ]
    assert [p.label() for p in parse_patterns("3x8")] == [
        "00:00-08:00",
        "08:00-16:00",
        "16:00-00:00",
    ]
    assert [p.label() for p in parse_patterns("3x8@06:00")] == [
        "06:00-14:00",
        "14:00-22:00",
        "22:00-06:00",
    ]
    assert [p.label() for p in parse_patterns("2x12")] == ["08:00-20:00", "20:00-08:00"]
    assert parse_patterns("00:00-24:00")[0].minutes == 24 * 60
    assert parse_hhmm("24:00") == time(0) and parse_hhmm("24:30") is None
    for bad in ("08:00-20:00,19:00-09:00", "8-20", "3x7", "25:00-01:00", "", "08:00"):
        with pytest.raises(InvalidInput):
            parse_patterns(bad)


def test_team_validation() -> None:
    for kw in ({"code": "Bad Code"}, {"per_shift": 0}, {"tz": "Mars/Base"}, {"operators": (1, 1)}):
        with pytest.raises(InvalidInput):
            team(**kw)


def test_two_twelve_hour_shifts_rotate_ten_operators_two_at_a_time() -> None:
    t = team()
    shifts = shifts_between(t, sh(8), sh(8, day=5))
    assert [s.label for s in shifts[:2]] == ["08:00-20:00", "20:00-08:00"]
    assert [s.operators for s in shifts[:6]] == [
        (101, 102),
        (103, 104),
        (105, 106),
        (107, 108),
        (109, 110),
        (101, 102),
    ]
    # The night shift crosses midnight: 20:00 to 08:00 the next morning.
    night = shifts[1]
    assert night.start == sh(20) and night.end == sh(8, day=3)
    assert night.key == "a:2026-03-02:1" and night.duration == timedelta(hours=12)
    # Shifts tile the day: each ends where the next starts.
    assert all(a.end == b.start for a, b in itertools.pairwise(shifts))
    assert not coverage_gaps(shifts)


def test_three_eight_hour_shifts_and_rotation_order_matters() -> None:
    t = team(patterns=parse_patterns("3x8"), per_shift=1, operators=(7, 5, 9))
    got = [s.operators for s in shifts_between(t, sh(0), sh(0, day=4))]
    assert got[:6] == [(7,), (5,), (9,), (7,), (5,), (9,)]
    reordered = team(patterns=parse_patterns("3x8"), per_shift=1, operators=(9, 7, 5))
    assert [s.operators for s in shifts_between(reordered, sh(0), sh(0, day=3))][:3] == [
        (9,),
        (7,),
        (5,),
    ]


def test_deterministic_and_nothing_before_start_date() -> None:
    t = team()
    a = shifts_between(t, sh(0, day=1), sh(0, day=20))
    b = shifts_between(t, sh(0, day=1), sh(0, day=20))
    assert a == b
    assert a[0].day == DAY0  # nothing before the rotation's first day
    assert shifts_between(t, sh(0, day=10), sh(0, day=11)) == [
        s for s in a if s.start < sh(0, day=11) and s.end > sh(0, day=10)
    ]


def test_now_next_and_previous() -> None:
    t = team()
    clock = ManualClock(sh(21))
    (current,) = shifts_at(t, clock.now())
    assert current.label == "20:00-08:00" and on_duty(t, clock.now()) == (103, 104)
    nxt = next_shift(t, clock.now())
    assert nxt is not None and nxt.start == sh(8, day=3) and nxt.operators == (105, 106)
    clock.set(sh(8, day=3))  # the boundary belongs to the new shift
    assert on_duty(t, clock.now()) == (105, 106)
    assert previous_shift(t, build_shift(t, date(2026, 3, 3), 0)) == (DAY0, 1)
    assert previous_shift(t, build_shift(t, DAY0, 0)) is None


def test_too_few_operators_is_a_coverage_gap() -> None:
    t = team(operators=(1,))
    shifts = shifts_between(t, sh(8), sh(20))
    assert shifts[0].operators == (1,) and shifts[0].gap == 1
    assert coverage_gaps(shifts) == shifts
    assert build_shift(team(operators=()), DAY0, 0).gap == 2


def adj(key: str, uin: int, uout: int | None, kind: AdjustKind = AdjustKind.ASSIGN) -> Adjustment:
    return Adjustment("a", key, uin, uout, kind, 1, datetime(2026, 1, 1, tzinfo=UTC))


def test_manager_override_and_confirmed_swap() -> None:
    t = team()
    key0, key2 = shift_key("a", DAY0, 0), shift_key("a", date(2026, 3, 3), 0)
    s = build_shift(t, DAY0, 0, [adj(key0, 110, 102)])
    assert s.operators == (101, 110)
    assert s.slots[1].reason is SlotReason.ASSIGNED and s.slots[1].covers_for == 102
    extra = build_shift(t, DAY0, 0, [adj(key0, 109, None)])
    assert extra.operators == (101, 102, 109)
    # A swap: 101 gives shift 0 to 105 and takes 105's shift on day 2.
    swaps = [adj(key0, 105, 101, AdjustKind.SWAP), adj(key2, 101, 105, AdjustKind.SWAP)]
    assert build_shift(t, DAY0, 0, swaps).operators == (105, 102)
    assert build_shift(t, date(2026, 3, 3), 0, swaps).operators == (101, 106)
    assert build_shift(t, DAY0, 0, swaps).slots[0].reason is SlotReason.SWAP
    # A stale override (the person is no longer there) changes nothing.
    assert build_shift(t, DAY0, 0, [adj(key0, 110, 999)]).operators == (101, 102)
    # Other shifts are untouched.
    assert build_shift(t, DAY0, 1, swaps).operators == (103, 104)


def test_unavailable_operator_is_filled_from_the_rotation_and_reported() -> None:
    t = team()
    away = Unavailability(102, sh(0), sh(0, day=3))
    s = build_shift(t, DAY0, 0, unavailable=[away])
    assert 102 not in s.operators and len(s.operators) == 2
    filler = s.slots[-1]
    assert filler.reason is SlotReason.FILL and filler.covers_for == 102
    # The filler is the next in rotation order who does not work the adjacent shifts
    # (103 and 104 work the night right after), so 105.
    assert filler.user_id == 105
    # Everyone else unavailable too: the gap stays and names whose place is unfilled.
    everyone = [Unavailability(u, sh(0), sh(0, day=3)) for u in OPS if u != 101]
    lonely = build_shift(t, DAY0, 0, unavailable=everyone)
    assert lonely.operators == (101,) and lonely.unfilled == (102,) and lonely.gap == 1
    # Absence outside the shift changes nothing.
    later = Unavailability(102, sh(20), sh(0, day=3))
    assert build_shift(t, DAY0, 0, unavailable=[later]).operators == (101, 102)


def test_filler_prefers_rested_operators_over_back_to_back() -> None:
    t = team(operators=(1, 2, 3, 4), per_shift=1)
    # Shifts: day0 -> 1, night0 -> 2, day1 -> 3, night1 -> 4 ...; 3 away on day1 shift.
    away = Unavailability(3, sh(8, day=3), sh(20, day=3))
    s = build_shift(t, date(2026, 3, 3), 0, unavailable=[away])
    # 4 is next in rotation but works the night right after, 2 worked the night before;
    # 1 is rested.
    assert s.operators == (1,)


def test_daylight_saving_zone_keeps_wall_clock_shifts() -> None:
    berlin = team(tz="Europe/Berlin", start_date=date(2026, 3, 28))
    shifts = shifts_between(
        berlin,
        datetime(2026, 3, 28, 0, tzinfo=UTC),
        datetime(2026, 3, 31, 0, tzinfo=UTC),
    )
    by_key = {s.key: s for s in shifts}
    # Night of 28->29 March 2026: clocks go forward at 02:00, so the night shift is 11 h.
    night = by_key["a:2026-03-28:1"]
    assert night.duration == timedelta(hours=11)
    assert night.start == datetime(2026, 3, 28, 19, tzinfo=UTC)  # 20:00 CET
    assert night.end == datetime(2026, 3, 29, 6, tzinfo=UTC)  # 08:00 CEST
    assert by_key["a:2026-03-29:0"].start == datetime(2026, 3, 29, 6, tzinfo=UTC)
    assert all(a.end == b.start for a, b in itertools.pairwise(shifts))
    # A zone without daylight saving: every shift is exactly 12 h all year round.
    shanghai = team(start_date=date(2026, 3, 28))
    assert {
        s.duration
        for s in shifts_between(
            shanghai, datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
        )
    } <= {timedelta(hours=12)}


def test_other_zone_local_dates() -> None:
    ny = team(tz="America/New_York", start_date=date(2026, 3, 2), per_shift=1, operators=(1, 2))
    (s,) = shifts_at(ny, datetime(2026, 3, 2, 14, tzinfo=UTC))  # 09:00 EST
    assert s.key == "a:2026-03-02:0" and s.start == datetime(2026, 3, 2, 13, tzinfo=UTC)


def test_shift_keys_round_trip() -> None:
    assert parse_shift_key(shift_key("team-x", DAY0, 2)) == ("team-x", DAY0, 2)
    assert parse_shift_key("garbage") is None
    assert rotation_slots(team(operators=(1, 2, 3), per_shift=5), 0) == (1, 2, 3)
    assert ShiftPattern(time(20), time(8)).crosses_midnight


def test_filler_avoids_whoever_really_works_the_next_shift_after_swaps() -> None:
    t = team(operators=(1, 2, 3, 4), per_shift=1)
    # day0 -> 1, night0 -> 2, day1 -> 3, night1 -> 4; 1 swapped onto night1 (for 4).
    swap = adj(shift_key("a", date(2026, 3, 3), 1), 1, 4, AdjustKind.SWAP)
    away = Unavailability(3, sh(8, day=3), sh(20, day=3))
    s = build_shift(t, date(2026, 3, 3), 0, [swap], [away])
    # 1 now works the night right after and 2 the night before: 4 is the rested one.
    assert s.operators == (4,) and s.slots[0].covers_for == 3
